"""Events the registry service consumes (handlers.py, one table) and publishes (contracts in shared.events)."""
