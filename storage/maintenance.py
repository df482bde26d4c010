"""Scrubbing after a close, so deleted answers leave nothing behind at rest (privacy rule 3)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import is_sqlite

SCRUBBED_TABLES = ("answers", "deliveries")


async def scrub_after_close(engine: AsyncEngine) -> None:
    """SQLite: move the WAL into the (secure_delete) main file and truncate it.
    PostgreSQL: VACUUM, so dead tuples holding answers are reclaimed now, not some day."""
    if is_sqlite(engine):
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in SCRUBBED_TABLES:
            await autocommit.exec_driver_sql(f"VACUUM {table}")
