"""PostgreSQL's own log, as a DBA would read it after a close: a check-in is one statement
there, whose parameters hold the person and the scores together. The app cannot switch the
server's statement logging off, so `rutradar serve` says at start-up when it is on; what an
ordinary role may set (no parameters in the log of a failed statement, READ COMMITTED) every
connection sets, whatever the database's defaults."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.server.app import warn_of_statement_logging
from storage.db import create_engine
from storage.server_log import logging_statements, statement_logging

QUIET = {
    "log_statement": "ddl",
    "log_min_duration_statement": "-1",
    "log_min_duration_sample": "-1",
    "log_statement_sample_rate": "1",
    "log_transaction_sample_rate": "0",
}


@pytest.mark.parametrize(
    ("changed", "found"),
    [
        ({}, []),
        ({"log_statement": "none"}, []),
        ({"log_statement": "mod"}, ["log_statement = mod"]),
        ({"log_statement": "all"}, ["log_statement = all"]),
        ({"log_min_duration_statement": "0"}, ["log_min_duration_statement = 0"]),
        ({"log_min_duration_statement": "250"}, ["log_min_duration_statement = 250"]),
        ({"log_min_duration_sample": "100"}, ["log_min_duration_sample = 100"]),
        ({"log_min_duration_sample": "100", "log_statement_sample_rate": "0"}, []),
        ({"log_transaction_sample_rate": "0.01"}, ["log_transaction_sample_rate = 0.01"]),
    ],
)
def test_the_settings_that_would_log_a_check_in_are_named(
    changed: dict[str, str], found: list[str]
) -> None:
    assert logging_statements({**QUIET, **changed}) == found


@pytest.fixture
async def pg_url(pg_database: str | None) -> AsyncIterator[str]:
    if pg_database is None:
        pytest.skip("PostgreSQL's settings")
    yield pg_database


async def alter_database(url: str, sql: str) -> None:
    name = make_url(url).database
    engine = create_engine(url)
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql(f'ALTER DATABASE "{name}" {sql}')
    await engine.dispose()


async def test_a_database_that_logs_statements_is_named_at_start_up(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The database's own defaults say to log every statement and to run REPEATABLE READ: a
    plain connection gets both; the app's connections still run READ COMMITTED and log no
    parameters of a failed statement, and start-up says, once, what would be logged."""
    quiet = create_engine(pg_url)
    assert await statement_logging(quiet) == []
    await quiet.dispose()
    await alter_database(pg_url, "SET log_min_duration_statement = 0")
    await alter_database(pg_url, "SET default_transaction_isolation = 'repeatable read'")
    try:
        plain = await asyncpg.connect(
            make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            assert await plain.fetchval("SHOW default_transaction_isolation") == "repeatable read"
        finally:
            await plain.close()
        engine = create_engine(pg_url)
        try:
            async with engine.connect() as conn:
                shown = [
                    await conn.scalar(text(f"SHOW {name}"))
                    for name in ("transaction_isolation", "log_parameter_max_length_on_error")
                ]
            assert shown == ["read committed", "0"]
            with caplog.at_level(logging.WARNING, logger="bot.server.app"):
                await warn_of_statement_logging(engine)
        finally:
            await engine.dispose()
    finally:
        await alter_database(pg_url, "RESET log_min_duration_statement")
        await alter_database(pg_url, "RESET default_transaction_isolation")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "log_min_duration_statement = 0" in warnings[0]
    assert "docs/privacy.md" in warnings[0]


async def test_sqlite_keeps_no_statement_log(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert await statement_logging(engine) == []
    finally:
        await engine.dispose()
