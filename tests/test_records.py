"""Exports (releases only), the audit trail, retention, and an admin erasing a person."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.admin.operations import remove_people, workspace_set
from bot.admin.records import audit_list, export_releases, purge
from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.core.errors import ConflictError, UsageError
from bot.rounds.lifecycle import close_round, open_round
from storage.models import AuditEvent, Delivery, Person, ProcessedEvent, Release, Round
from tests.conftest import World
from tests.helpers import checkin


async def released_round(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(5):
        await engine.handle(
            checkin(f"u{i}", routine=1 + i % 2, comment="Fewer meetings", share=True)
        )
    await close_round(world.ctx, world.cli, world.team)


async def test_export_holds_releases_only_and_is_audited(world: World) -> None:
    await released_round(world)
    as_json = json.loads(await export_releases(world.ctx, world.cli, "Platform", "json"))
    [release] = as_json["releases"]
    assert release["status"] == "released" and release["respondents"] == 5
    assert release["practices"]["routine"]["mean"] == 1.4
    rows = list(
        csv.DictReader(io.StringIO(await export_releases(world.ctx, world.cli, "Platform", "csv")))
    )
    assert rows[0]["routine_mean"] == "1.4" and rows[0]["attention"] == "routine"
    text = json.dumps(as_json) + str(rows)
    for user in ("u0", "u1", "U0"):
        assert user not in text
    events = await audit_list(world.ctx, world.workspace)
    assert [e["action"] for e in events[:2]] == ["results_exported", "results_exported"]
    with pytest.raises(UsageError, match="csv or json"):
        await export_releases(world.ctx, world.cli, "Platform", "xml")


async def test_retention_purges_old_releases_and_old_event_ids(
    world: World, clock: ManualClock
) -> None:
    await released_round(world)
    async with world.ctx.sessions.begin() as session:
        session.add(ProcessedEvent(event_id="old", seen_at=clock.now()))
    assert (await purge(world.ctx))["rounds"] == 0  # no retention set: kept
    await workspace_set(world.ctx, world.cli, retention_days="30")
    clock.advance(timedelta(days=29))
    assert await purge(world.ctx) == {"rounds": 0, "processed_events": 6}  # 5 check-ins + "old"
    clock.advance(timedelta(days=2))
    assert await purge(world.ctx) == {"rounds": 1, "processed_events": 0}
    async with world.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Release)) == 0
        assert await session.scalar(select(func.count()).select_from(Round)) == 0
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "releases_purged" in actions


async def test_an_admin_removing_a_person_erases_them_like_forget_me(world: World) -> None:
    await open_round(world.ctx, world.cli, world.team)
    await ChatEngine(world.ctx).handle(checkin("u3"))
    admin = await world.actor(world.admin)
    result = await remove_people(world.ctx, admin, ["u3"])
    assert "Erased u3" in result.text
    async with world.ctx.sessions() as session:
        assert await session.scalar(select(Person).where(Person.user_id == "u3")) is None
        kept = (await session.scalars(select(Delivery).where(Delivery.person_id.is_(None)))).all()
    assert len(kept) == 1 and kept[0].answered  # counts stay true
    with pytest.raises(ConflictError, match="forget-me"):
        await remove_people(world.ctx, admin, ["root"])
    with pytest.raises(UsageError):
        await remove_people(world.ctx, admin, ["nobody"])


async def test_a_person_named_like_a_system_actor_is_shown_by_their_name(world: World) -> None:
    """Attack on the trail's "who": a manager who names themselves "command line" views the
    results; `audit list` must not show that view as the command line's (in any language)."""
    from bot.core.audit import AuditAction, record

    async with world.ctx.sessions.begin() as session:
        boss = await session.scalar(select(Person).where(Person.user_id == "boss"))
        assert boss is not None
        boss.display_name = "command line"
    actor = await world.actor(world.manager)
    async with world.ctx.sessions.begin() as session:
        record(session, actor, AuditAction.SUMMARY_VIEWED, world.ctx.clock.now(), via="chat")
        record(session, world.cli, AuditAction.SUMMARY_VIEWED, world.ctx.clock.now(), via="cli")
    rows = [
        r for r in await audit_list(world.ctx, world.workspace) if r["action"] == "summary_viewed"
    ]
    assert sorted((r["actor"], r["system"]) for r in rows) == [
        ("command line", False),
        ("command line", True),
    ]
