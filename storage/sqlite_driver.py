"""SQLite connections for SQLAlchemy's `sqlite+aiosqlite` dialect that read on the event loop
and write in a worker thread.

Why: aiosqlite runs every call (make a cursor, execute, fetch, close, roll back) on its own
thread, each a hand-over there and back. On the two-core machines Rut Radar is measured on, a
hand-over costs 0.1–0.5 ms of CPU (thread wake-ups, the GIL passed back and forth, the event
loop's self-pipe), so a one-row read took 1–2 ms, against a few microseconds for SQLite to
answer it (docs/benchmarks.md, "SQLite without the hand-overs"). Reads are what the chat path
does most (who is asking, which round is open), so this driver runs a `SELECT` outside a
transaction directly: an indexed read from a local file in WAL mode never waits for a lock
(WAL readers see the last committed snapshot and never block on the writer) and finishes in
microseconds. Everything else (`BEGIN IMMEDIATE`, which may wait for another process's write
lock, every statement inside a transaction, `COMMIT`, pragmas, DDL) still runs in a worker
thread, so the event loop never waits for a lock; a statement's rows come back with it (one
hand-over per statement, where aiosqlite takes three or four).

It plugs in through SQLAlchemy's documented `async_creator` hook and speaks the part of
aiosqlite's interface that SQLAlchemy's adapter uses (`cursor()`, `execute`, the fetches,
`commit`, `rollback`, `close`, `stop`). One connection is used by one task at a time
(SQLAlchemy's pool and its execute mutex), never by two threads at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _reads_only(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


class Cursor:
    """A cursor whose statement ran either inline or in a worker thread, rows included."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()
        self._rows: list[Any] = []
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def _run(self, sql: str, parameters: Sequence[Any] | dict[str, Any]) -> list[Any]:
        self._cursor.execute(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else []

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None
    ) -> Cursor:
        self._rows = await self._connection.call(sql, self._run, sql, parameters or ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        rows = list(parameters)
        await self._connection.call(sql, self._cursor.executemany, sql, rows)
        self._rows = []
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self.arraysize
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []
        self._cursor.close()


class Connection:
    """The connection SQLAlchemy's aiosqlite adapter drives (see the module's docstring)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self._connection: sqlite3.Connection | None = raw  # SQLAlchemy's "still open" test

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    async def call(self, sql: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` inline for a read outside a transaction, else in a worker thread."""
        if not self.raw.in_transaction and _reads_only(sql):
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args))

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None
    ) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        if self.raw.in_transaction:
            await self._in_thread(self.raw.commit)

    async def rollback(self) -> None:
        if self.raw.in_transaction:
            await self._in_thread(self.raw.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            await self._in_thread(self.raw.close)

    def stop(self) -> None:
        """Terminate without waiting (SQLAlchemy's `terminate`)."""
        if self._connection is not None:
            self._connection = None
            self.raw.close()

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)


async def connect(database: str, *, busy_timeout: float) -> Connection:
    """Open `database` with the driver's own transaction handling turned off (the engine's
    "begin" listener decides), usable from the worker threads (one at a time)."""
    raw = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: sqlite3.connect(
            database, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        ),
    )
    return Connection(raw)
