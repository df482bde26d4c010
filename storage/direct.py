"""Core statements built once, compiled once per dialect, and run on the database driver's own
connection (`sqlite3`, asyncpg), for the few statements of a burst's hot path: the sender's
read and a check-in's statements (storage/db.py `Sessions.reading`, `writing`,
`single_statement`).

Why: SQLAlchemy's asyncio execution of a statement already compiled and cached still costs
0.1–0.2 ms of CPU (the greenlet switches, an execution context, the result's metadata), and on
SQLite that is 10–30 times what SQLite takes to answer. Measured per check-in submission, the
sender's read and the check-in's four statements cost 1.2 ms on SQLite and 2 ms on
PostgreSQL, where the bare app's whole request costs 0.9 ms (docs/benchmarks.md, "Session of
2026-12-02: statements on the driver's connection").

What SQLAlchemy does is kept, not written again: the SQL is SQLAlchemy's compilation of the
statement for the engine's dialect (PostgreSQL's casts and `FOR SHARE` included), every value
goes through its type's bind processor and every column through its result processor for
that dialect (aware datetimes, the enums, JSON), and the connection comes from the engine's
pool, with the settings the engine gives it. Only statements whose values are all named
(`bindparam`) or fixed when built run here; one that would need SQLAlchemy's execution-time
work (a Python-side column default, an "expanding" list) is refused when first compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Executable

from storage import sqlite_driver

Processor = Callable[[Any], Any] | None


class NotDirect(ValueError):
    """The statement needs SQLAlchemy's execution-time work: run it through a session."""


class ReadOnlySession(RuntimeError):
    """Something tried to write through `sessions()` or `sessions.reading()` (storage/db.py),
    which run outside any transaction: the write would be committed statement by statement.
    Writes go through `begin()`."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement as the dialect runs it: its SQL, where each named value goes, the
    processors of the values and of the result's columns."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]  # values bound when the statement was built
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    writes: bool
    tables: frozenset[str]  # the tables it writes, its data-modifying WITHs' included

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = values[name] if name in values else self.fixed[name]
            out.append(process(value) if process is not None else value)
        return out

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        results = self.results
        if not any(results):
            return [tuple(row) for row in raw]
        return [
            tuple(p(v) if p is not None else v for p, v in zip(results, row, strict=True))
            for row in raw
        ]


def compile_for(statement: Executable, dialect: Dialect, writing_verbs: frozenset[str]) -> Compiled:
    """`statement` compiled for `dialect` (see the module's docstring for what is refused)."""
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    fixed: dict[str, Any] = {}
    binds: list[Processor] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding:
            raise NotDirect(f"an expanding parameter ({name}) is rendered per execution")
        if not bind.required:
            fixed[name] = bind.effective_value
        binds.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise NotDirect("a Python-side column default is computed per execution: give every value")
    columns = getattr(statement, "selected_columns", None) or ()
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    sql = str(compiled)
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    tables = frozenset(
        str(getattr(element.table, "name", "*"))
        for element in visitors.iterate(cast(visitors.ExternallyTraversible, statement))
        if isinstance(element, UpdateBase)
    )
    return Compiled(sql, names, fixed, tuple(binds), results, verb in writing_verbs, tables)


class Result:
    """What the repositories read of an execution: its rows, or how many it changed."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def first(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


class Driver(Protocol):
    """A driver's connection as `DirectConnection` uses it."""

    async def run(self, compiled: Compiled, parameters: list[Any]) -> Result: ...
    async def begin(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class SQLiteDriver:
    """storage/sqlite_driver.py's connection: a statement runs on the event loop or in its
    worker thread as that module decides (a write transaction begun on the loop stays there)."""

    def __init__(self, connection: sqlite_driver.Connection) -> None:
        self._connection = connection

    async def run(self, compiled: Compiled, parameters: list[Any]) -> Result:
        raw = self._connection.raw
        changed: list[int] = [0]

        def work() -> list[Any]:
            cursor = raw.execute(compiled.sql, parameters)
            changed[0] = cursor.rowcount
            return cursor.fetchall() if cursor.description else []

        rows = await self._connection.call(compiled.sql, work)
        return Result(compiled.rows(rows), changed[0])

    async def begin(self) -> None:
        raw = self._connection.raw

        def work() -> list[Any]:
            raw.execute(sqlite_driver.BEGIN_WRITE)
            return []

        await self._connection.call(sqlite_driver.BEGIN_WRITE, work)

    async def commit(self) -> None:
        await self._connection.commit()

    async def rollback(self) -> None:
        await self._connection.rollback()


_AFFECTED = re.compile(r"(\d+)$")


class AsyncpgDriver:
    """An asyncpg connection: its own prepared-statement cache, its own transaction."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._transaction: Any = None

    async def run(self, compiled: Compiled, parameters: list[Any]) -> Result:
        if compiled.results:
            rows = await self._connection.fetch(compiled.sql, *parameters)
            return Result(compiled.rows(rows), len(rows))
        status = await self._connection.execute(compiled.sql, *parameters)
        found = _AFFECTED.search(status or "")
        return Result([], int(found.group(1)) if found else -1)

    async def begin(self) -> None:
        self._transaction = self._connection.transaction()
        await self._transaction.start()

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()


def driver_of(dialect: Dialect, connection: Any) -> Driver:
    """The `Driver` for a pooled connection's driver-level connection."""
    if dialect.name == "sqlite" and isinstance(connection, sqlite_driver.Connection):
        return SQLiteDriver(connection)
    if dialect.driver == "asyncpg":
        return AsyncpgDriver(connection)
    raise NotDirect(f"no direct driver for {dialect.name}+{dialect.driver}")


class Statements:
    """The compiled statements of one engine's dialect, each compiled at its first use."""

    def __init__(self, dialect: Dialect, writing_verbs: frozenset[str]) -> None:
        self.dialect = dialect
        self._verbs = writing_verbs
        self._compiled: dict[Executable, Compiled] = {}
        # Called with each statement's SQL before it runs, as SQLAlchemy's
        # `before_cursor_execute` is for the engine's own (a test's count of statements).
        self.observers: list[Callable[[str], None]] = []

    def __getitem__(self, statement: Executable) -> Compiled:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = compile_for(statement, self.dialect, self._verbs)
            self._compiled[statement] = compiled
        return compiled


class DirectConnection:
    """`execute(statement, values)` as the repositories call it on a session, on a driver's
    connection. `read_only`: writes are refused (a reading connection is outside any
    transaction, so a write would commit at once). `changed` collects the tables written."""

    def __init__(self, statements: Statements, driver: Driver, *, read_only: bool) -> None:
        self._statements = statements
        self._driver = driver
        self._read_only = read_only
        self.changed: set[str] = set()

    @property
    def dialect(self) -> Dialect:
        return self._statements.dialect

    async def execute(
        self, statement: Executable, values: Mapping[str, Any] | None = None
    ) -> Result:
        compiled = self._statements[statement]
        if compiled.writes:
            if self._read_only:
                raise ReadOnlySession("a reading connection may not write: use sessions.writing()")
            self.changed.update(compiled.tables or ("*",))
        for observe in self._statements.observers:
            observe(compiled.sql)
        return await self._driver.run(compiled, compiled.parameters(values or {}))
