"""Alembic environment: async engines for both SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import DEFAULT_SQLITE_URL, create_engine
from storage.models import UTCDateTime
from storage.schema import metadata as schema_metadata

config = context.config
target_metadata = schema_metadata


def _url() -> str:
    return (
        config.attributes.get("url")
        or os.environ.get("RUTRADAR_DATABASE_URL")
        or DEFAULT_SQLITE_URL
    )


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Migrations stay self-contained: the project's UTC wrapper renders as its SQL type."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
