"""Reliable messaging: the transactional outbox and its relay, the inbox and the consumer runner."""
