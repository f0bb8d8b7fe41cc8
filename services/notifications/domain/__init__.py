"""Domain logic of the notifications service: no FastAPI here; each use case owns its transaction."""
