"""Tables of the `indicators` schema and the repositories that query them (repositories never commit)."""
