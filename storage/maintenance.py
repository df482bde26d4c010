"""Scrubbing after a close, so deleted answers leave nothing behind at rest (privacy rule 3).

A close deletes the round's answers and per-person deliveries and marks the round
`scrub_pending` in the same transaction; the scrub then removes what the deletes leave in the
database's files, and clears the mark only once that has surely happened. Until then the
round is "closed, scrub pending": `rutradar round list` says so, `/metrics` counts it, and
every scheduler pass tries again.

- SQLite: `PRAGMA wal_checkpoint(TRUNCATE)` copies the WAL into the main file (whose freed
  cells `secure_delete` has zeroed) and truncates it to nothing. A reader holding an older
  snapshot makes it return busy, leaving every frame (and so every check-in of the round,
  commit by commit) in the `-wal` file: the result is checked, never assumed.
- PostgreSQL: `VACUUM` frees line pointers but leaves the deleted tuples' bytes in the pages
  (heap and index), so the tables are rewritten with `VACUUM FULL`: new files holding only
  live rows, fresh indexes, the old files truncated. It copies rows that some open snapshot
  may still see ("recently dead"), so it runs only once no transaction in the database
  started before the close; and it waits at most `LOCK_TIMEOUT_MS` for its lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite
from storage.models import Round

log = logging.getLogger(__name__)

# processed_events too: a Teams check-in's submission is claimed (Teams redelivers), and its
# claim's dead tuple (an opaque hash, a minute) should not outlive the close in the pages.
SCRUBBED_TABLES = ("answers", "deliveries", "processed_events")
# SQLite: how long the checkpoint waits for readers and writers before it reports busy.
CHECKPOINT_WAIT_MS = 200
# PostgreSQL: how long the scrub waits for transactions older than the close to end (most
# last milliseconds; one left open is retried by the next scheduler pass instead).
HORIZON_WAIT_SECONDS = 0.5
# PostgreSQL: how long VACUUM FULL may queue for its ACCESS EXCLUSIVE lock. While it queues,
# every later query on the table queues behind it, so the wait is kept short; a scheduler
# pass tries again.
LOCK_TIMEOUT_MS = 1000

# Sessions whose snapshot (backend_xmin) or own transaction (backend_xid) is as old as the
# newest pending close: they might still see the deleted rows, so VACUUM FULL would copy them.
# The round's row was last written by its close, so its `xmin` is the close's transaction id.
# Lazy (auto)vacuum is left out as PostgreSQL leaves it out of the horizon; replication slots,
# standbys' feedback (walsenders have no database) and prepared transactions count.
# A transaction id still running in *any* database of the cluster counts too: a snapshot's
# xmin is the oldest running transaction id cluster-wide, VACUUM FULL's own snapshot is one,
# and it keeps every row that snapshot could see (measured: a write left open in another
# database kept a deleted row's bytes through VACUUM FULL). The current snapshot's xmin says
# so without needing to see other roles' sessions.
_OLDER_THAN_THE_CLOSE = text(
    """
    WITH close AS (
        SELECT min(age(xmin)) AS age FROM rounds WHERE scrub_pending AND id = ANY(:ids)
    )
    SELECT
        (SELECT count(*) FROM pg_stat_activity a, close
          WHERE a.pid <> pg_backend_pid()
            AND (a.datname = current_database() OR a.datname IS NULL)
            AND NOT (a.backend_type = 'autovacuum worker'
                     AND a.query LIKE 'autovacuum: VACUUM%%' AND a.query NOT LIKE '%%ANALYZE%%')
            AND (age(a.backend_xmin) >= close.age OR age(a.backend_xid) >= close.age))
      + (SELECT count(*) FROM close
          WHERE age(pg_snapshot_xmin(pg_current_snapshot())::xid) >= close.age)
      + (SELECT count(*) FROM pg_replication_slots s, close
          WHERE age(s.xmin) >= close.age)
      + (SELECT count(*) FROM pg_prepared_xacts p, close
          WHERE p.database = current_database() AND age(p.transaction) >= close.age)
    """
)


@dataclass(frozen=True)
class ScrubResult:
    done: bool  # nothing of the closed rounds' deleted rows is left in the files
    rounds: int = 0  # rounds whose scrub this run finished
    reason: str = ""  # why not, when not done


async def pending_rounds(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Round.id).where(Round.scrub_pending))).all())


async def pending_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(Round).where(Round.scrub_pending)
        )
        return int(found or 0)


async def scrub(engine: AsyncEngine) -> ScrubResult:
    """Finish the scrub of every round marked `scrub_pending`; idempotent, and safe to run
    in several processes at once. Not inside a transaction: call it after the commit."""
    pending = await pending_rounds(engine)
    if not pending:
        return ScrubResult(done=True)
    if is_sqlite(engine):
        done, reason = await _checkpoint(engine)
    else:
        done, reason = await _rewrite(engine, pending)
    if not done:
        return ScrubResult(done=False, reason=reason)
    async with engine.begin() as conn:
        await conn.execute(update(Round).where(Round.id.in_(pending)).values(scrub_pending=False))
    if is_sqlite(engine):
        await _checkpoint(engine)  # the mark's own frames too: leave an empty WAL behind
    return ScrubResult(done=True, rounds=len(pending))


async def _checkpoint(engine: AsyncEngine) -> tuple[bool, str]:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        try:
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = await cursor.fetchone()
            await cursor.close()
        finally:
            await driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # (busy, frames in the WAL, frames checkpointed): busy means the WAL was not truncated.
    if row is None or row[0] != 0:
        return False, "a reader or writer kept the SQLite WAL from being checkpointed"
    return True, ""


async def _rewrite(engine: AsyncEngine, pending: Sequence[int]) -> tuple[bool, str]:
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + HORIZON_WAIT_SECONDS
        while older := await auto.scalar(_OLDER_THAN_THE_CLOSE, {"ids": list(pending)}):
            if time.monotonic() >= deadline:
                return False, f"{older} PostgreSQL transaction(s) began before the close"
            await asyncio.sleep(0.05)
        await auto.exec_driver_sql(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        try:
            for table in SCRUBBED_TABLES:
                await auto.exec_driver_sql(f"VACUUM (FULL) {table}")
        except DBAPIError as exc:
            log.debug("VACUUM FULL did not run", exc_info=True)
            return False, f"VACUUM FULL could not run ({type(exc.orig).__name__})"
        finally:
            try:
                await auto.exec_driver_sql("RESET lock_timeout")
            except DBAPIError:
                await conn.invalidate()
    return True, ""
