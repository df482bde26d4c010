"""Reading sessions (`sessions()`) run outside any transaction, so a write through one would be
committed statement by statement: every way of writing through one is refused, and nothing
reaches the database (both backends)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select, text

from bot.core.context import Context
from storage import repositories as repo
from storage.db import ReadOnlySession, Sessions
from storage.models import Base, Person, Workspace
from storage.values import MembershipRole
from tests.conftest import World


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


async def test_a_bare_reading_connection_refuses_writes_too(ctx: Context) -> None:
    """`sessions.reading()` (the sender's read on the hot path) reads outside any transaction
    as a reading session does, so it refuses writes the same way."""
    assert isinstance(ctx.sessions, Sessions)
    values = {"platform": "slack", "external_id": "T1", "name": "Acme"}
    with pytest.raises(Exception) as raised:
        async with ctx.sessions.reading() as conn:
            await conn.execute(insert(Workspace), values)
    assert isinstance(raised.value, ReadOnlySession) or isinstance(
        raised.value.__cause__, ReadOnlySession
    ), raised.value
    assert await count(ctx) == 0


def three(rows: repo.SenderRows) -> tuple[Any, Any, list[Any]]:
    return rows.workspace, rows.person, rows.teams


def columns_of(instance: object) -> dict[str, object]:
    mapper = inspect(type(instance))
    return {p.key: getattr(instance, p.key) for p in mapper.column_attrs}


async def test_the_sender_s_bare_read_gives_what_a_session_loads(world: World) -> None:
    """`sender_rows` on a bare reading connection (the engine's hot path) makes the same
    workspace, person and teams a session loads, detached with their identity as a closed
    session leaves them: a change made through a later session is an UPDATE of that row."""
    ctx = world.ctx
    assert isinstance(ctx.sessions, Sessions)
    async with ctx.sessions.reading() as conn:
        workspace, person, teams = three(
            await repo.sender_rows(conn, "playground", "T0001", "boss")
        )
        _, nobody, no_teams = three(await repo.sender_rows(conn, "playground", "T0001", "nobody"))
        _, outsider, outsiders_teams = three(
            await repo.sender_rows(conn, "playground", "T0001", "stranger")
        )
        elsewhere = three(await repo.sender_rows(conn, "slack", "T0001", "boss"))
    assert (nobody, no_teams) == (None, [])
    assert outsider is not None and outsiders_teams == []
    assert elsewhere == (None, None, [])
    assert workspace is not None and person is not None
    async with ctx.sessions() as session:
        expected = three(await repo.sender_rows(session, "playground", "T0001", "boss"))
        loaded_outsider = await session.get(Person, world.outsider.id)
    assert expected[0] is not None and expected[1] is not None
    assert columns_of(workspace) == columns_of(expected[0])
    assert columns_of(person) == columns_of(expected[1])
    assert columns_of(outsider) == columns_of(loaded_outsider)
    assert [(role, columns_of(team)) for role, team in teams] == [
        (role, columns_of(team)) for role, team in expected[2]
    ]
    assert teams and teams[0][0] == MembershipRole.MANAGER and teams[0][1].name == "Platform"
    pairs: list[tuple[Base, Base]] = [(workspace, expected[0]), (person, expected[1])]
    for made, loaded in pairs:
        state = inspect(made)
        assert state.detached and state.key == inspect(loaded).key
        assert not state.expired_attributes and not state.unloaded
    assert inspect(teams[0][1]).key == inspect(expected[2][0][1]).key
    async with ctx.sessions.begin() as session:
        session.add(person)
        person.display_name = "Renamed"
    async with ctx.sessions() as session:
        names = (await session.scalars(select(Person.display_name).order_by(Person.id))).all()
    assert names.count("Renamed") == 1 and len(names) == 3 + len(world.members)


def test_the_sender_s_bare_read_works_before_any_orm_query(sqlite_url: str) -> None:
    """A fresh process whose first database work is an event's sender read (no ORM query has
    configured the mappers yet) gets its instances all the same."""
    script = f"""
import asyncio
from sqlalchemy import insert
from storage import repositories as repo
from storage.db import Sessions, create_engine
from storage.models import Base

async def main():
    engine = create_engine({sqlite_url!r})
    sessions = Sessions(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(Base.metadata.tables["workspaces"]), dict(
            platform="slack", external_id="T1", name="Acme", timezone="UTC", locale="en",
            threshold=5, comment_threshold=5))
    async with sessions.reading() as conn:
        rows = await repo.sender_rows(conn, "slack", "T1", "U1")
    await engine.dispose()
    print(rows.workspace.name, rows.person, rows.teams)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["Acme", "None", "[]"]
