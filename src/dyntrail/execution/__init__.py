"""Orders and brokers: the order model, idempotent client tags and the broker implementations."""
