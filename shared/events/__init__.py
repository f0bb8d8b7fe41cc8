"""The event contract, owned in one place: topic names, the CloudEvents envelope, payload models."""
