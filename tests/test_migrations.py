"""The schema comes from Alembic, and the models and migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.context import Context
from storage.migrate import head_revision
from storage.schema import metadata


async def test_upgrade_to_head_creates_every_table(ctx: Context) -> None:
    async with ctx.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


async def test_models_match_migrations(ctx: Context) -> None:
    def diff(sync_conn: object) -> list[object]:
        mc = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(mc, metadata))

    async with ctx.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"models differ from migrations: {changes}"


def test_single_head() -> None:
    assert head_revision() == "0004"
