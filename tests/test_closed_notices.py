"""Sent prompts are edited through the outbox, durably, without keeping anyone's link to the
round: "checked in" once answered, "closed" once the round closes.

The close queues one `closed_notice` per sent prompt, before the prompt rows go: no person, not
answered, identical for answered and unanswered prompts but for the message reference. A
check-in queues one `checked_in` edit in its own transaction: no person, no time of
answering, deleted once made, and with the round's raw data at close. The dispatcher edits
each prompt through `Adapter.update` and deletes the row. On SQLite and PostgreSQL (several
NULL person ids under the unique (round, person, kind)); the Slack side is in
tests/test_slack_rounds.py, the attacker's view in tests/test_privacy_attacks.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text, update

from bot.admin import operations as admin
from bot.admin.privacy import forget_person
from bot.core.clock import ManualClock
from bot.core.ports import DeliveryError, SentRef
from bot.delivery import dispatcher as dispatcher_module
from bot.delivery.dispatcher import MAX_ATTEMPTS, Dispatcher
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import close_round, open_round
from bot.rounds.notices import expand_closed_notices
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from messages.copy import copy_for
from messages.model import Buttons
from storage import repositories as repo
from storage.models import Delivery, Person, Workspace
from storage.values import CadenceKind, DeliveryStatus
from tests.conftest import World, build_world
from tests.fakes.adapter import FakeAdapter

CLOSED = "The 2026-W48 check-in closed on Wed 25 Nov."
CHECKED_IN = "You checked in for 2026-W48. Thank you!"


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

    # The close queued them as one batch: the references alone, no person, not answered.
    (batch,) = await deliveries(world, "notice_batch")
    assert (batch.person_id, batch.answered, batch.status) == (None, False, "pending")
    assert set(batch.message_ref or {}) == {"refs"}
    assert {SentRef.from_json(ref) for ref in (batch.message_ref or {})["refs"]} == prompts
    assert await deliveries(world, "closed_notice") == []
    assert await expand_closed_notices(ctx.sessions) == 5  # as the dispatcher's pass does
    assert await deliveries(world, "notice_batch") == []

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
        ctx, world.cli, "Platform", cadence=CadenceKind.WEEKLY, weekday="mon", time="10:00"
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


# --- "you checked in": queued with the answer, edited from the outbox -------------------------


async def test_a_check_in_queues_its_prompt_edit_in_its_transaction_and_links_no_one(
    world: World, clock: ManualClock
) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    outcome = await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    for person in world.members[:3]:  # three answer, minutes apart
        clock.advance(timedelta(minutes=7))
        result = await record_checkin(ctx, await world.actor(person), scores())
        assert result.outcome is Outcome.STORED and result.edit_queued

    edits = await deliveries(world, "checked_in")
    assert {SentRef.from_json(d.message_ref or {}) for d in edits} == {
        adapter.ref_of(p.user_id) for p in world.members[:3]
    }
    # The same row for each of them but for the prompt's reference: no person, not answered,
    # and no time of answering (due since the round opened, whenever the answer came).
    alike = [columns(d, leave_out=("id", "message_ref")) for d in edits]
    assert all(row == alike[0] for row in alike), alike
    assert alike[0]["person_id"] is None and alike[0]["answered"] is False
    assert alike[0]["not_before"] == outcome.round.opens_at
    assert alike[0]["next_attempt_at"] is None and alike[0]["lease_until"] is None
    for d in edits:  # the reference and the locale its prompt was written in: nothing else
        assert d.message_ref is not None and d.message_ref["locale"] == "en"
        assert set(d.message_ref) == {"platform", "channel_id", "message_id", "locale"}

    assert await dispatcher.run_once() == 0  # an edit is not a send
    assert {ref for ref, _ in adapter.updates} == {
        adapter.ref_of(p.user_id) for p in world.members[:3]
    }
    assert {msg.fallback for _, msg in adapter.updates} == {CHECKED_IN}
    assert not any(isinstance(b, Buttons) for _, msg in adapter.updates for b in msg.blocks)
    assert await deliveries(world, "checked_in") == []  # gone once made
    await dispatcher.run_once()
    assert len(adapter.updates) == 3


async def test_the_edit_speaks_the_language_the_prompt_was_written_in(world: World) -> None:
    ctx = world.ctx
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(Person).where(Person.id == world.members[0].id).values(locale="de")
        )
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await record_checkin(ctx, await world.actor(world.members[0]), scores())
    await dispatcher.run_once()
    [(_, message)] = adapter.updates
    assert message.fallback == copy_for("de").say("prompt_done", period="2026-W48")
    assert message.fallback != CHECKED_IN


async def test_no_edit_for_a_prompt_that_never_reached_the_platform(world: World) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)  # nothing dispatched yet
    result = await record_checkin(ctx, await world.actor(world.members[0]), scores())
    assert result.outcome is Outcome.STORED and not result.edit_queued
    assert await deliveries(world, "checked_in") == []
    again = await record_checkin(ctx, await world.actor(world.members[0]), scores())
    assert again.outcome is Outcome.ALREADY and await deliveries(world, "checked_in") == []


async def test_a_checked_in_edit_gets_one_try_so_no_row_counts_from_an_answer(
    world: World, clock: ManualClock
) -> None:
    """Attack: the platform is down while people check in, and the database is read then. A
    checked-in edit retried with backoff would keep, beside each member's prompt reference,
    an attempt count and a retry time growing from when they answered (the order and, near
    enough, the time of answering). One try: a failed edit, transient or not, is dropped (the
    closed notice edits the prompt at close), and nothing waits."""
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    adapter.update_faults = [DeliveryError("internal_error", permanent=False)] * 3
    for person in world.members[:3]:  # minutes apart, while the platform fails
        clock.advance(timedelta(minutes=7))
        await record_checkin(ctx, await world.actor(person), scores())
        await dispatcher.run_once()
        assert await deliveries(world, "checked_in") == []
    assert adapter.updates == [] and adapter.update_faults == []
    # A 429 also ends it (the workspace still waits as the platform asked).
    adapter.update_faults = [DeliveryError("ratelimited", permanent=False, retry_after=30)]
    await record_checkin(ctx, await world.actor(world.members[3]), scores())
    await dispatcher.run_once()
    assert await deliveries(world, "checked_in") == []


async def test_the_close_takes_waiting_edits_with_the_rounds_raw_data(world: World) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    for person in world.members[:2]:
        await record_checkin(ctx, await world.actor(person), scores())
    assert len(await deliveries(world, "checked_in")) == 2
    await close_round(ctx, world.cli, world.team)
    assert await deliveries(world, "checked_in") == []  # nothing left to say who answered
    assert await expand_closed_notices(ctx.sessions) == 6
    assert len(await deliveries(world, "closed_notice")) == 6  # one per sent prompt, as ever
    await dispatcher.run_once()
    assert {msg.fallback for _, msg in adapter.updates} == {CLOSED}


async def test_an_edit_loaded_before_the_close_is_not_made_after_it(world: World) -> None:
    """A dispatcher that read the edit while the round was open and reaches it after the
    close (which deleted it) neither edits the prompt nor leaves a row behind."""
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await record_checkin(ctx, await world.actor(world.members[0]), scores())
    claims = await dispatcher._claim(expired=False)
    loaded = await dispatcher._load_many([c.id for c in claims])
    await close_round(ctx, world.cli, world.team)
    for claim in claims:
        await dispatcher._deliver(claim, loaded.get(claim.id))
    assert adapter.updates == []
    assert await deliveries(world, "checked_in") == []


async def test_forget_me_takes_the_waiting_edit_with_it(world: World) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    for person in world.members[:2]:
        await record_checkin(ctx, await world.actor(person), scores())
    await forget_person(ctx, await world.actor(world.members[0]))
    (left,) = await deliveries(world, "checked_in")
    assert SentRef.from_json(left.message_ref or {}) == adapter.ref_of("u1")  # only u1's
    await dispatcher.run_once()
    assert [ref for ref, _ in adapter.updates] == [adapter.ref_of("u1")]


async def test_the_close_batches_the_notices_in_the_order_of_the_prompts_random_ids(
    world: World, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker reading the queued batches after the close learns nothing of who answered:
    every row has the same shape, and the references come in the order of the prompts' ids
    (drawn at random at open, before anyone answered), whatever order the members answered in
    (an answered prompt row moves in PostgreSQL's heap; the batches do not follow it)."""
    monkeypatch.setattr(repo, "NOTICE_BATCH_SIZE", 4)
    ctx = world.ctx
    dispatcher = Dispatcher(ctx, {"playground": FakeAdapter()})
    await open_round(ctx, world.cli, world.team)
    assert await dispatcher.run_once() == 6
    by_message = {
        SentRef.from_json(d.message_ref or {}).message_id: d.id
        for d in await deliveries(world, "prompt")
    }
    for person in reversed(world.members[1::2]):  # u5, u3, u1 answer, in that order
        result = await record_checkin(ctx, await world.actor(person), scores())
        assert result.outcome is Outcome.STORED
    await close_round(ctx, world.cli, world.team)

    batches = await deliveries(world, "notice_batch")
    assert sorted(len((b.message_ref or {})["refs"]) for b in batches) == [2, 4]
    alike = [columns(b, leave_out=("id", "message_ref")) for b in batches]
    assert all(row == alike[0] for row in alike), alike
    assert (alike[0]["person_id"], alike[0]["answered"], alike[0]["status"]) == (
        None,
        False,
        "pending",
    )
    assert (alike[0]["attempts"], alike[0]["lookups"], alike[0]["not_before"]) == (
        0,
        0,
        clock.now(),
    )
    ids = [
        [by_message[SentRef.from_json(ref).message_id] for ref in (b.message_ref or {})["refs"]]
        for b in batches
    ]
    # Each batch in id order, and the batches consecutive stretches of it.
    assert sorted(ids) == [sorted(by_message.values())[:4], sorted(by_message.values())[4:]]

    assert await expand_closed_notices(ctx.sessions) == 6
    assert await expand_closed_notices(ctx.sessions) == 0  # a batch is expanded once
    assert await deliveries(world, "notice_batch") == []
    notices = await deliveries(world, "closed_notice")
    assert sorted(SentRef.from_json(d.message_ref or {}).message_id for d in notices) == sorted(
        by_message
    )
    assert not {d.id for d in notices} & set(by_message.values())  # new random ids
    alike = [columns(d, leave_out=("id", "message_ref")) for d in notices]
    assert all(row == alike[0] for row in alike), alike
    assert (alike[0]["person_id"], alike[0]["answered"], alike[0]["not_before"]) == (
        None,
        False,
        clock.now(),
    )


async def test_the_notices_outlive_a_crash_after_the_close_and_are_made_once(
    world: World,
) -> None:
    """The batches commit with the close: a process that dies before its dispatcher expands
    them loses nothing; the next one (or two at once) makes each notice exactly once."""
    ctx = world.ctx
    before = FakeAdapter()
    await open_round(ctx, world.cli, world.team)
    assert await Dispatcher(ctx, {"playground": before}).run_once() == 6
    await close_round(ctx, world.cli, world.team)  # ... and the process dies here

    assert len(await deliveries(world, "notice_batch")) == 1
    made = await asyncio.gather(
        expand_closed_notices(ctx.sessions), expand_closed_notices(ctx.sessions)
    )
    assert sorted(made) == [0, 6]
    after = FakeAdapter()
    await Dispatcher(ctx, {"playground": after}).run_once()
    assert sorted(ref.message_id for ref, _ in after.updates) == sorted(
        s.ref.message_id for s in before.sent
    )
    assert {msg.fallback for _, msg in after.updates} == {CLOSED}
    assert await deliveries(world, "closed_notice") == []


async def test_a_batch_is_never_claimed_nor_sent_itself(world: World) -> None:
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    await close_round(ctx, world.cli, world.team)
    (batch,) = await deliveries(world, "notice_batch")
    claims = await dispatcher._claim(expired=False)
    assert claims and batch.id not in {c.id for c in claims}  # the managers' summary only
    (still,) = await deliveries(world, "notice_batch")
    assert (still.status, still.attempts, still.lease_until) == ("pending", 0, None)


async def test_the_batches_are_compressed_with_lz4_for_the_close_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the close's batches go to TOAST with lz4 where the server has it (faster
    than pglz); the setting ends with the close's transaction."""
    ctx = world.ctx
    if ctx.database.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    monkeypatch.setattr(repo, "NOTICE_BATCH_SIZE", 6)
    async with ctx.database.connect() as conn:
        has_lz4 = await conn.scalar(text(repo._HAS_LZ4))
        before = await conn.scalar(text("SHOW default_toast_compression"))
    # References long enough for the batch to be compressed (TOAST starts near 2 kB).
    await open_round(ctx, world.cli, world.team)
    async with ctx.sessions.begin() as session:
        prompts = (await session.scalars(select(Delivery).where(Delivery.kind == "prompt"))).all()
        for i, prompt in enumerate(prompts):
            prompt.status = DeliveryStatus.SENT
            prompt.message_ref = {
                "platform": "playground",
                "channel_id": f"u{i}" * 200,
                "message_id": f"m{i}",
            }
    await close_round(ctx, world.cli, world.team)
    async with ctx.database.connect() as conn:
        method = await conn.scalar(
            text(
                "SELECT pg_column_compression(message_ref) FROM deliveries WHERE kind = 'notice_batch'"
            )
        )
        setting = await conn.scalar(text("SHOW default_toast_compression"))
    assert method == ("lz4" if has_lz4 else "pglz")
    assert setting == before


async def test_a_pass_expands_the_batches_a_few_at_a_time_between_the_sends(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six batches of one, two expanded per step of a pass (between the claims, so the rows
    due meanwhile are not held back): one pass sends the managers' summary and still makes
    every edit."""
    monkeypatch.setattr(repo, "NOTICE_BATCH_SIZE", 1)
    monkeypatch.setattr(dispatcher_module, "EXPAND_BATCHES", 2)
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    prompts = len(adapter.sent)
    await close_round(ctx, world.cli, world.team)
    assert len(await deliveries(world, "notice_batch")) == 6
    first = await expand_closed_notices(ctx.sessions, limit=2)
    assert first == 2 and len(await deliveries(world, "notice_batch")) == 4
    assert await dispatcher.run_once() == 1  # the summary
    assert len(adapter.sent) == prompts + 1
    assert len(adapter.updates) == 6
    assert await deliveries(world, "notice_batch") == []
    assert await deliveries(world, "closed_notice") == []
