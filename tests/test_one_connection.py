"""storage/db.py `Sessions.one_connection`: the direct connections a task takes in the block
are one pooled connection (PostgreSQL), never shared with another task, given back before an
ORM transaction takes its own (a pool the size of a burst never waits on itself), and
discarded, not kept, after a failure. On SQLite no task holds one (the writer queue would
otherwise wait on connections held by the queue): the direct blocks share up to
`SQLITE_SPARES` idle connections instead, closed with the engine."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, select, update

from bot.chat.engine import ChatEngine
from bot.core.context import Context
from bot.rounds.lifecycle import open_round
from storage.db import SQLITE_SPARES, Sessions, create_engine, create_session_factory
from storage.models import Base
from tests.conftest import World
from tests.helpers import checkin

PEOPLE = Base.metadata.tables["people"]
ANSWERS = Base.metadata.tables["answers"]
READ_NAME = select(PEOPLE.c.display_name).where(PEOPLE.c.id == bindparam("id"))
RENAME = update(PEOPLE).where(PEOPLE.c.id == bindparam("id")).values(display_name=bindparam("n"))


class PoolWatch:
    """The pool's checkouts and checkins, as the pool's own events report them."""

    def __init__(self, ctx: Context) -> None:
        self.events: list[str] = []
        pool = ctx.database.sync_engine.pool
        event.listen(pool, "checkout", lambda *_a: self.events.append("out"))
        event.listen(pool, "checkin", lambda *_a: self.events.append("in"))
        event.listen(pool, "invalidate", lambda *_a: self.events.append("invalidated"))


def _sessions(ctx: Context) -> Sessions:
    assert isinstance(ctx.sessions, Sessions)
    return ctx.sessions


def _only_on(dialect: str, why: str) -> Any:
    """A fixture: the test's context on `dialect`, else the test skipped for `why`."""

    def fixture(ctx: Context) -> Context:
        if ctx.database.dialect.name != dialect:
            pytest.skip(why)
        return ctx

    return pytest.fixture(fixture)


pg = _only_on("postgresql", "one connection per block is PostgreSQL's")
lite = _only_on("sqlite", "spare connections are SQLite's")


async def test_a_read_then_writes_in_the_block_take_one_connection(
    pg: Context, world: World
) -> None:
    sessions, member = _sessions(pg), world.members[0]
    watch = PoolWatch(pg)
    async with sessions.one_connection():
        async with sessions.reading() as conn:
            assert (await conn.execute(READ_NAME, {"id": member.id})).scalar() == "U0"
        async with sessions.writing() as conn:
            await conn.execute(RENAME, {"id": member.id, "n": "Renamed"})
        async with sessions.single_statement() as conn:
            await conn.execute(RENAME, {"id": member.id, "n": "Renamed again"})
        assert watch.events == ["out"]  # kept between the statements
    assert watch.events == ["out", "in"]  # and given back at the end
    async with sessions.reading() as conn:
        assert (await conn.execute(READ_NAME, {"id": member.id})).scalar() == "Renamed again"


async def test_without_the_block_each_takes_its_own(pg: Context, world: World) -> None:
    sessions, member = _sessions(pg), world.members[0]
    watch = PoolWatch(pg)
    async with sessions.reading() as conn:
        await conn.execute(READ_NAME, {"id": member.id})
    async with sessions.writing() as conn:
        await conn.execute(RENAME, {"id": member.id, "n": "Renamed"})
    assert watch.events == ["out", "in", "out", "in"]


async def test_sqlite_blocks_take_spare_connections_not_the_pools(
    lite: Context, world: World
) -> None:
    """Reads and writes, in a `one_connection` block or not: after the spares are taken once,
    no block takes a connection from the pool or gives one back, and each still reads what
    the last one committed."""
    sessions, member = _sessions(lite), world.members[0]
    for _ in range(SQLITE_SPARES):  # the spares in use at once, then kept
        async with sessions.reading(), sessions.reading():
            pass
    watch = PoolWatch(lite)
    for n in range(3):
        async with sessions.writing() as conn:
            await conn.execute(RENAME, {"id": member.id, "n": f"Renamed {n}"})
        async with sessions.one_connection(), sessions.reading() as conn:
            assert (await conn.execute(READ_NAME, {"id": member.id})).scalar() == f"Renamed {n}"
    assert watch.events == []


async def test_sqlite_a_failed_block_discards_its_spare(lite: Context, world: World) -> None:
    """A block that failed leaves no connection behind to be kept: it is invalidated, as the
    pool's would be, and the write it began is not committed."""
    sessions, member = _sessions(lite), world.members[0]
    async with sessions.reading(), sessions.reading():  # every spare taken, then kept
        pass
    watch = PoolWatch(lite)
    with pytest.raises(RuntimeError, match="after the write"):
        async with sessions.writing() as conn:
            await conn.execute(RENAME, {"id": member.id, "n": "Renamed"})
            raise RuntimeError("after the write")
    assert watch.events == ["invalidated", "in"]
    # Both spares in use at once: the one kept, and one from the pool for the discarded one.
    async with sessions.reading() as conn, sessions.reading():
        assert (await conn.execute(READ_NAME, {"id": member.id})).scalar() == "U0"
    assert watch.events == ["invalidated", "in", "out"]


async def test_sqlite_spares_close_with_the_engine(tmp_path: Path) -> None:
    """An attacker reading the files after the server stopped: with every connection closed,
    SQLite checkpoints its write-ahead log into the database and removes it. A spare left
    open would leave the log (and the answers' bytes in it) on disk."""
    database = tmp_path / "spares.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    sessions = create_session_factory(engine)
    assert isinstance(sessions, Sessions)
    async with engine.begin() as schema:
        await schema.run_sync(
            PEOPLE.metadata.create_all, tables=[PEOPLE.metadata.tables["workspaces"], PEOPLE]
        )
    raws: list[sqlite3.Connection] = []
    async with sessions.reading() as first, sessions.reading() as second:
        for direct in (first, second):
            raws.append(direct._driver._connection.raw)  # type: ignore[attr-defined]
    async with sessions.writing() as writer:
        await writer.execute(select(PEOPLE.c.id).limit(1))
    assert (tmp_path / "spares.db-wal").exists()  # open connections keep the log
    await engine.dispose()
    for raw in raws:
        with pytest.raises(sqlite3.ProgrammingError):
            raw.execute("SELECT 1")
    assert not (tmp_path / "spares.db-wal").exists()


async def test_a_task_started_in_the_block_takes_its_own_connection(
    pg: Context, world: World
) -> None:
    """The context is copied into a task started in the block; the connection is not: two
    tasks running statements on one connection at once would fail (asyncpg refuses)."""
    sessions, member = _sessions(pg), world.members[0]
    watch = PoolWatch(pg)

    async def read_elsewhere() -> str | None:
        async with sessions.reading() as conn:
            return (await conn.execute(READ_NAME, {"id": member.id})).scalar()

    async with sessions.one_connection():
        async with sessions.reading() as conn:
            await conn.execute(READ_NAME, {"id": member.id})
            assert await asyncio.create_task(read_elsewhere()) == "U0"
        assert watch.events == ["out", "out", "in"]
    assert watch.events == ["out", "out", "in", "in"]


async def test_an_orm_transaction_in_the_block_does_not_wait_on_the_kept_connection(
    pg: Context,
) -> None:
    """With a pool of one, a task that kept the pool's only connection and then began an ORM
    transaction would wait for itself until the pool's timeout: it gives it back first."""
    engine = create_engine(pg.database.url.render_as_string(hide_password=False), pool_size=1)
    sessions = create_session_factory(engine)
    assert isinstance(sessions, Sessions)
    try:
        async with sessions.one_connection():
            async with sessions.reading() as conn:
                await conn.execute(select(PEOPLE.c.id).limit(1))
            async with asyncio.timeout(10):  # a guard: it answers in milliseconds, or never
                async with sessions.begin() as session:
                    await session.execute(select(PEOPLE.c.id).limit(1))
            async with sessions.reading() as conn:  # taken again, after the ORM's
                await conn.execute(select(PEOPLE.c.id).limit(1))
    finally:
        await engine.dispose()


async def test_a_failure_in_the_block_discards_the_connection(pg: Context, world: World) -> None:
    sessions, member = _sessions(pg), world.members[0]
    watch = PoolWatch(pg)
    async with sessions.one_connection():
        with pytest.raises(RuntimeError, match="after the write"):
            async with sessions.writing() as conn:
                await conn.execute(RENAME, {"id": member.id, "n": "Renamed"})
                raise RuntimeError("after the write")
        async with sessions.reading() as conn:
            assert (await conn.execute(READ_NAME, {"id": member.id})).scalar() == "U0"
    assert watch.events == ["out", "invalidated", "in", "out", "in"]


async def test_a_check_in_reads_its_sender_and_stores_on_one_connection(
    pg: Context, world: World
) -> None:
    """The engine's use: a submission by a member not in the actor cache, one checkout. (A
    submission the platform may retry, as Teams does, is claimed first in an ORM
    transaction: that gives the connection back, as the test above shows.)"""
    await open_round(pg, world.cli, world.team)
    watch = PoolWatch(pg)
    # As Slack's: a view submission is never retried, so nothing is claimed for it.
    await ChatEngine(pg).handle(replace(checkin("u0", routine=1), platform_retries=False))
    assert watch.events == ["out", "in"]
    async with _sessions(pg).reading() as conn:
        assert (await conn.execute(select(func.count()).select_from(ANSWERS))).scalar() == 1
