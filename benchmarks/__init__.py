"""Performance targets, measured against a baseline taken in the same run.

Unit tests never time anything (project rule); the targets live here and report ratios, so a
slow or busy machine moves the baseline and the measurement together. Run with
``make bench`` or ``python -m benchmarks``; see docs/benchmarks.md.

Everything a benchmark writes goes to a temporary directory or a throwaway PostgreSQL
database that is dropped at the end: nothing lands in the repository.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url

from storage.db import create_engine, normalize_url
from storage.migrate import upgrade

PG_ENVS = ("RUTRADAR_BENCH_DATABASE_URL", "RUTRADAR_TEST_DATABASE_URL")


def postgres_base_url() -> str | None:
    """The PostgreSQL server to create a throwaway database on, if one is configured."""
    for name in PG_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    """A fresh, migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rutradar-bench-") as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await asyncio.to_thread(upgrade, url)
        yield url


@asynccontextmanager
async def postgres_database(base: str) -> AsyncIterator[str]:
    """A throwaway, migrated PostgreSQL database (as tests/conftest.py's `pg_database`),
    dropped at the end even when the benchmark fails."""
    admin_url = normalize_url(base)
    name = f"rutradar_bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        engine = create_engine(admin_url)
        try:
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    await run(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A compact, aligned plain-text table."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
