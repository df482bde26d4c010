"""SQLite connections for SQLAlchemy's `sqlite+aiosqlite` dialect that work on the event loop
whenever nothing can make them wait, and in a worker thread when something can.

Why: aiosqlite runs every call (make a cursor, execute, fetch, close, roll back) on its own
thread, each a hand-over there and back. On the two-core machines Rut Radar is measured on, a
hand-over costs 0.1–0.5 ms of CPU (thread wake-ups, the GIL passed back and forth, the event
loop's self-pipe), and under load each one also waits for the busy event loop to come round:
a one-row read took 1–2 ms, against a few microseconds for SQLite to answer it, and a
check-in's write transaction (six statements, each three or four hand-overs, all inside the
process's one-writer-at-a-time queue) capped a burst of check-ins at 60–100 per second
(docs/benchmarks.md, "SQLite without the hand-overs").

- **Reads.** A `SELECT` outside a transaction runs directly: in WAL mode a reader never waits
  for a lock (it reads the last committed snapshot) and an indexed read finishes in
  microseconds.
- **Write transactions.** `BEGIN IMMEDIATE` is first tried without waiting (busy timeout 0).
  (A transaction that may take long is begun with `BEGIN_IN_WORKER` instead, and runs in a
  worker thread from its start.)
  If it gets the write lock, the whole transaction runs directly: once the lock is held,
  nothing inside it waits for another connection (in WAL mode a commit never waits for
  readers). If another connection holds the lock (another process: the command line, a
  second server; or a write of this process outside its writer queue), the transaction is
  begun again in a worker thread with the full busy timeout, and every statement of it runs
  there, so the event loop never waits for a lock.
- **Everything else** outside a transaction (pragmas, DDL, a checkpoint) runs in a worker
  thread. A statement's rows come back with it (one hand-over, where aiosqlite takes three or
  four).

What remains on the loop is SQLite's own work on a local file: page-cache reads and writes,
and at an automatic checkpoint (every 1,000 pages of WAL) the copy back into the database file.
Only in WAL mode (else every statement goes to a thread), and writes only with
`synchronous=NORMAL` (with `FULL` every commit waits for an fsync: writes go to a thread).

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


BEGIN_WRITE = "BEGIN IMMEDIATE"
# A write transaction that may take long (a round's close, a workspace's deletion): worked in
# a worker thread from its start, however free the lock, so the event loop goes on serving.
BEGIN_IN_WORKER = "BEGIN IMMEDIATE /* in a worker thread */"


def _reads_only(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


def _begins_write(sql: str) -> bool:
    return sql.strip().upper() == BEGIN_WRITE


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
        self._rows = await self._connection.call(sql, lambda: self._run(sql, parameters or ()))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        rows = list(parameters)

        def work() -> list[Any]:
            self._cursor.executemany(sql, rows)
            return []

        self._rows = await self._connection.call(sql, work)
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

    def __init__(
        self, raw: sqlite3.Connection, busy_timeout: float, *, reads: bool, writes: bool
    ) -> None:
        self.raw = raw
        self._connection: sqlite3.Connection | None = raw  # SQLAlchemy's "still open" test
        self._busy_ms = int(busy_timeout * 1000)
        self._reads_on_loop = reads
        self._writes_on_loop = writes
        self._threaded = False  # this transaction was begun in a worker thread

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    async def call(self, sql: str, work: Callable[[], list[Any]]) -> list[Any]:
        """Run `work` (the statement `sql` and its rows) on the loop or in a worker thread,
        as the module says."""
        if self.raw.in_transaction:
            return await self._in_thread(work) if self._threaded else work()
        if _reads_only(sql) and self._reads_on_loop:
            return work()
        if _begins_write(sql) and self._writes_on_loop and self._begin_at_once():
            return []  # begun here: `work` would begin it again
        rows = await self._in_thread(work)
        self._threaded = self.raw.in_transaction  # a transaction begun there stays there
        return rows

    def _begin_at_once(self) -> bool:
        """Take the write lock now if it is free; False if another connection holds it."""
        self.raw.execute("PRAGMA busy_timeout=0")
        try:
            self.raw.execute(BEGIN_WRITE)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            return False
        finally:
            self.raw.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._threaded = False
        return True

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None
    ) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await self._end(self.raw.commit)

    async def rollback(self) -> None:
        await self._end(self.raw.rollback)

    async def _end(self, end: Callable[[], None]) -> None:
        if not self.raw.in_transaction:
            return
        if self._threaded:
            await self._in_thread(end)
        else:
            end()

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


async def connect(database: str, *, busy_timeout: float, synchronous: str) -> Connection:
    """Open `database` with the driver's own transaction handling turned off (the engine's
    "begin" listener decides), usable from the worker threads (one at a time), in WAL mode.

    Reads run on the loop only if the file is in WAL mode (a filesystem that cannot share
    memory, some network mounts, refuses it, and then a reader may wait for the writer); writes
    only with `synchronous` NORMAL too, as with FULL every commit waits for an fsync."""

    def open_in_wal() -> tuple[sqlite3.Connection, str]:
        raw = sqlite3.connect(
            database, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        mode = raw.execute("PRAGMA journal_mode=WAL").fetchone()
        return raw, str(mode[0] if mode else "").lower()

    raw, mode = await asyncio.get_running_loop().run_in_executor(None, open_in_wal)
    wal = mode == "wal"
    return Connection(raw, busy_timeout, reads=wal, writes=wal and synchronous.upper() == "NORMAL")
