"""Persistence: models, engine/session setup, repositories and Alembic migrations."""
