"""Domain logic of the indicators service: no FastAPI here; each use case owns its transaction."""
