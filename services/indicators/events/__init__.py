"""Events the indicators service consumes (handlers.py, one table) and publishes (contracts in shared.events)."""
