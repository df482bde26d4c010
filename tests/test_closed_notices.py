"""Prompts of a closed round say so, durably, without keeping anyone's link to the round.

The close queues one `closed_notice` per sent prompt, before the prompt rows go: no person, not
answered, identical for answered and unanswered prompts but for the message reference. The
dispatcher edits each prompt through `Adapter.update` and deletes the notice. On SQLite and
PostgreSQL (several NULL person ids under the unique (round, person, kind)); the Slack side is
in tests/test_slack_rounds.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.admin import operations as admin
from bot.core.clock import ManualClock
from bot.core.ports import DeliveryError, SentRef
from bot.delivery.dispatcher import MAX_ATTEMPTS, Dispatcher
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import close_round, open_round
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from messages.model import Buttons
from storage.models import Delivery, Workspace
from tests.conftest import World, build_world
from tests.fakes.adapter import FakeAdapter

CLOSED = "The 2026-W48 check-in closed on Wed 25 Nov."


def scores() -> Scores:
    return Scores({k: 3 for k in ("assess", "routine", "training", "strengths", "path")}, None)


async def deliveries(world: World, kind: str) -> list[Delivery]:
    async with world.ctx.sessions() as session:
        return list((await session.scalars(select(Delivery).where(Delivery.kind == kind))).all())


def columns(delivery: Delivery, *, leave_out: tuple[str, ...]) -> dict[str, Any]:
    return {
        c.key: getattr(delivery, c.key)
        for c in Delivery.__table__.columns
        if c.key not in leave_out
    }


async def test_each_sent_prompt_is_edited_once_and_the_notices_link_no_one(world: World) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    # u5 is never reached: nothing on the platform to edit.
    adapter.failures["u5"] = DeliveryError("user_not_found", permanent=True)
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    assert await dispatcher.run_once() == 5
    prompts = {s.ref for s in adapter.sent}
    for person in world.members[:2]:  # u0 and u1 answer
        result = await record_checkin(ctx, await world.actor(person), scores())
        assert result.outcome is Outcome.STORED
    await close_round(ctx, world.cli, world.team)

    notices = await deliveries(world, "closed_notice")
    assert await deliveries(world, "prompt") == []
    assert {SentRef.from_json(d.message_ref or {}) for d in notices} == prompts
    assert len(notices) == 5
    # Answered or not, the rows are the same but for their random id and the prompt's ref.
    alike = [columns(d, leave_out=("id", "message_ref")) for d in notices]
    assert all(row == alike[0] for row in alike), alike
    assert alike[0]["person_id"] is None and alike[0]["answered"] is False
    assert alike[0]["status"] == "pending" and alike[0]["lookups"] == 0
    for d in notices:  # nothing but the platform's reference names anyone
        assert set(d.message_ref or {}) == {"platform", "channel_id", "message_id"}

    assert await dispatcher.run_once() == 1  # the summary; an edit is not a send
    assert sorted(ref.message_id for ref, _ in adapter.updates) == sorted(
        ref.message_id for ref in prompts
    )
    messages = {msg for _, msg in adapter.updates}
    assert len(messages) == 1  # one text for everyone
    (shown,) = messages
    assert shown.fallback == CLOSED
    assert not any(isinstance(block, Buttons) for block in shown.blocks)
    assert await deliveries(world, "closed_notice") == []
    await dispatcher.run_once()
    assert len(adapter.updates) == 5


async def test_the_next_opening_comes_from_the_schedule_in_the_workspace_locale(
    world: World, clock: ManualClock
) -> None:
    ctx = world.ctx
    async with ctx.sessions.begin() as session:
        await session.execute(update(Workspace).values(locale="de"))
    await admin.schedule_set(
        ctx, world.cli, "Platform", cadence="weekly", weekday="mon", time="10:00"
    )
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)  # by hand, Wed 25 Nov: period 2026-W48
    await dispatcher.run_once()
    clock.advance(timedelta(days=1))
    await close_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    texts = {msg.fallback for _, msg in adapter.updates}
    assert texts == {
        "Der Check-in für 2026-W48 wurde am Do., 26. November geschlossen; "
        "der nächste beginnt am Mo., 30. November."
    }


async def test_a_refused_edit_is_dropped_and_a_transient_one_retried(
    world: World, clock: ManualClock
) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await close_round(ctx, world.cli, world.team)
    adapter.update_faults = [
        DeliveryError("message_not_found", permanent=True),  # deleted by the member: give up
        DeliveryError("internal_error", permanent=False),  # try again later
    ]
    await dispatcher.run_once()
    assert len(adapter.updates) == 4
    (waiting,) = await deliveries(world, "closed_notice")
    assert waiting.status == "pending" and waiting.next_attempt_at is not None
    clock.set(waiting.next_attempt_at + timedelta(seconds=1))
    await dispatcher.run_once()
    assert len(adapter.updates) == 5
    assert await deliveries(world, "closed_notice") == []


async def test_an_edit_that_keeps_failing_is_given_up(world: World, clock: ManualClock) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await close_round(ctx, world.cli, world.team)
    adapter.update_faults = [DeliveryError("internal_error", permanent=False)] * 1000
    for _ in range(MAX_ATTEMPTS + 1):
        await dispatcher.run_once()
        clock.advance(timedelta(hours=1))
    assert adapter.updates == [] and await deliveries(world, "closed_notice") == []


# --- the playground: the member's inbox shows the edit --------------------------------------


@pytest.fixture
async def playground(
    sqlite_url: str, clock: ManualClock
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], World]]:
    settings = Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True)
    app = build_app(settings, clock=clock, background=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, await build_world(app[RUNTIME].ctx)


async def test_the_playground_prompt_is_edited_in_place(
    playground: tuple[TestClient[web.Request, web.Application], World],
) -> None:
    client, world = playground
    runtime = client.app[RUNTIME]

    async def inbox(after: int = 0) -> list[dict[str, Any]]:
        response = await client.get(
            "/playground/api/inbox", params={"workspace": "T0001", "user": "u0", "after": after}
        )
        return list((await response.json())["messages"])

    await open_round(runtime.ctx, world.cli, world.team)
    await runtime.dispatcher.run_once()
    (prompt,) = await inbox()
    assert "prompt" in prompt["tags"] and "<button" in prompt["html"]

    await close_round(runtime.ctx, world.cli, world.team)
    await runtime.dispatcher.run_once()
    (edited,) = await inbox(after=prompt["rev"])
    assert edited["id"] == prompt["id"]  # the same message, changed in place
    assert edited["text"] == CLOSED and CLOSED in edited["html"]
    assert "<button" not in edited["html"]
    assert await deliveries(world, "closed_notice") == []
