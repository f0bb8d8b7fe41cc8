"""Domain logic of the registry service: no FastAPI here; each use case owns its transaction."""
