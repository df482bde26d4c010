"""Whether PostgreSQL's own log would keep this app's statements.

A check-in is one statement on PostgreSQL (`repositories.store_checkin_at_once`): the member's
person id and their five scores are parameters of the same statement. A server that logs
statements (`log_statement = mod`, a `log_min_duration_statement` the statement crosses, or
their sampled variants) writes them into one log line, with their time, to a file that no
scrub reaches and that outlives the round's close (docs/privacy.md, "Threat model"). The app
cannot turn those settings off for itself (they are for superusers to set), so `rutradar
serve` reads them at start-up and says which are on (bot/server/app.py). What an ordinary
role may set, the engine sets on every connection (storage/db.py `PG_SESSION_SETTINGS`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_SETTINGS = text(
    "SELECT name, setting FROM pg_settings WHERE name IN ('log_statement',"
    " 'log_min_duration_statement', 'log_min_duration_sample', 'log_statement_sample_rate',"
    " 'log_transaction_sample_rate')"
)


def logging_statements(settings: dict[str, str]) -> list[str]:
    """The settings among `settings` (name → value, as `pg_settings` shows them) that make
    the server log this app's data-modifying statements, as `name = value`."""
    found = []
    if settings.get("log_statement") in {"mod", "all"}:
        found.append(f"log_statement = {settings['log_statement']}")
    if settings.get("log_min_duration_statement", "-1") != "-1":
        found.append(f"log_min_duration_statement = {settings['log_min_duration_statement']}")
    sampled = settings.get("log_min_duration_sample", "-1")
    if sampled != "-1" and float(settings.get("log_statement_sample_rate", "0")) > 0:
        found.append(f"log_min_duration_sample = {sampled}")
    if float(settings.get("log_transaction_sample_rate", "0")) > 0:
        found.append(f"log_transaction_sample_rate = {settings['log_transaction_sample_rate']}")
    return found


async def statement_logging(engine: AsyncEngine) -> list[str]:
    """`logging_statements` for the engine's connections (their role's and database's
    settings included); nothing on SQLite, which keeps no log of statements."""
    if engine.dialect.name != "postgresql":
        return []
    async with engine.connect() as conn:
        rows = (await conn.execute(_SETTINGS)).all()
    return logging_statements({str(name): str(value) for name, value in rows})
