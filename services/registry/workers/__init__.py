"""Background workers of the registry service (the outbox relay and consumers are wired in shared.service)."""
