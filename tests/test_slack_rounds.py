"""A scheduled round for a team of twelve, set up through the CLI, run against the fake Slack:
every member prompted once, reminders once, closed on time, the managers sent the summary."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.models.blocks import Block
from sqlalchemy import select

from bot.admin import operations as admin
from bot.core.clock import ManualClock
from bot.rounds.notices import expand_closed_notices
from bot.server.app import RUNTIME, build_app
from bot.server.cli import main
from storage.models import Delivery, Round
from storage.values import CadenceKind
from tests.conftest import build_world
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    selected_value,
    signed_headers,
    slash_command,
    view_submission,
)
from tests.test_slack import SECRET, settings_for

MEMBERS = [f"U{i:04d}" for i in range(1, 13)]
MANAGERS = ["UMGR01", "UMGR02"]
SMALL = [f"U01{i:02d}" for i in range(1, 5)]
SMALL_MANAGER = "UMGR03"
CHECKIN = {
    key: {key: selected_value(score, element_type="radio_buttons")}
    for key, score in (
        ("assess", "3"),
        ("routine", "2"),
        ("training", "4"),
        ("strengths", "4"),
        ("path", "3"),
    )
}


SETUP = ManualClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # the Friday before


def cli(*args: str, clock: ManualClock = SETUP) -> int:
    return main(list(args), clock=clock)


def accepted_to(fake: FakeSlackAPI, text: str) -> Counter[str]:
    return Counter(
        str(c.params["channel"])
        for c in fake.calls_to("chat.postMessage")
        if c.status == 200 and text in str(c.params.get("text", ""))
    )


async def test_team_of_twelve_through_the_cli_and_the_fake_slack(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", sqlite_url)
    weekly = (
        "--cadence",
        "weekly",
        "--weekday",
        "mon",
        "--time",
        "10:00",
        "--remind-after",
        "24h",
        "--close-after",
        "72h",
    )
    for args in (
        (
            "workspace",
            "add",
            "--platform",
            "slack",
            "--external-id",
            "T0001",
            "--timezone",
            "Europe/Berlin",
        ),
        ("team", "add", "Platform"),
        ("team", "members", "add", "Platform", *MEMBERS),
        ("team", "managers", "add", "Platform", *MANAGERS),
        ("schedule", "set", "Platform", *weekly),
        ("team", "add", "Small"),
        ("team", "members", "add", "Small", *SMALL),
        ("team", "managers", "add", "Small", SMALL_MANAGER),
        ("schedule", "set", "Small", *weekly),
    ):
        assert await asyncio.to_thread(cli, *args) == 0, args

    clock = ManualClock(datetime(2026, 11, 30, 8, 59, tzinfo=UTC))
    async with FakeSlackAPI() as fake:
        for user in (*MEMBERS, *MANAGERS, *SMALL, SMALL_MANAGER):
            fake.add_user(user)
        fake.fail_next("chat.postMessage", status=429, retry_after=2)  # a rate-limited fan-out
        settings = settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test")
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            ticker, dispatcher = runtime.ticker.scheduler, runtime.dispatcher

            assert (await ticker.run_once()).opened == []  # 09:59 in Berlin
            clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
            assert sorted((await ticker.run_once()).opened) == [
                "Platform 2026-W49",
                "Small 2026-W49",
            ]
            await dispatcher.run_once()  # meets the 429: the workspace waits
            clock.set(datetime(2026, 11, 30, 9, 0, 3, tzinfo=UTC))
            await dispatcher.run_once()
            prompts = accepted_to(fake, "check-in (2026-W49)")
            assert sorted(prompts) == sorted(MEMBERS + SMALL) and set(prompts.values()) == {1}
            for call in fake.calls_to("chat.postMessage"):
                for block in call.params["blocks"]:
                    Block.parse(block).validate_json()  # type: ignore[union-attr]

            # Six members answer through the modal (signed requests); the other six are
            # reminded once, however often the tick runs.
            for user in MEMBERS[:6] + SMALL:
                body = view_submission("checkin", CHECKIN, user_id=user, view_id=f"V{user}")
                response = await client.post(
                    "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
                )
                assert "Counted for 2026-W49" in await response.text()
            clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
            for _ in range(3):
                await ticker.run_once()
                await dispatcher.run_once()
            reminders = accepted_to(fake, "gentle reminder")
            assert sorted(reminders) == MEMBERS[6:] and set(reminders.values()) == {1}

            # Closed on time, not before; the managers get the summary by DM.
            clock.set(datetime(2026, 12, 3, 8, 59, tzinfo=UTC))
            assert (await ticker.run_once()).closed == []
            clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
            assert sorted((await ticker.run_once()).closed) == [
                "Platform 2026-W49",
                "Small 2026-W49",
            ]
            await dispatcher.run_once()
            summaries = accepted_to(fake, "Platform: team check-in")
            assert sorted(summaries) == MANAGERS and set(summaries.values()) == {1}
            summary = next(
                c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGERS[0]
            )
            released = str(summary.params)
            assert "6 of 12 answered" in released
            assert "Needs attention most: Overhaul your routine" in released  # the weakest practice
            assert accepted_to(fake, "Small: team check-in") == Counter({SMALL_MANAGER: 1})
            withheld = str(
                next(
                    c
                    for c in fake.calls_to("chat.postMessage")
                    if c.params["channel"] == SMALL_MANAGER
                ).params
            )
            assert "4 of 4 answered" in withheld and "withheld because fewer than 5" in withheld
            assert "Mean" not in withheld
            async with runtime.ctx.sessions() as session:
                statuses = sorted((await session.scalars(select(Round.status))).all())
                left = (
                    await session.scalars(select(Delivery.kind).where(Delivery.kind != "summary"))
                ).all()
            assert statuses == ["released", "withheld"]
            assert left == []  # prompts and reminders are gone with the close


async def test_a_team_set_up_and_opened_on_its_scheduled_afternoon_reaches_its_managers(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin sets everything up on Monday afternoon, after the schedule's 10:00; the next
    scheduler pass opens the period's round, which carries its scheduled opening (hours before
    the managers were named). The managers were never in its population, so they get it."""
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", sqlite_url)
    afternoon = ManualClock(datetime(2026, 11, 30, 13, 30, tzinfo=UTC))  # 14:30 in Berlin
    for args in (
        ("workspace", "add", "--platform", "slack", "--external-id", "T0001",
         "--timezone", "Europe/Berlin"),
        ("team", "add", "Platform"),
        ("team", "members", "add", "Platform", *MEMBERS),
        ("team", "managers", "add", "Platform", *MANAGERS),
        ("schedule", "set", "Platform", "--cadence", "weekly", "--weekday", "mon",
         "--time", "10:00", "--close-after", "72h"),
    ):  # fmt: skip
        assert await asyncio.to_thread(cli, *args, clock=afternoon) == 0, args

    clock = ManualClock(afternoon.now())
    async with FakeSlackAPI() as fake:
        for user in (*MEMBERS, *MANAGERS):
            fake.add_user(user)
        settings = settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test")
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            assert (await runtime.ticker.scheduler.run_once()).opened == ["Platform 2026-W49"]
            await runtime.dispatcher.run_once()
            assert sorted(accepted_to(fake, "check-in (2026-W49)")) == sorted(MEMBERS)
            for user in MEMBERS[:6]:
                body = view_submission("checkin", CHECKIN, user_id=user, view_id=f"V{user}")
                response = await client.post(
                    "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
                )
                assert "Counted for 2026-W49" in await response.text()
            async with runtime.ctx.sessions() as session:
                opened = (await session.scalars(select(Round.opens_at))).one()
            assert opened < afternoon.now()  # the period's 10:00, before the managers existed

            clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))  # 72 h after Monday 10:00
            assert (await runtime.ticker.scheduler.run_once()).closed == ["Platform 2026-W49"]
            await runtime.dispatcher.run_once()
            summaries = accepted_to(fake, "Platform: team check-in")
            assert sorted(summaries) == MANAGERS and set(summaries.values()) == {1}
            assert "6 of 12 answered" in str(fake.calls_to("chat.postMessage")[-1].params)

            # And `/rut summary` shows the round to them too.
            body = slash_command("summary", user_id=MANAGERS[0])
            response = await client.post(
                "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
            )
            assert response.status == 200
            shown = await response.text() + str(fake.calls_to("views.open")[-1:])
            assert "2026-W49" in shown and "6 of 12 answered" in shown, shown


async def test_prompts_of_a_closed_round_say_so_on_slack(sqlite_url: str) -> None:
    """A scheduled round closes: every prompt Slack got, answered or not, is edited
    (`chat.update`) to the same closing line naming the next opening, without its button, and
    the notices leave nothing behind in the outbox."""
    clock = ManualClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    async with FakeSlackAPI() as fake:
        settings = settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test")
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            ctx, ticker, dispatcher = runtime.ctx, runtime.ticker.scheduler, runtime.dispatcher
            world = await build_world(ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager):
                fake.add_user(person.user_id)
            await admin.schedule_set(
                ctx, world.cli, "Platform", cadence=CadenceKind.WEEKLY, weekday="mon", time="10:00"
            )
            clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # Mon 10:00 in Berlin
            assert (await ticker.run_once()).opened == ["Platform 2026-W49"]
            await dispatcher.run_once()
            prompts = {
                str(c.response["channel"]): str(c.response["ts"])
                for c in fake.calls_to("chat.postMessage")
            }
            assert len(prompts) == 6

            for user in ("U0", "U1"):  # two answer; their prompts say "You checked in"
                body = view_submission("checkin", CHECKIN, user_id=user, view_id=f"V{user}")
                response = await client.post(
                    "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
                )
                assert "Counted for 2026-W49" in await response.text()
            await dispatcher.run_once()  # the two "checked in" edits, from the outbox
            await fake.wait_for("chat.update", count=2)

            clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))  # Thu, 72 h on
            assert (await ticker.run_once()).closed == ["Platform 2026-W49"]
            assert await expand_closed_notices(ctx.sessions) == 6  # the dispatcher's first step
            async with ctx.sessions() as session:
                queued = (
                    await session.scalars(select(Delivery).where(Delivery.kind == "closed_notice"))
                ).all()
            assert len(queued) == 6
            assert {(d.person_id, d.answered, d.status) for d in queued} == {
                (None, False, "pending")
            }

            await dispatcher.run_once()
            closed_text = "The 2026-W49 check-in closed on Thu 3 Dec; the next one opens Mon 7 Dec."
            edits = [c for c in fake.calls_to("chat.update") if "closed on" in str(c.params)]
            assert sorted((str(c.params["channel"]), str(c.params["ts"])) for c in edits) == sorted(
                prompts.items()
            )
            for call in edits:
                assert call.response["ok"] and call.params["text"] == closed_text
                kinds = {block["type"] for block in call.params["blocks"]}
                assert "actions" not in kinds and "button" not in json.dumps(call.params["blocks"])
                Block.parse(call.params["blocks"][0]).validate_json()  # type: ignore[union-attr]
            for channel, ts in prompts.items():  # what each member now sees in the DM
                (shown,) = [m for m in fake.messages[channel] if m["ts"] == ts]
                assert shown["text"] == closed_text

            assert accepted_to(fake, "Platform: team check-in") == Counter({"UBOSS": 1})
            async with ctx.sessions() as session:
                left = (await session.scalars(select(Delivery.kind))).all()
            assert left == ["summary"]  # no notice, prompt or reminder remains
            await dispatcher.run_once()
            assert len(fake.calls_to("chat.update")) == 2 + 6  # each prompt edited once
