"""Engine and session factory. Built by the composition root and injected, never global."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import greenlet_spawn

from storage import sqlite_driver
from storage.direct import DirectConnection, Driver, ReadOnlySession, Statements, driver_of

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///rutradar.db"
SQLITE_BUSY_TIMEOUT_MS = 30000  # how long a SQLite writer waits for another before failing
# Connections per process (RUTRADAR_DB_POOL_SIZE), opened as a burst needs them and then kept:
# none opened past the pool (no "overflow"). With 25 and 10 more for bursts, a burst of fifty
# requests kept needing the ten, and each was opened for one request and closed after it: on
# PostgreSQL a connect and every statement prepared again: the check-in benchmark's p99s on
# PostgreSQL were 330-660 ms that way, 160-360 ms with connections that stay
# (docs/benchmarks.md). The ceiling is the same 35; a request waiting for one waits in the
# pool's queue.
DEFAULT_POOL_SIZE = 35
# SQLite: idle connections the direct path keeps for its next block instead of giving them
# back to the pool (`Sessions._direct`). Its reads and its writes each run one at a time on
# the event loop, so two serve them; taking one from SQLAlchemy's pool and giving it back
# (through a greenlet each way) cost 38 µs, twice per check-in (docs/benchmarks.md).
SQLITE_SPARES = 2


@dataclass
class _Held:
    """The pooled connection a task keeps through `Sessions.one_connection`."""

    sessions: Sessions
    task: asyncio.Task[Any] | None
    pooled: Any = None  # SQLAlchemy's pooled connection, once taken
    in_use: bool = False  # inside a `_direct` block right now


_HELD: ContextVar[_Held | None] = ContextVar("rutradar_held_connection", default=None)


def _in_transaction(pooled: Any) -> bool:
    """Whether a pooled SQLite connection is inside a transaction (then it is not kept)."""
    raw = getattr(pooled.driver_connection, "raw", None)
    return raw is None or bool(raw.in_transaction)


class UnsupportedDatabase(ValueError):
    """The URL names a database Rut Radar does not run on."""


def normalize_url(url: str) -> str:
    """Accept the URLs people write (postgres://, postgresql://, sqlite:///) and pick async drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(f"'{url}' is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise UnsupportedDatabase(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "sqlite"


SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")
# Statements asyncpg keeps prepared per connection (SQLAlchemy's asyncpg dialect cache): the
# hot path repeats a few dozen distinct statements, so they are parsed and planned once.
PG_PREPARED_STATEMENTS = 256
READ_ONLY = "rutradar_read_only"  # execution option: this transaction only reads
IN_WORKER = "rutradar_in_worker"  # execution option: a write that may take long (SQLite)
# No pre-ping (three round trips per checkout with asyncpg: BEGIN, a ping, ROLLBACK): a
# connection the server dropped fails its statement, SQLAlchemy then discards the whole pool
# and the next checkout connects anew ("optimistic" disconnect handling). Connections are
# also replaced after half an hour, before proxies and firewalls cut idle ones.
PG_RECYCLE_SECONDS = 1800
# Set on every PostgreSQL connection, whatever the server's, role's or database's defaults:
# - READ COMMITTED: a close's later statements must see a check-in committed while the
#   close waited on the round's lock (its delete then takes that answer too), and the
#   one-statement check-in re-checks the round and the prompt after waiting on them;
#   REPEATABLE READ as a default would break both.
# - no parameter values in the server's log of a failed statement: a check-in's carry the
#   person and the scores together (storage/server_log.py says what else to turn off).
PG_SESSION_SETTINGS = {
    "default_transaction_isolation": "read committed",
    "log_parameter_max_length_on_error": "0",
}


def create_engine(
    url: str,
    *,
    echo: bool = False,
    sqlite_synchronous: str = "NORMAL",
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = 0,
) -> AsyncEngine:
    """One engine per process, with the settings the privacy and concurrency rules need.

    SQLAlchemy never logs bound parameters (`hide_parameters`), so a score cannot reach a log
    line even when someone turns SQL echo on. SQLite runs in WAL mode with a busy timeout,
    `secure_delete` (freed pages are zeroed, so deleted answers do not linger in the file),
    and `BEGIN IMMEDIATE` for transactions that write, so concurrent writers queue instead of
    failing half-way; sessions that only read (`sessions()`, never committed) open no
    transaction at all: each of their statements reads the last committed snapshot (WAL
    readers never wait for the writer), and a read costs no BEGIN and no ROLLBACK.

    `synchronous=NORMAL` (the default, as SQLite advises for WAL): a commit is durable against
    the application crashing or being killed, and the database is never corrupted; only a
    power loss or an operating-system crash can roll back the last transactions committed
    before the last checkpoint's sync (the WAL is synced at checkpoints, not at every commit).
    `FULL` syncs the WAL at every commit (`RUTRADAR_SQLITE_SYNCHRONOUS=FULL`), for a host
    whose power can fail under the process, at the cost of an fsync per write.

    Both keep a pool of up to `pool_size` connections per process (`DEFAULT_POOL_SIZE`).
    PostgreSQL: asyncpg with its prepared-statement cache sized for the hot path, connections
    not pinged before use (`PG_RECYCLE_SECONDS` says why); reading sessions run in
    autocommit, without a BEGIN and a ROLLBACK around their statements.
    """
    url = normalize_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True, "echo": echo}
    if is_sqlite(url):
        synchronous = sqlite_synchronous.upper()
        if synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"SQLite synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Reads on the event loop, writes in a worker thread (storage/sqlite_driver.py).
        creator = partial(
            sqlite_driver.connect,
            database or ":memory:",
            busy_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            synchronous=synchronous,
        )
        # The same pool as PostgreSQL's: SQLAlchemy's default for SQLite (5, and 10 more that
        # are closed as soon as they are returned) opened and set up a new connection for
        # almost every request of a burst of fifty.
        engine = create_async_engine(
            url,
            async_creator=creator,
            pool_size=pool_size,
            max_overflow=max_overflow,
            **kwargs,
        )
        _configure_sqlite(engine, synchronous)
        _refuse_raw_writes_when_reading(engine)
        return engine
    # asyncpg's prepared-statement cache, unless the URL already says (an engine's own URL,
    # rendered back to text and given to another engine, carries it).
    parsed = make_url(url)
    if "prepared_statement_cache_size" not in parsed.query:
        url = parsed.update_query_dict(
            {"prepared_statement_cache_size": str(PG_PREPARED_STATEMENTS)}
        ).render_as_string(hide_password=False)
    engine = create_async_engine(
        url,
        connect_args={"server_settings": PG_SESSION_SETTINGS},
        pool_recycle=PG_RECYCLE_SECONDS,
        pool_size=pool_size,
        max_overflow=max_overflow,
        **kwargs,
    )
    _refuse_raw_writes_when_reading(engine)
    return engine


WRITING_VERBS = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "REPLACE",
        "MERGE",
        "UPSERT",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "VACUUM",
        "REINDEX",
        "GRANT",
        "REVOKE",
        "COPY",
        "CALL",
        "DO",
        "WITH",
    }
)


def _refuse_raw_writes_when_reading(engine: AsyncEngine) -> None:
    """A reading session runs outside any transaction, so a write there would be committed
    statement by statement. The ORM's writes are refused by the session's listeners; this
    refuses the rest (`text("INSERT …")`, `exec_driver_sql`) on a reading connection. `WITH`
    is refused too: a common table expression may write, and no read of the app uses one."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _refuse(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
            if verb in WRITING_VERBS:
                raise ReadOnlySession("a reading session may not write: use sessions.begin()")


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transaction control is the "begin" listener's below, never the driver's (the
        # connection is opened so: storage/sqlite_driver.py).
        assert dbapi_connection.isolation_level is None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(IN_WORKER):
            conn.exec_driver_sql(sqlite_driver.BEGIN_IN_WORKER)
        elif not options.get(READ_ONLY):
            conn.exec_driver_sql(sqlite_driver.BEGIN_WRITE)


class Sessions(async_sessionmaker[AsyncSession]):
    """`sessions()` for reading (never committed, and outside any transaction: each statement
    sees what was committed when it ran, which every read of the chat path accepts; what must
    be consistent across statements, such as a summary shown and its audit event, runs in
    `begin()`), `sessions.begin()` for a transaction that writes and commits.

    On SQLite, writers also queue here, in-process, one at a time, rather than in SQLite's
    busy handler, which sleeps in steps of up to 100 ms while the lock is held: under a
    burst that handler, not the work, was most of the latency. Another process still waits
    in the busy handler (`busy_timeout`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        sqlite = is_sqlite(engine)
        reader = (
            engine.execution_options(**{READ_ONLY: True})
            if sqlite
            else engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: True})
        )
        # A class of its own, so the write listeners below hear only this factory's sessions.
        sync_class: type[Session] = type("RutRadarSession", (Session,), {})
        super().__init__(
            reader, expire_on_commit=False, sync_session_class=sync_class, info={_READER: True}
        )
        self._writer = async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=sync_class
        )
        self._long_writer = async_sessionmaker(
            engine.execution_options(**{IN_WORKER: True}) if sqlite else engine,
            expire_on_commit=False,
            sync_session_class=sync_class,
        )
        # Called after a commit with the names of the tables it changed (bot/core/lookups.py).
        self.on_commit: list[Callable[[frozenset[str]], None]] = []
        event.listen(sync_class, "before_flush", _refuse_reader_writes)
        event.listen(sync_class, "after_flush", _flushed)
        event.listen(sync_class, "do_orm_execute", _executed)
        event.listen(sync_class, "after_commit", self._committed)
        event.listen(sync_class, "after_soft_rollback", _rolled_back)
        self._turn: asyncio.Lock | None = asyncio.Lock() if sqlite else None
        self._holder: asyncio.Task[Any] | None = None
        self._engine = engine
        self._reader = reader
        self.statements = Statements(engine.dialect, WRITING_VERBS)  # storage/direct.py
        # SQLite's spare connections (`_direct`), never more than the pool can spare.
        size = getattr(engine.sync_engine.pool, "size", None)
        self._spare_room = min(SQLITE_SPARES, size() - 1) if sqlite and callable(size) else 0
        self._spares: list[Any] = []
        event.listen(engine.sync_engine, "engine_disposed", self._close_spares)

    @asynccontextmanager
    async def begin(self, *, long: bool = False) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        """A write transaction. `long`: it may take long (a round's close, a workspace's
        deletion), so on SQLite it is worked in a worker thread rather than on the event loop
        (storage/sqlite_driver.py)."""
        await self._give_back_held()
        writer = self._long_writer if long else self._writer
        async with self._writers_turn(), writer.begin() as session:
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[DirectConnection]:
        """A driver's connection that reads as `sessions()` does (outside any transaction,
        writes refused), for the hot path's Core reads (the sender's,
        `repositories.sender_rows`): without an ORM session, and without SQLAlchemy's
        execution around each statement (storage/direct.py)."""
        async with self._direct(read_only=True) as (conn, _driver):
            yield conn

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[DirectConnection]:
        """A short write transaction of Core statements built once (a check-in's,
        bot/rounds/checkin.py) on a driver's connection (storage/direct.py): the session's
        bookkeeping (its transaction, identity map, events, close) and SQLAlchemy's execution
        of each statement cost more than the statements. Queued, begun and committed as
        `begin()`'s are (on SQLite `BEGIN IMMEDIATE`, on the event loop when the lock is free);
        rolled back if the block raises. The tables its statements write are reported to
        `on_commit` as a session's are. Only Core statements: there is no session to hold ORM
        objects."""
        async with self._writers_turn(), self._direct(read_only=False) as (conn, driver):
            await driver.begin()
            try:
                yield conn
            except BaseException:
                await driver.rollback()
                raise
            await driver.commit()
        self._changed(conn)

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[DirectConnection]:
        """A driver's connection outside any transaction, for a write that is one statement
        (a data-modifying WITH on PostgreSQL: `repositories.store_checkin_at_once`), which is
        its own transaction: no BEGIN and no COMMIT, each a round trip. The tables it wrote
        are reported to `on_commit` as `writing()`'s are."""
        async with self._direct(read_only=False) as (conn, _driver):
            yield conn
        self._changed(conn)

    def _changed(self, conn: DirectConnection) -> None:
        if conn.changed:
            for listener in self.on_commit:
                listener(frozenset(conn.changed))

    @asynccontextmanager
    async def one_connection(self) -> AsyncIterator[None]:
        """The direct connections this task takes in the block (`reading`, `writing`,
        `single_statement`) are one pooled connection, taken at the first and given back at
        the end: a check-in's submission reads its sender and then writes, and taking and
        giving back a connection for each cost 30-40 µs of a submission's CPU, and under a
        burst a second wait in the pool's queue.

        Only this task's: a task it starts does not share the connection (it would run
        statements on it at the same time). An ORM transaction begun in the block
        (`begin()`, a sender's first contact) first gives the connection back, so that a
        task never holds one connection while it waits in the pool for another (a burst
        the size of the pool would wait on itself).

        Not on SQLite, where a writer waits for the process's writer queue (`_writers_turn`)
        before it takes its connection: check-ins holding theirs while they queue could
        leave the writer at the head of the queue none to take."""
        if self._turn is not None:
            yield
            return
        held = _Held(self, asyncio.current_task())
        token = _HELD.set(held)
        try:
            yield
        finally:
            _HELD.reset(token)
            await self._give_back(held)

    def _held(self) -> _Held | None:
        held = _HELD.get()
        if held is None or held.sessions is not self or held.task is not asyncio.current_task():
            return None
        return held

    async def _give_back_held(self) -> None:
        held = self._held()
        if held is not None and not held.in_use:
            await self._give_back(held)

    @staticmethod
    async def _give_back(held: _Held) -> None:
        pooled, held.pooled = held.pooled, None
        if pooled is not None:
            await greenlet_spawn(pooled.close)

    @asynccontextmanager
    async def _direct(self, *, read_only: bool) -> AsyncIterator[tuple[DirectConnection, Driver]]:
        """A pooled connection's driver-level connection, taken from the engine's pool as a
        raw connection (no `AsyncConnection` around it: its start and close were a tenth of
        a check-in's CPU) and given back as SQLAlchemy's pool does, reset included (in a
        greenlet, where SQLAlchemy's asyncio adapters may await), or kept for the next
        statements of the task's `one_connection` block. On SQLite, up to `SQLITE_SPARES`
        idle connections are kept instead of given back, and taken first (a list, no
        greenlet): its blocks do not wait on each other's connections (reads and writes
        each run on the event loop, writes one at a time), and the pool keeps the rest for
        the ORM's sessions. If anything fails on it, it is discarded rather than given back
        or kept: a transaction the failure left open, or a connection the server dropped,
        must not reach the next request."""
        held = self._held()
        if held is not None and not held.in_use:
            async with self._kept(held, read_only=read_only) as direct:
                yield direct
            return
        pooled = self._spares.pop() if self._spares else await self._engine.raw_connection()
        try:
            driver = driver_of(self._engine.dialect, pooled.driver_connection)
            yield DirectConnection(self.statements, driver, read_only=read_only), driver
        except BaseException:
            await greenlet_spawn(pooled.invalidate)
            raise
        if len(self._spares) < self._spare_room and not _in_transaction(pooled):
            self._spares.append(pooled)  # SQLite: kept for the next block (SQLITE_SPARES)
        else:
            await greenlet_spawn(pooled.close)

    def _close_spares(self, _engine: Any) -> None:
        """`engine_disposed`: the spare connections closed with the engine's pool (they are
        checked out of it, so its dispose does not see them). The event runs in the greenlet
        of `AsyncEngine.dispose`, where closing a connection may await its driver."""
        spares, self._spares = self._spares, []
        for pooled in spares:
            pooled.invalidate()

    @asynccontextmanager
    async def _kept(
        self, held: _Held, *, read_only: bool
    ) -> AsyncIterator[tuple[DirectConnection, Driver]]:
        """`_direct` on the connection a `one_connection` block keeps (taken at its first use)."""
        if held.pooled is None:
            held.pooled = await self._engine.raw_connection()
        pooled = held.pooled
        held.in_use = True
        try:
            driver = driver_of(self._engine.dialect, pooled.driver_connection)
            yield DirectConnection(self.statements, driver, read_only=read_only), driver
        except BaseException:
            held.pooled = None
            await greenlet_spawn(pooled.invalidate)
            raise
        finally:
            held.in_use = False

    @asynccontextmanager
    async def _writers_turn(self) -> AsyncIterator[None]:
        """On SQLite, this process's writers one at a time (the class says why)."""
        task = asyncio.current_task()
        if self._turn is None or (task is not None and task is self._holder):
            # PostgreSQL; or a write nested in this task's own (SQLite's busy handler decides,
            # as before: queueing it behind its own outer transaction would never end).
            yield
            return
        async with self._turn:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    def _committed(self, session: Session) -> None:
        tables = session.info.pop(_CHANGED, None)
        if tables:
            for listener in self.on_commit:
                listener(frozenset(tables))


_CHANGED = "rutradar_changed_tables"
_READER = "rutradar_reader"


def _refuse_reader_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_READER) and (session.new or session.dirty or session.deleted):
        raise ReadOnlySession("a reading session may not write: use sessions.begin()")


def _flushed(session: Session, _context: Any) -> None:
    changed = session.info.setdefault(_CHANGED, set())
    for obj in (*session.new, *session.deleted):
        changed.add(obj.__table__.name)
    for obj in session.dirty:
        if session.is_modified(obj):
            changed.add(obj.__table__.name)


def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        if state.session.info.get(_READER):
            raise ReadOnlySession("a reading session may not write: use sessions.begin()")
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        state.session.info.setdefault(_CHANGED, set()).add(name or "*")


def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return Sessions(engine)


def short_read(
    sessions: async_sessionmaker[AsyncSession],
) -> contextlib.AbstractAsyncContextManager[AsyncSession | DirectConnection]:
    """`sessions.reading()` (a driver's reading connection), or a reading session where the
    factory is not this module's."""
    if isinstance(sessions, Sessions):
        return sessions.reading()
    return sessions()


def short_write(
    sessions: async_sessionmaker[AsyncSession],
) -> contextlib.AbstractAsyncContextManager[AsyncSession | DirectConnection]:
    """`sessions.writing()` (a write transaction of Core statements on a driver's connection),
    or a session's transaction where the factory is not this module's."""
    if isinstance(sessions, Sessions):
        return sessions.writing()
    return sessions.begin()


def long_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    """`sessions.begin()` for a write that may take long (`Sessions.begin(long=True)`)."""
    if isinstance(sessions, Sessions):
        return sessions.begin(long=True)
    return sessions.begin()
