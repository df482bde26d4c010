"""Reading sessions (`sessions()`) run outside any transaction, so a write through one would be
committed statement by statement: every way of writing through one is refused, and nothing
reaches the database (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, text

from bot.core.context import Context
from storage.db import ReadOnlySession
from storage.models import Workspace


async def count(ctx: Context) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Workspace)) or 0)


async def test_a_reading_session_refuses_every_kind_of_write(ctx: Context) -> None:
    values = {"platform": "slack", "external_id": "T1", "name": "Acme"}
    raw = (
        "INSERT INTO workspaces (platform, external_id, name, timezone, locale, threshold,"
        " comment_threshold) VALUES ('slack', 'T2', 'Raw', 'UTC', 'en', 5, 5)"
    )
    with pytest.raises(ReadOnlySession):
        async with ctx.sessions() as session:
            session.add(Workspace(**values))
            await session.flush()
    with pytest.raises(ReadOnlySession):
        async with ctx.sessions() as session:
            await session.execute(insert(Workspace), values)
    with pytest.raises(Exception) as raised:  # SQLAlchemy may wrap it on its way out
        async with ctx.sessions() as session:
            await session.execute(text(raw))
    assert isinstance(raised.value, ReadOnlySession) or isinstance(
        raised.value.__cause__, ReadOnlySession
    ), raised.value
    assert await count(ctx) == 0
    async with ctx.sessions.begin() as session:  # the way to write
        await session.execute(insert(Workspace), values)
    assert await count(ctx) == 1
