"""Rounds on Teams: a scheduled round's prompts delivered proactively through the fake Bot
Connector from stored references, check-ins through the dialog, the summary to the manager
after close; a 429 waits for Retry-After, a 403 fails that delivery only, people who never
installed the app are counted as unreachable for the admin."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.admin.operations import round_list, schedule_set
from bot.rounds.lifecycle import open_round
from storage.models import Delivery, Person
from storage.values import CadenceKind
from tests.fakes import teams_activities as ta
from tests.fakes.bot_connector import Posted, personal_conversation
from tests.test_teams import CHECKIN, Env, dialog_card, submit_data
from tests.test_teams import env as env  # the fixture, found by name

MEMBERS = [f"u{i}" for i in range(6)]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def prompts_by_person(env: Env, text: str) -> Counter[str]:
    return Counter(
        p.conversation_id.removeprefix("a:1personal-") for p in env.connector.sent if text in p.text
    )


async def statuses(env: Env) -> dict[str, str]:
    async with env.runtime.ctx.sessions() as session:
        rows = await session.execute(
            select(Person.user_id, Delivery.status)
            .join(Person, Person.id == Delivery.person_id)
            .where(Delivery.kind == "prompt")
        )
        return {user: status for user, status in rows.all()}


def submit_data_or_none(posted: Posted) -> object:
    try:
        return submit_data(posted.cards[0], "checkin_open")
    except AssertionError:
        return None


async def check_in(env: Env, aad: str, period: str) -> str:
    [prompt] = [
        p for p in env.connector.sent_to(ta.personal_conversation_id(aad)) if period in p.text
    ]
    fetched = await env.ok(
        ta.task_fetch(env.url, aad, submit_data(prompt.cards[0], "checkin_open"))
    )
    assert fetched is not None
    data = submit_data(dialog_card(fetched))
    result = await env.ok(ta.task_submit(env.url, aad, {**data, **CHECKIN}))
    assert result is not None
    return json.dumps(dialog_card(result))


async def test_a_scheduled_round_on_teams(env: Env) -> None:
    ctx, world = env.runtime.ctx, env.world
    ticker, dispatcher = env.runtime.ticker.scheduler, env.runtime.dispatcher
    await schedule_set(
        ctx,
        world.cli,
        "Platform",
        cadence=CadenceKind.WEEKLY,
        weekday="mon",
        time="10:00",
        close_after="72h",
    )
    env.clock.set(at("2026-11-30T08:59"))
    assert (await ticker.run_once()).opened == []
    env.clock.set(at("2026-11-30T09:00"))  # 10:00 in Berlin
    assert (await ticker.run_once()).opened == ["Platform 2026-W49"]

    # A rate-limited fan-out: the 429's Retry-After holds the workspace, then all go once.
    env.connector.fail_next("send", 429, retry_after=3)
    await dispatcher.run_once()
    assert env.connector.refused == [("send", 429)]
    env.clock.advance(timedelta(seconds=3))
    await dispatcher.run_once()
    prompts = prompts_by_person(env, "Platform check-in (2026-W49)")
    assert sorted(prompts) == MEMBERS and set(prompts.values()) == {1}
    assert env.connector.created == []  # everyone's stored reference was used as it was
    assert len(env.idp.issued) == 1  # one access token for the whole fan-out

    # Five answer through the dialog; the prompt cards are edited to say so.
    for aad in MEMBERS[:5]:
        assert "Counted for 2026-W49" in await check_in(env, aad, "2026-W49")
    await dispatcher.run_once()  # the "checked in" edits wait in the outbox
    await env.connector.wait_for(lambda: len(env.connector.updated) == 5)
    assert {u.conversation_id for u in env.connector.updated} == {
        ta.personal_conversation_id(a) for a in MEMBERS[:5]
    }

    # Closed on time; the manager gets the summary 1:1.
    env.clock.set(at("2026-12-03T09:00"))
    assert (await ticker.run_once()).closed == ["Platform 2026-W49"]
    await dispatcher.run_once()
    [summary] = env.connector.sent_to(ta.personal_conversation_id("boss"))
    assert "Platform: team check-in" in summary.text
    assert "5 of 6 answered" in summary.text
    assert "Needs attention most: Overhaul your routine" in summary.text
    # Every prompt that went out now says the round closed (u5's too), edited in place.
    notices = [u for u in env.connector.updated if "check-in closed on" in u.text]
    assert {u.conversation_id for u in notices} == {ta.personal_conversation_id(a) for a in MEMBERS}
    assert all(submit_data_or_none(u) is None for u in notices)  # no button left


async def test_a_403_fails_one_delivery_and_the_admin_sees_the_count(env: Env) -> None:
    env.connector.fail_next("send", 403, code="MessageWritesBlocked")
    env.connector.fail_next("send", 502)
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.runtime.dispatcher.run_once()
    outcome = Counter((await statuses(env)).values())
    assert outcome == {"sent": 4, "failed": 1, "pending": 1}  # the 502 is retried later
    env.clock.advance(timedelta(minutes=1))
    await env.runtime.dispatcher.run_once()
    assert Counter((await statuses(env)).values()) == {"sent": 5, "failed": 1}
    listed = await round_list(env.runtime.ctx, env.world.cli, "Platform")
    assert "2026-W48: open, 1 could not be reached" in listed.text
    assert listed.data[0]["unreachable"] == 1


async def test_people_who_never_installed_the_app_are_unreachable(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """No reference: Teams opens a 1:1 from the AAD id only when the app is installed for the
    person (then it works); otherwise the delivery fails for good, with a clear reason."""
    caplog.set_level(logging.WARNING)
    async with env.runtime.ctx.sessions.begin() as session:
        for person in (await session.scalars(select(Person))).all():
            if person.user_id in ("u4", "u5"):
                person.conversation_ref = None
    env.connector.installed = {"u0", "u1", "u2", "u3", "u4"}  # not u5
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.runtime.dispatcher.run_once()
    found = await statuses(env)
    assert found == {
        "u0": "sent",
        "u1": "sent",
        "u2": "sent",
        "u3": "sent",
        "u4": "sent",
        "u5": "failed",
    }
    created = [c["members"] for c in env.connector.created]
    assert created == [[{"id": "u4"}]]
    assert env.connector.sent_to(personal_conversation("u4"))
    reasons = [
        getattr(r, "reason", None) for r in caplog.records if "failed permanently" in r.getMessage()
    ]
    assert reasons == ["app not installed for this person"]
    listed = await round_list(env.runtime.ctx, env.world.cli, "Platform")
    assert "1 could not be reached" in listed.text


async def test_a_tenant_the_bot_has_never_heard_from(env: Env) -> None:
    """Nobody installed anything yet, so no service URL is known: nobody is reachable."""
    async with env.runtime.ctx.sessions.begin() as session:
        for person in (await session.scalars(select(Person))).all():
            person.conversation_ref = None
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.runtime.dispatcher.run_once()
    assert set((await statuses(env)).values()) == {"failed"}
    assert env.connector.created == [] and env.connector.sent == []
