"""Background workers of the notifications service (the outbox relay and consumers are wired in shared.service)."""
