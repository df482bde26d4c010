"""Regression tests for defects a review found: races, leaks through indicators, stuck
deliveries, polite failures. Each failed before its fix."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot.admin import operations as admin
from bot.admin.records import audit_list
from bot.core.clock import ManualClock
from bot.core.ports import DeliveryError
from bot.delivery.dispatcher import MAX_ATTEMPTS, Dispatcher
from bot.delivery.scheduler import RoundScheduler
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import close_round, open_round, skip_round
from bot.rounds.summary import team_summary
from bot.server.cli import main
from storage import repositories as repo
from storage.models import Answer, Delivery, Person, Round, Team, Workspace
from storage.values import CadenceKind, MembershipRole
from tests.conftest import START, World, until_a_session_waits_on_a_lock
from tests.fakes.adapter import FakeAdapter, RecoverableFakeAdapter


def scores(**values: int) -> Scores:
    return Scores(
        {k: values.get(k, 3) for k in ("assess", "routine", "training", "strengths", "path")}, None
    )


async def test_a_check_in_racing_a_close_is_counted_or_not_stored_never_left_behind(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check-in's transaction held open between its compare-and-set and its answer while
    the close starts. (On PostgreSQL a check-in is stored by one statement, which cannot be
    held half-way: turned off here; the next test races that one.)"""
    ctx = world.ctx
    monkeypatch.setattr(repo, "stores_at_once", lambda _engine: False)
    await open_round(ctx, world.cli, world.team)
    for person in world.members[1:]:
        await record_checkin(ctx, await world.actor(person), scores())
    holding, go = asyncio.Event(), asyncio.Event()
    original = repo.mark_answered

    async def held(session: Any, delivery_id: str) -> bool:
        ok = await original(session, delivery_id)
        holding.set()
        await go.wait()  # the check-in's transaction stays open while the close starts
        return ok

    repo.mark_answered = held
    try:
        checkin = asyncio.get_running_loop().create_task(
            record_checkin(ctx, await world.actor(world.members[0]), scores())
        )
        await holding.wait()
        repo.mark_answered = original
        closing = asyncio.get_running_loop().create_task(close_round(ctx, world.cli, world.team))
        try:
            if ctx.database.dialect.name == "postgresql":  # until the close waits on its lock
                await until_a_session_waits_on_a_lock(ctx)
        finally:
            go.set()
        result = await checkin
        outcome = await closing
    finally:
        repo.mark_answered = original
    assert outcome.release is not None
    assert (result.outcome, outcome.release.respondents) in (
        (Outcome.STORED, 6),
        (Outcome.PRIVATE, 5),
    )
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Answer)) == 0


async def test_a_one_statement_check_in_waiting_on_a_close_stores_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a close holds the round's row lock, and a check-in's one statement waits
    on it (its share lock of the round). When the close commits, the statement finds the
    round closed and stores nothing (no answer outside the release), and the transaction it
    falls back to says there is no round."""
    ctx = world.ctx
    if ctx.database.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's one-statement check-in")
    await open_round(ctx, world.cli, world.team)
    for person in world.members[1:]:
        await record_checkin(ctx, await world.actor(person), scores())
    holding, go = asyncio.Event(), asyncio.Event()
    totals = repo.answer_totals

    async def held(*args: Any, **kwargs: Any) -> Any:
        found = await totals(*args, **kwargs)
        holding.set()
        await go.wait()  # the close holds the round's lock
        return found

    monkeypatch.setattr(repo, "answer_totals", held)
    closing = asyncio.get_running_loop().create_task(close_round(ctx, world.cli, world.team))
    await holding.wait()
    member = await world.actor(world.members[0])
    checkin = asyncio.get_running_loop().create_task(record_checkin(ctx, member, scores()))
    try:
        await until_a_session_waits_on_a_lock(ctx)
        assert not checkin.done()
    finally:
        go.set()
    outcome = await closing
    result = await checkin
    assert outcome.release is not None
    assert (result.outcome, outcome.release.respondents) == (Outcome.PRIVATE, 5)
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Answer)) == 0
        delivered = select(func.count()).select_from(Delivery).where(Delivery.answered)
        assert await session.scalar(delivered) == 0


async def test_a_member_removed_then_made_manager_does_not_see_their_round(world: World) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    for person in world.members:
        await record_checkin(ctx, await world.actor(person), scores(routine=1))
    await admin.set_members(
        ctx, world.cli, "Platform", ["u0"], role=MembershipRole.MEMBER, add=False
    )
    await admin.set_members(
        ctx, world.cli, "Platform", ["u0"], role=MembershipRole.MANAGER, add=True
    )
    await close_round(ctx, world.cli, world.team)
    async with ctx.sessions() as session:
        summaries = (
            await session.scalars(select(Delivery.person_id).where(Delivery.kind == "summary"))
        ).all()
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        seen = await team_summary(session, workspace, world.team, viewer_id=world.members[0].id)
    assert summaries == [world.manager.id]
    assert seen.to_json()["status"] == "none"


async def test_a_hidden_round_does_not_leak_through_change_or_streak(
    world: World, clock: ManualClock
) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    for person in world.members:
        await record_checkin(ctx, await world.actor(person), scores(routine=1))
    await admin.set_members(
        ctx, world.cli, "Platform", ["u0"], role=MembershipRole.MANAGER, add=True
    )
    await close_round(ctx, world.cli, world.team)  # u0 answered in this one: hidden from u0
    clock.advance(timedelta(days=7))
    await open_round(ctx, world.cli, world.team)
    for person in world.members[1:]:
        await record_checkin(ctx, await world.actor(person), scores(routine=2))
    await close_round(ctx, world.cli, world.team)
    async with ctx.sessions() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        as_u0 = await team_summary(session, workspace, world.team, viewer_id=world.members[0].id)
        as_boss = await team_summary(session, workspace, world.team, viewer_id=world.manager.id)
    assert as_boss.to_json()["practices"]["routine"] == {
        "mean": 2.0,
        "low_share": 1.0,
        "change": 1.0,
        "low_streak": 2,
    }
    assert as_u0.to_json()["practices"]["routine"] == {
        "mean": 2.0,
        "low_share": 1.0,
        "change": None,
        "low_streak": 1,
    }


async def test_an_unexpected_transport_error_neither_cancels_the_batch_nor_loops_forever(
    world: World, clock: ManualClock
) -> None:
    adapter = FakeAdapter()
    adapter.failures["u0"] = aiohttp.ServerDisconnectedError()
    dispatcher = Dispatcher(world.ctx, {"playground": adapter})
    await open_round(world.ctx, world.cli, world.team)
    assert await dispatcher.run_once() == 5
    assert adapter.to() == [f"u{i}" for i in range(1, 6)]
    for _ in range(MAX_ATTEMPTS + 2):
        clock.advance(timedelta(hours=1))
        await dispatcher.run_once()
    async with world.ctx.sessions() as session:
        state = await session.scalar(
            select(Delivery.status)
            .join(Person, Person.id == Delivery.person_id)
            .where(Person.user_id == "u0")
        )
    assert state == "failed" and len(adapter.sent) == 5


async def test_a_failed_recovery_lookup_looks_again_before_sending(
    world: World, clock: ManualClock
) -> None:
    adapter = RecoverableFakeAdapter()
    adapter.lookup_faults.append(DeliveryError("connection: TimeoutError", permanent=False))
    dispatcher = Dispatcher(world.ctx, {"playground": adapter})
    await open_round(world.ctx, world.cli, world.team)
    async with world.ctx.sessions.begin() as session:
        delivery_id = await session.scalar(
            select(Delivery.id)
            .join(Person, Person.id == Delivery.person_id)
            .where(Person.user_id == "u0")
        )
        await session.execute(  # the platform accepted u0's prompt; the process died before committing
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status="sending", attempts=1, lease_until=clock.now() - timedelta(seconds=1))
        )
    adapter.has.add(str(delivery_id))
    await dispatcher.run_once()  # the first lookup times out
    clock.advance(timedelta(minutes=5))
    await dispatcher.run_once()
    assert len(adapter.looked_up) == 2 and "u0" not in adapter.to()


async def test_no_summary_for_someone_no_longer_managing(world: World) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    await close_round(ctx, world.cli, world.team)
    await admin.set_members(
        ctx, world.cli, "Platform", ["boss"], role=MembershipRole.MANAGER, add=False
    )
    adapter = FakeAdapter()
    await Dispatcher(ctx, {"playground": adapter}).run_once()
    assert "boss" not in adapter.to()


async def test_member_local_prompts_and_the_round_window_use_one_fallback_zone(
    world: World, clock: ManualClock
) -> None:
    ctx = world.ctx
    async with ctx.sessions.begin() as session:
        await session.execute(update(Workspace).values(timezone="UTC"))
        await session.execute(update(Team).values(timezone="America/Los_Angeles"))
        await session.execute(update(Person).values(timezone=None))  # not seen yet: no zone
    clock.set(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    await admin.schedule_set(
        ctx,
        world.cli,
        "Platform",
        cadence=CadenceKind.WEEKLY,
        weekday="thu",
        time="09:00",
        member_local=True,
        close_after="24h",
        remind_after="12h",
    )
    clock.set(datetime(2026, 11, 26, 17, 30, tzinfo=UTC))  # 09:30 in Los Angeles
    assert (await RoundScheduler(ctx).run_once()).opened == ["Platform 2026-W48"]
    async with ctx.sessions() as session:
        rnd = await session.scalar(select(Round))
        not_before = set((await session.scalars(select(Delivery.not_before))).all())
    assert rnd is not None and not_before == {rnd.opens_at}
    assert rnd.closes_at - rnd.opens_at == timedelta(hours=24)


async def test_skip_uses_the_schedule_period_key(world: World) -> None:
    await admin.schedule_set(
        world.ctx,
        world.cli,
        "Platform",
        cadence=CadenceKind.MONTHLY,
        weekday="mon",
        time="09:00",
        week_of_month="1",
    )
    skipped = await skip_round(world.ctx, world.cli, world.team)
    assert skipped.round.period == "2026-11"


async def test_erasing_a_person_scrubs_their_id_from_audit_details(world: World) -> None:
    await admin.set_members(
        world.ctx, world.cli, "Platform", ["u1", "u2"], role=MembershipRole.MEMBER, add=False
    )
    await admin.remove_people(world.ctx, world.cli, ["u1"])
    details = str([event["detail"] for event in await audit_list(world.ctx, world.workspace)])
    assert "'u1'" not in details and "'u2'" in details and "erased person" in details


def test_a_retention_past_the_calendar_is_refused(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", sqlite_url)
    assert (
        main(
            ["workspace", "add", "--platform", "slack", "--external-id", "T1"],
            clock=ManualClock(START),
        )
        == 0
    )
    assert main(["workspace", "set", "--retention-days", "1000000"], clock=ManualClock(START)) == 2
    assert "at most 36500 days" in capsys.readouterr().err
    assert main(["purge"], clock=ManualClock(START)) == 0
