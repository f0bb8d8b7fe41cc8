"""Tables of the `notifications` schema and the repositories that query them (repositories never commit)."""
