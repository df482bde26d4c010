"""Every showing of a team's summary goes through one flow (bot/chat/showing.py), and each way
in leaves the same audit event: who, which team, which period, and by which way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.events import HomeOpened
from bot.delivery.dispatcher import Dispatcher
from bot.rounds.lifecycle import close_round, open_round
from bot.server.cli import main
from storage.models import AuditEvent, Membership, Team
from tests.conftest import World
from tests.fakes.adapter import FakeAdapter
from tests.helpers import checkin, command, where

PERIOD = "2026-W48"


async def views(ctx: Context) -> list[tuple[Any, ...]]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(
                AuditEvent.actor_person_id,
                AuditEvent.actor_label,
                AuditEvent.team_id,
                AuditEvent.detail,
            )
            .where(AuditEvent.action == "summary_viewed")
            .order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]


async def test_each_way_in_audits_the_view_alike(world: World, ctx: Context) -> None:
    engine, adapter = ChatEngine(ctx), FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    boss, team = world.manager.id, world.team.id
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await engine.handle(command("boss", "/rut summary"))  # nothing closed yet: no period
    for user in ("u0", "u1", "u2", "u3", "u4"):
        await engine.handle(checkin(user))
    await close_round(ctx, world.cli, world.team)
    await dispatcher.run_once()  # the release, pushed to the manager
    assert adapter.to("summary") == ["boss"]
    await engine.handle(command("boss", "/rut summary Platform"))
    home = await engine.handle(
        HomeOpened(event_id="home-boss", where=where("boss"), user_id="boss")
    )
    assert any("home_summary" in message.tags for message in home)

    assert await views(ctx) == [
        (boss, "Boss", team, {"period": None, "via": "chat"}),
        (boss, "Boss", team, {"period": PERIOD, "via": "delivery"}),
        (boss, "Boss", team, {"period": PERIOD, "via": "chat"}),
        (boss, "Boss", team, {"period": PERIOD, "via": "home"}),
    ]


async def test_the_overview_audits_each_team_it_shows(world: World, ctx: Context) -> None:
    async with ctx.sessions.begin() as session:
        data = Team(workspace_id=world.workspace.id, name="Data")
        session.add(data)
        await session.flush()
        session.add(Membership(person_id=world.manager.id, team_id=data.id, role="manager"))
    await open_round(ctx, world.cli, world.team)
    await close_round(ctx, world.cli, world.team)
    overview = (await ChatEngine(ctx).handle(command("boss", "/rut summary")))[0]
    assert "summary_overview" in overview.tags
    boss = world.manager.id
    assert await views(ctx) == [
        (boss, "Boss", data.id, {"period": None, "via": "chat"}),
        (boss, "Boss", world.team.id, {"period": PERIOD, "via": "chat"}),
    ]


async def test_the_command_line_audits_its_view_and_not_a_refused_one(
    world: World, ctx: Context, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", db_url)

    def rutradar(*argv: str) -> int:  # in a thread: the CLI runs its own event loop
        return main(list(argv), clock=ManualClock(clock.now()))

    await open_round(ctx, world.cli, world.team)
    await close_round(ctx, world.cli, world.team)
    assert await asyncio.to_thread(rutradar, "summary", "Platform", "--json") == 0
    assert await asyncio.to_thread(rutradar, "summary", "Platform", "--period", PERIOD) == 0
    assert await asyncio.to_thread(rutradar, "summary", "Platform", "--period", "2026-W01") == 2
    shown = (None, "command line", world.team.id, {"period": PERIOD, "via": "cli"})
    assert await views(ctx) == [shown, shown]
