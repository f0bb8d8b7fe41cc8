"""Tables of the `registry` schema and the repositories that query them (repositories never commit)."""
