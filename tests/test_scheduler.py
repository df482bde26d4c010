"""The scheduled life of a round, driven by the injected clock: open on time (team zone or
each member's own morning), remind once, close on time, summaries to managers, catch-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from bot.admin.operations import round_list, schedule_set
from bot.core.clock import ManualClock
from bot.core.events import ConversationRef
from bot.core.ports import SentRef
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import RoundScheduler, Ticker
from bot.server.app import RUNTIME, build_app, drain
from bot.server.config import Settings
from messages.model import Message
from storage.models import Delivery, Person, Round
from storage.values import CadenceKind
from tests.conftest import World
from tests.fakes.adapter import FakeAdapter


async def weekly(world: World, **extra: Any) -> None:
    """Mondays 10:00 in Europe/Berlin, reminder after a day, close after three."""
    options: dict[str, Any] = {"cadence": CadenceKind.WEEKLY, "weekday": "mon", "time": "10:00"}
    options.update(extra)
    await schedule_set(world.ctx, world.cli, "Platform", **options)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def rounds(world: World) -> dict[str, str]:
    async with world.ctx.sessions() as session:
        return {r.period: r.status for r in (await session.scalars(select(Round))).all()}


async def test_a_weekly_round_opens_reminds_once_closes_and_summarises(
    world: World, clock: ManualClock
) -> None:
    clock.set(at("2026-11-29T12:00"))  # a Sunday: the schedule is set before its first Monday
    await weekly(world)
    scheduler, recorder = RoundScheduler(world.ctx), FakeAdapter()
    dispatcher = Dispatcher(world.ctx, {"playground": recorder})

    clock.set(at("2026-11-30T08:59"))  # 09:59 in Berlin
    assert (await scheduler.run_once()).opened == []
    clock.set(at("2026-11-30T09:00"))  # 10:00 in Berlin
    assert (await scheduler.run_once()).opened == ["Platform 2026-W49"]
    assert (await scheduler.run_once()).opened == []  # idempotent
    assert await dispatcher.run_once() == 6
    assert recorder.to("prompt") == [f"u{i}" for i in range(6)]

    # Two members answer; the rest get one reminder a day later, however often the tick runs.
    async with world.ctx.sessions.begin() as session:
        for user in ("u0", "u1"):
            pid = await session.scalar(select(Person.id).where(Person.user_id == user))
            await session.execute(
                update(Delivery).where(Delivery.person_id == pid).values(answered=True)
            )
    clock.set(at("2026-12-01T08:59"))
    assert (await scheduler.run_once()).reminders == 0
    clock.set(at("2026-12-01T09:00"))
    assert (await scheduler.run_once()).reminders == 4
    assert (await scheduler.run_once()).reminders == 0
    # One more answers after the reminder was queued but before it went out: not reminded.
    async with world.ctx.sessions.begin() as session:
        pid = await session.scalar(select(Person.id).where(Person.user_id == "u2"))
        await session.execute(
            update(Delivery)
            .where(Delivery.person_id == pid, Delivery.kind == "prompt")
            .values(answered=True)
        )
    await dispatcher.run_once()
    assert recorder.to("reminder") == ["u3", "u4", "u5"]

    # Closed on time, withheld (3 answers flagged but no answers stored), summary to the manager.
    clock.set(at("2026-12-03T08:59"))
    assert (await scheduler.run_once()).closed == []
    clock.set(at("2026-12-03T09:00"))
    assert (await scheduler.run_once()).closed == ["Platform 2026-W49"]
    assert (await rounds(world))["2026-W49"] in ("released", "withheld")
    await dispatcher.run_once()
    assert recorder.to("summary") == ["boss"]
    assert (await scheduler.run_once()).closed == []


async def test_dst_keeps_the_local_hour(world: World, clock: ManualClock) -> None:
    clock.set(at("2026-03-20T12:00"))
    await weekly(world)
    scheduler = RoundScheduler(world.ctx)
    # 2026-03-23 is before the change (CET, UTC+1); 2026-03-30 after it (CEST, UTC+2).
    clock.set(at("2026-03-23T09:00"))
    assert (await scheduler.run_once()).opened == ["Platform 2026-W13"]
    clock.set(at("2026-03-26T09:00"))
    await scheduler.run_once()  # closes W13
    clock.set(at("2026-03-30T07:59"))
    assert (await scheduler.run_once()).opened == []
    clock.set(at("2026-03-30T08:00"))  # 10:00 CEST
    assert (await scheduler.run_once()).opened == ["Platform 2026-W14"]


async def test_catch_up_opens_the_current_period_only(world: World, clock: ManualClock) -> None:
    clock.set(at("2026-11-29T12:00"))
    await weekly(world)
    clock.set(at("2026-12-22T12:00"))  # down for three weeks; now Tuesday of W52, inside its window
    report = await RoundScheduler(world.ctx).run_once()
    assert report.opened == ["Platform 2026-W52"]
    assert report.skipped == ["Platform 2026-W49", "Platform 2026-W50", "Platform 2026-W51"]
    listed = await round_list(world.ctx, world.cli, "Platform")
    assert "2026-W50: skipped" in listed.text and "2026-W52: open" in listed.text


async def test_downtime_past_the_window_opens_nothing(world: World, clock: ManualClock) -> None:
    clock.set(at("2026-11-29T12:00"))
    await weekly(world)
    clock.set(at("2026-12-04T12:00"))  # Friday: W49's window (Mon 10:00 + 72 h) has passed
    report = await RoundScheduler(world.ctx).run_once()
    assert report.opened == [] and report.skipped == ["Platform 2026-W49"]


async def test_member_local_fan_out_across_five_zones(world: World, clock: ManualClock) -> None:
    zones = [
        "Pacific/Auckland",
        "Asia/Tokyo",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
        "UTC",
    ]
    async with world.ctx.sessions.begin() as session:
        for person, zone in zip(world.members, zones, strict=True):
            await session.execute(
                update(Person).where(Person.id == person.id).values(timezone=zone)
            )
    clock.set(at("2026-11-25T12:00"))
    await weekly(world, time="09:00", member_local=True, close_after="48h")
    scheduler, recorder = RoundScheduler(world.ctx), FakeAdapter()
    dispatcher = Dispatcher(world.ctx, {"playground": recorder})

    clock.set(at("2026-11-29T20:00"))  # Monday 09:00 in Auckland
    assert (await scheduler.run_once()).opened == ["Platform 2026-W49"]
    async with world.ctx.sessions() as session:
        rows = dict(
            (
                await session.execute(
                    select(Person.timezone, Delivery.not_before).join(
                        Person, Person.id == Delivery.person_id
                    )
                )
            ).all()
        )
    for member_zone, not_before in rows.items():
        assert member_zone is not None
        local = not_before.astimezone(ZoneInfo(member_zone))
        assert (local.hour, local.minute, local.weekday()) == (9, 0, 0), member_zone
    assert await dispatcher.run_once() == 1 and recorder.to("prompt") == ["u0"]  # only Auckland yet
    clock.set(at("2026-11-30T17:00"))  # Monday 09:00 in Los Angeles
    assert await dispatcher.run_once() == 5
    async with world.ctx.sessions() as session:
        rnd = await session.scalar(select(Round))
    assert rnd is not None and rnd.closes_at == at("2026-11-30T17:00") + timedelta(hours=48)


async def test_an_edit_through_another_replica_takes_effect_without_restart(
    world: World, clock: ManualClock
) -> None:
    clock.set(at("2026-11-29T12:00"))
    await weekly(world)
    scheduler = RoundScheduler(world.ctx)  # built once, like a running replica
    await weekly(world, weekday="tue")  # the edit, as another process would make it
    clock.set(at("2026-11-30T09:00"))
    assert (await scheduler.run_once()).opened == []
    clock.set(at("2026-12-01T09:00"))
    assert (await scheduler.run_once()).opened == ["Platform 2026-W49"]


async def test_disabled_schedules_open_nothing(world: World, clock: ManualClock) -> None:
    from bot.admin.operations import schedule_enable

    clock.set(at("2026-11-29T12:00"))
    await weekly(world)
    await schedule_enable(world.ctx, world.cli, "Platform", enabled=False)
    clock.set(at("2026-11-30T09:00"))
    assert (await RoundScheduler(world.ctx).run_once()).opened == []


async def test_the_ticker_runs_a_pass_in_the_task_group_and_stops(world: World) -> None:
    ticker = Ticker(RoundScheduler(world.ctx), seconds=3600)
    worker = asyncio.get_running_loop().create_task(ticker.run())
    ticker.start()  # rings once at start-up: the catch-up pass
    await asyncio.wait_for(ticker.wait_for_passes(1), timeout=30)
    assert ticker.passes == 1
    ticker.stop()
    await asyncio.wait_for(worker, timeout=5)


async def test_readyz_answers_503_while_draining(sqlite_url: str, clock: ManualClock) -> None:
    app = build_app(
        Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True),
        clock=clock,
        background=False,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/readyz")).status == 200
        drain(app[RUNTIME])
        response = await client.get("/readyz")
        assert response.status == 503 and (await response.json())["status"] == "draining"


async def test_stopping_releases_claimed_but_unsent_deliveries(world: World) -> None:
    class Stopper(FakeAdapter):
        dispatcher: Dispatcher

        async def send(
            self, to: ConversationRef, msg: Message, *, key: str | None = None
        ) -> SentRef:
            self.dispatcher.stop()  # SIGTERM arrives during the first send
            return await super().send(to, msg, key=key)

    from bot.rounds.lifecycle import open_round

    recorder = Stopper()
    dispatcher = Dispatcher(world.ctx, {"playground": recorder}, concurrency=1)
    recorder.dispatcher = dispatcher
    await open_round(world.ctx, world.cli, world.team)
    assert await dispatcher.run_once() == 1
    async with world.ctx.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                )
            ).all()
        )
    assert states == {"sent": 1, "pending": 5}  # the in-flight send finished; the rest handed back


@pytest.mark.parametrize("close_after", ["7d", "8d"])
async def test_close_after_must_be_shorter_than_the_cadence(world: World, close_after: str) -> None:
    from bot.core.errors import UsageError

    with pytest.raises(UsageError, match="never overlap"):
        await weekly(world, close_after=close_after)
