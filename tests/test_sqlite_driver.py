"""SQLite on the event loop unless something can make it wait (storage/sqlite_driver.py): where
each statement runs, that a write waiting for another process's lock never stalls the event
loop, and that the driver keeps SQLAlchemy's guarantees (rows, rollbacks, RETURNING). No
timings: the benchmarks measure what it saves."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions, create_engine
from storage.models import Workspace


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(sqlite_url)
    yield made
    await made.dispose()


def file_of(url: str) -> str:
    return url.split("///", 1)[1]


async def thread_of(session_or_conn: object, sql: str = "SELECT thread_of()") -> int:
    result = await session_or_conn.execute(text(sql))  # type: ignore[attr-defined]
    return int(result.scalar())


# Every value named: a statement a driver's connection runs as it is (storage/direct.py).
INSERT_WORKSPACE = text(
    "INSERT INTO workspaces (platform, external_id, name, timezone, locale, threshold,"
    " comment_threshold) VALUES (:platform, :external_id, :name, 'UTC', 'en', 5, 5)"
)


def with_thread_function(engine: AsyncEngine) -> None:
    """Every connection the pool opens can say which thread runs its statements."""

    def install(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_of", 0, threading.get_ident)

    event.listen(engine.sync_engine, "connect", install)


async def test_reads_and_an_uncontended_write_run_on_the_event_loop(engine: AsyncEngine) -> None:
    with_thread_function(engine)
    sessions = Sessions(engine)
    loop_thread = threading.get_ident()
    async with sessions() as session:
        assert await thread_of(session) == loop_thread
    async with sessions.begin() as session:
        # The write lock was free: BEGIN IMMEDIATE took it at once, and nothing inside the
        # transaction can wait for another connection, so no hand-over to a thread.
        assert await thread_of(session) == loop_thread
        await session.execute(
            insert(Workspace), {"platform": "slack", "external_id": "T1", "name": "Acme"}
        )
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 1
    async with sessions.begin(long=True) as session:
        # A write that may take long (a round's close) is worked in a thread from its start.
        assert await thread_of(session) != loop_thread
        await session.execute(
            insert(Workspace), {"platform": "slack", "external_id": "T2", "name": "Big"}
        )
    async with sessions.begin() as session:  # and the next one is back on the loop
        assert await thread_of(session) == loop_thread
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 2


async def test_a_bare_connection_s_write_queues_with_the_sessions_and_runs_on_the_loop(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    """`sessions.writing()` (the check-in's transaction): in this process's writer queue like
    `begin()`, on the event loop when the lock is free, in a thread when another process holds
    it."""
    with_thread_function(engine)
    sessions = Sessions(engine)
    loop_thread = threading.get_ident()
    order: list[str] = []
    held, go = asyncio.Event(), asyncio.Event()

    async def session_writer() -> None:
        async with sessions.begin() as session:
            await session.execute(
                insert(Workspace), {"platform": "slack", "external_id": "T1", "name": "First"}
            )
            held.set()
            await go.wait()
            order.append("session")

    async def bare_writer() -> None:
        async with sessions.writing() as conn:
            order.append("bare")
            assert await thread_of(conn) == loop_thread
            await conn.execute(
                INSERT_WORKSPACE, {"platform": "slack", "external_id": "T2", "name": "Second"}
            )

    first = asyncio.create_task(session_writer())
    await held.wait()
    second = asyncio.create_task(bare_writer())
    for _ in range(100):
        await asyncio.sleep(0)
    assert order == []  # queued behind the session's transaction, not begun
    go.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=30)
    assert order == ["session", "bare"]

    other = sqlite3.connect(file_of(sqlite_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    threads: list[int] = []

    async def blocked_writer() -> None:
        async with sessions.writing() as conn:
            threads.append(await thread_of(conn))

    blocked = asyncio.create_task(blocked_writer())
    for _ in range(1000):
        await asyncio.sleep(0)
    assert not blocked.done() and not threads
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(blocked, timeout=30)
    assert threads and threads[0] != loop_thread  # begun, and worked, in a thread
    async with sessions() as session:
        names = (await session.scalars(select(Workspace.name))).all()
    assert sorted(names) == ["First", "Second"]


async def test_a_write_waiting_for_another_process_never_stalls_the_event_loop(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    """Another process (the command line, a second server) holds the write lock: our writer
    waits for it in its worker thread while the event loop goes on serving, and reads still
    see the last committed state at once (WAL readers never wait for the writer)."""
    with_thread_function(engine)
    sessions = Sessions(engine)
    async with sessions() as session:  # a pooled connection, opened and set up, for the writer
        await session.scalar(select(func.count()).select_from(Workspace))
    other = sqlite3.connect(file_of(sqlite_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO workspaces (platform, external_id, name, timezone, locale, "
        "threshold, comment_threshold) VALUES ('slack', 'T9', 'Held', 'UTC', 'en', 5, 5)"
    )
    threads: list[int] = []

    async def write() -> None:
        async with sessions.begin() as session:
            threads.append(await thread_of(session))
            await session.execute(
                insert(Workspace), {"platform": "slack", "external_id": "T2", "name": "Next"}
            )

    writer = asyncio.create_task(write())
    # The writer's BEGIN is a few turns of the loop away (its connection is ready); past them
    # it waits for the lock in a thread, while the loop keeps turning.
    for _ in range(1000):
        await asyncio.sleep(0)
    assert not writer.done() and not threads
    async with sessions() as session:  # a read is served meanwhile, without the held row
        names = (await session.scalars(select(Workspace.name))).all()
    assert names == []
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writer, timeout=30)
    assert threads and threads[0] != threading.get_ident()  # begun, and worked, in a thread
    async with sessions() as session:
        assert sorted((await session.scalars(select(Workspace.name))).all()) == ["Held", "Next"]


async def test_rows_returning_and_rollbacks_behave_as_with_aiosqlite(engine: AsyncEngine) -> None:
    sessions = Sessions(engine)
    async with sessions.begin() as session:
        made = await session.execute(
            insert(Workspace).returning(Workspace.external_id),
            [{"platform": "slack", "external_id": f"T{n}", "name": f"w{n}"} for n in range(3)],
        )
        assert sorted(made.scalars().all()) == ["T0", "T1", "T2"]
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await session.execute(
                insert(Workspace), {"platform": "slack", "external_id": "T9", "name": "gone"}
            )
            raise RuntimeError("rolled back")
    async with sessions() as session:
        found = (await session.scalars(select(Workspace.external_id))).all()
        assert sorted(found) == ["T0", "T1", "T2"]
        first = (await session.execute(select(Workspace.name).order_by(Workspace.name))).first()
        assert first is not None and first[0] == "w0"


async def test_with_synchronous_full_a_commit_waits_for_its_fsync_in_a_thread(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url, sqlite_synchronous="FULL")
    try:
        with_thread_function(engine)
        sessions = Sessions(engine)
        loop_thread = threading.get_ident()
        async with sessions() as session:
            assert await thread_of(session) == loop_thread  # reads never wait in WAL mode
        async with sessions.begin() as session:
            assert await thread_of(session) != loop_thread
    finally:
        await engine.dispose()
