"""Background workers of the indicators service (the outbox relay and consumers are wired in shared.service)."""
