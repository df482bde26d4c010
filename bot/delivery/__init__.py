"""Delivery: the outbox dispatcher, the ticking scheduler and the task group that runs them."""
