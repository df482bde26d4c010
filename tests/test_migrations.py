"""The schema comes from Alembic, and the models and migrations agree."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.context import Context
from storage.db import create_engine
from storage.migrate import alembic_config, head_revision, upgrade
from storage.schema import metadata


async def test_upgrade_to_head_creates_every_table(ctx: Context) -> None:
    async with ctx.database.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


async def test_models_match_migrations(ctx: Context) -> None:
    def diff(sync_conn: object) -> list[object]:
        mc = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(mc, metadata))

    async with ctx.database.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"models differ from migrations: {changes}"


def test_single_head() -> None:
    assert head_revision() == "0010"


def test_head_revision_is_alembics_head_of_one_chain_of_file_named_revisions() -> None:
    """`head_revision` reads the migrations' file names (start-up need not import Alembic):
    it holds only while every file starts with its revision id and the revisions form one
    chain, each revising the one before it, as Alembic itself reads them."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(""))
    assert scripts.get_heads() == [head_revision()]
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [s.revision for s in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    assert [s.down_revision for s in chain] == [None, *(s.revision for s in chain[:-1])]
    for script in chain:
        assert script.path is not None and Path(script.path).name.startswith(script.revision + "_")


async def test_0004_downgrades_to_what_the_old_code_reads(sqlite_url: str) -> None:
    """Down from 0004: notices dropped, claimed rows pending again; and back up cleanly."""
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workspaces (platform, external_id, name, timezone, locale,"
                    " threshold, comment_threshold) VALUES ('playground', 'T1', '', 'UTC', 'en', 5, 5)"
                )
            )
            await conn.execute(text("INSERT INTO teams (workspace_id, name) VALUES (1, 'A')"))
            await conn.execute(
                text(
                    "INSERT INTO rounds (team_id, period, opens_at, closes_at, threshold,"
                    " comment_threshold, status) VALUES (1, '2026-W48', '2026-11-25 09:00:00',"
                    " '2026-11-28 09:00:00', 5, 5, 'released')"
                )
            )
            for row_id, kind, status in (
                ("a", "closed_notice", "pending"),
                ("b", "summary", "claimed"),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO deliveries (id, round_id, kind, not_before, status, attempts,"
                        " answered, lease_until) VALUES (:id, 1, :kind, '2026-11-28 09:00:00',"
                        " :status, 1, 0, '2026-11-28 09:02:00')"
                    ),
                    {"id": row_id, "kind": kind, "status": status},
                )
        await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url), "0003")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, status, lease_until FROM deliveries"))
            ).all()
        assert [tuple(r) for r in rows] == [("b", "pending", None)]
        await asyncio.to_thread(upgrade, sqlite_url)
        async with engine.connect() as conn:
            lookups = (await conn.execute(text("SELECT lookups FROM deliveries"))).scalars().all()
        assert lookups == [0]
    finally:
        await engine.dispose()


async def test_0006_support_url_comes_and_goes_without_touching_other_rows(
    sqlite_url: str,
) -> None:
    """Down from 0006 drops only the column: the workspace, its team and its round stay (a
    table rebuild on SQLite would have cascaded to them)."""
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workspaces (platform, external_id, name, timezone, locale,"
                    " threshold, comment_threshold, support_url) VALUES ('playground', 'T1', '',"
                    " 'UTC', 'en', 5, 5, 'https://support.example.com')"
                )
            )
            await conn.execute(text("INSERT INTO teams (workspace_id, name) VALUES (1, 'A')"))
        await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url), "0005")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("workspaces")}
            )
            teams = (await conn.execute(text("SELECT name FROM teams"))).scalars().all()
        assert "support_url" not in columns and teams == ["A"]
        await asyncio.to_thread(upgrade, sqlite_url)
        async with engine.connect() as conn:
            urls = (await conn.execute(text("SELECT support_url FROM workspaces"))).scalars().all()
        assert urls == [None]
    finally:
        await engine.dispose()


async def test_0007_keeps_every_row_and_downgrades_tokens_to_what_the_old_code_reads(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 0007 and back: rounds and their deliveries survive (no table copy cascades),
    and the downgrade decrypts the Slack tokens, with the key, for the older schema."""
    from cryptography.fernet import Fernet
    from slack_sdk.oauth.installation_store.models.installation import Installation

    from storage.slack_store import EncryptedInstallationStore

    key = Fernet.generate_key().decode()
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            for sql in (
                "INSERT INTO workspaces (platform, external_id, name, timezone, locale,"
                " threshold, comment_threshold) VALUES ('slack', 'T1', '', 'UTC', 'en', 5, 5)",
                "INSERT INTO teams (workspace_id, name) VALUES (1, 'A')",
                "INSERT INTO rounds (team_id, period, opens_at, closes_at, threshold,"
                " comment_threshold, status, scrub_pending) VALUES (1, '2026-W48',"
                " '2026-11-25 09:00:00', '2026-11-28 09:00:00', 5, 5, 'open', 0)",
                "INSERT INTO deliveries (id, round_id, kind, not_before, status, attempts,"
                " answered) VALUES ('d', 1, 'prompt', '2026-11-25 09:00:00', 'sent', 1, 1)",
            ):
                await conn.execute(text(sql))
        await EncryptedInstallationStore("1.2", engine, key).async_save(
            Installation(app_id="A1", team_id="T1", user_id="U1", bot_token="xoxb-kept")
        )
        monkeypatch.delenv("RUTRADAR_SECRET_KEY", raising=False)
        with pytest.raises(RuntimeError, match="RUTRADAR_SECRET_KEY is needed to downgrade"):
            await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url), "0006")
        monkeypatch.setenv("RUTRADAR_SECRET_KEY", key)
        await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url), "0006")
        async with engine.connect() as conn:
            tokens = (await conn.execute(text("SELECT bot_token FROM slack_bots"))).scalars().all()
            deliveries = (await conn.execute(text("SELECT id FROM deliveries"))).scalars().all()
        assert (tokens, deliveries) == (["xoxb-kept"], ["d"])
        await asyncio.to_thread(upgrade, sqlite_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT scrub_pending FROM rounds"))).all()
            deliveries = (await conn.execute(text("SELECT id FROM deliveries"))).scalars().all()
        assert ([tuple(r) for r in rows], deliveries) == ([(0,)], ["d"])
    finally:
        await engine.dispose()


async def test_0008_downgrade_drops_only_the_checked_in_edits(db_url: str) -> None:
    """Down from 0008: the waiting "checked in" edits go, every other delivery stays; and back
    up cleanly (PostgreSQL: the enum rebuilt without the value, then given it again)."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workspaces (platform, external_id, name, timezone, locale,"
                    " threshold, comment_threshold) VALUES ('playground', 'T8', '', 'UTC', 'en', 5, 5)"
                )
            )
            team = await conn.scalar(
                text(
                    "INSERT INTO teams (workspace_id, name) SELECT id, 'A' FROM workspaces"
                    " WHERE external_id = 'T8' RETURNING id"
                )
            )
            round_id = await conn.scalar(
                text(
                    "INSERT INTO rounds (team_id, period, opens_at, closes_at, threshold,"
                    " comment_threshold, status, scrub_pending) VALUES (:team, '2026-W48',"
                    " '2026-11-25 09:00:00', '2026-11-28 09:00:00', 5, 5, 'open', false)"
                    " RETURNING id"
                ),
                {"team": team},
            )
            for row_id, kind in (("a", "checked_in"), ("b", "closed_notice"), ("c", "prompt")):
                await conn.execute(
                    text(
                        "INSERT INTO deliveries (id, round_id, kind, not_before, status, attempts,"
                        " lookups, answered) VALUES (:id, :round, :kind, '2026-11-25 09:00:00',"
                        " 'pending', 0, 0, false)"
                    ),
                    {"id": row_id, "round": round_id, "kind": kind},
                )
        await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0007")
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id FROM deliveries ORDER BY id"))).scalars()
            assert rows.all() == ["b", "c"]
        await asyncio.to_thread(upgrade, db_url)
        await _takes_the_kind_again_then_empty(engine, round_id, "checked_in")
    finally:
        await engine.dispose()


async def test_0010_downgrade_turns_the_waiting_batches_into_closed_notices(db_url: str) -> None:
    """Down from 0010: a closed round's notices still waiting in a batch become the
    `closed_notice` rows the older code sends (none lost), every other delivery stays; and
    back up cleanly (PostgreSQL: the enum rebuilt without the value, then given it again)."""
    engine = create_engine(db_url)
    refs = [{"platform": "slack", "channel_id": f"D{i}", "message_id": f"1.{i}"} for i in (2, 1)]
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workspaces (platform, external_id, name, timezone, locale,"
                    " threshold, comment_threshold) VALUES ('slack', 'T10', '', 'UTC', 'en', 5, 5)"
                )
            )
            team = await conn.scalar(
                text(
                    "INSERT INTO teams (workspace_id, name) SELECT id, 'A' FROM workspaces"
                    " WHERE external_id = 'T10' RETURNING id"
                )
            )
            round_id = await conn.scalar(
                text(
                    "INSERT INTO rounds (team_id, period, opens_at, closes_at, threshold,"
                    " comment_threshold, status, scrub_pending) VALUES (:team, '2026-W48',"
                    " '2026-11-25 09:00:00', '2026-11-28 09:00:00', 5, 5, 'released', false)"
                    " RETURNING id"
                ),
                {"team": team},
            )
            for row_id, kind, ref in (
                ("a", "notice_batch", json.dumps({"refs": refs})),
                ("b", "summary", None),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO deliveries (id, round_id, kind, not_before, status, attempts,"
                        " lookups, answered, message_ref) VALUES (:id, :round, :kind,"
                        " '2026-11-28 09:00:00', 'pending', 0, 0, false, :ref)"
                    ),
                    {"id": row_id, "round": round_id, "kind": kind, "ref": ref},
                )
        await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0009")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT kind, person_id, status, answered, round_id, message_ref"
                        " FROM deliveries ORDER BY kind"
                    )
                )
            ).all()
        notices = [r for r in rows if r.kind == "closed_notice"]
        assert [r.kind for r in rows if r.kind != "closed_notice"] == ["summary"]
        assert len(notices) == 2
        assert {(r.person_id, r.status, bool(r.answered), r.round_id) for r in notices} == {
            (None, "pending", False, round_id)
        }
        loaded = [
            r.message_ref if isinstance(r.message_ref, dict) else json.loads(r.message_ref)
            for r in notices
        ]
        assert sorted(ref["message_id"] for ref in loaded) == ["1.1", "1.2"]
        await asyncio.to_thread(upgrade, db_url)
        await _takes_the_kind_again_then_empty(engine, round_id, "notice_batch")
    finally:
        await engine.dispose()


async def _takes_the_kind_again_then_empty(engine: AsyncEngine, round_id: int, kind: str) -> None:
    """Upgraded again, the database accepts a delivery of `kind` (a constraint the downgrade
    narrowed is widened back); then the test's rows go, for the next test on the database."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO deliveries (id, round_id, kind, not_before, status, attempts,"
                " lookups, answered) VALUES ('again', :round, :kind, '2026-11-25 09:00:00',"
                " 'pending', 0, 0, false)"
            ),
            {"round": round_id, "kind": kind},
        )
        for table in ("deliveries", "rounds", "teams", "workspaces"):
            await conn.execute(text(f"DELETE FROM {table}"))
