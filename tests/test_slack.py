"""The Slack app end to end: signed HTTP requests into the running server, a fake Slack Web
API (a real HTTP server on 127.0.0.1) on the other side, time from the injected clock."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import func, select

from adapters.slack.adapter import SCOPES, SlackAdapter
from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.delivery.dispatcher import Dispatcher
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from bot.server.runtime import Runtime
from messages.copy import copy_for
from storage.models import Answer, Delivery, Membership, Person, ProcessedEvent, Team, Workspace
from storage.slack_store import slack_bots
from tests.conftest import World, build_world
from tests.fakes.slack_api import FakeSlackAPI, dm_channel
from tests.fakes.slack_requests import (
    app_home_opened,
    app_uninstalled,
    block_actions,
    event_callback,
    selected_value,
    signed_headers,
    slash_command,
    url_verification,
    view_submission,
)

SECRET = "test-signing-secret"
ROOT = Path(__file__).resolve().parent.parent
Client = TestClient[web.Request, web.Application]


@dataclass
class Env:
    fake: FakeSlackAPI
    client: Client
    runtime: Runtime
    clock: ManualClock
    world: World

    async def post(self, body: bytes, *, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        sent = (
            headers if headers is not None else signed_headers(body, SECRET, self.clock.now(), **kw)
        )
        return await self.client.post("/slack/events", data=body, headers=sent)

    async def deliver(self, body: bytes) -> list[int]:
        """An Events API delivery as Slack makes it: posted, and posted again while the
        answer is not 2xx, up to three retries, each with `X-Slack-Retry-Num`. The statuses,
        in order."""
        statuses = [(await self.post(body)).status]
        while not 200 <= statuses[-1] < 300 and len(statuses) <= 3:
            retry = await self.post(body, retry_num=len(statuses), retry_reason="http_error")
            statuses.append(retry.status)
        return statuses

    async def command(self, text: str, user: str = "U0", **kw: Any) -> dict[str, Any]:
        body = slash_command(text, user_id=user, response_url=self.fake.response_url(user), **kw)
        response = await self.post(body)
        assert response.status == 200, await response.text()
        raw = await response.text()
        return dict(json.loads(raw)) if raw else {}

    async def count(self, model: type) -> int:
        async with self.runtime.ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def settings_for(url: str, fake: FakeSlackAPI, **extra: Any) -> Settings:
    values = {
        "RUTRADAR_DATABASE_URL": url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "RUTRADAR_PLAYGROUND": False,
        **extra,
    }
    return Settings(**values)


def valid_blocks(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    View(**view).validate_json()
    return view


def texts(view_or_message: dict[str, Any]) -> str:
    return json.dumps(view_or_message, ensure_ascii=False)


@pytest.fixture
async def env(sqlite_url: str, clock: ManualClock) -> AsyncIterator[Env]:
    async with FakeSlackAPI() as fake:
        app = build_app(
            settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test"),
            clock=clock,
            background=False,
        )
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            world = await build_world(runtime.ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id, real_name=person.display_name)
            yield Env(fake, client, runtime, clock, world)


# --- verification and malformed input -------------------------------------------------------


async def test_forged_stale_and_unsigned_requests_get_401(env: Env) -> None:
    body = slash_command("help", user_id="U0")
    forged = signed_headers(body, "wrong-secret", env.clock.now())
    stale = signed_headers(body, SECRET, env.clock.now() - timedelta(minutes=6))
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (forged, stale, unsigned):
        response = await env.post(body, headers=headers)
        assert response.status == 401
        assert await response.json() == {"error": "invalid request"}
    assert env.fake.calls == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=not-json", "application/x-www-form-urlencoded"),
        (
            b'payload={"type":"block_actions","user":{"id":"U0"},"team":{"id":"T0001"}}',
            "application/x-www-form-urlencoded",
        ),
        (b"command=%2Frut&text=help", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b'{"type":"event_callback","team_id":"T0001"}', "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
async def test_signed_but_malformed_requests_get_400_and_write_nothing(
    env: Env, body: bytes, content_type: str
) -> None:
    people = await env.count(Person)
    response = await env.post(body, content_type=content_type)
    assert response.status == 400
    assert "malformed request" in (await response.json())["error"]
    assert await env.count(Person) == people


async def test_url_verification_answers_the_challenge(env: Env) -> None:
    response = await env.post(url_verification("abc123"))
    assert response.status == 200
    assert (await response.json())["challenge"] == "abc123"


# --- the check-in, through the modal --------------------------------------------------------

CHECKIN_STATE: dict[str, dict[str, Any]] = {
    "assess": {"assess": selected_value("4", element_type="radio_buttons")},
    "routine": {"routine": selected_value("1", element_type="radio_buttons")},
    "training": {"training": selected_value("4", element_type="radio_buttons")},
    "strengths": {"strengths": selected_value("5", element_type="radio_buttons")},
    "path": {"path": selected_value("3", element_type="radio_buttons")},
    "comment": {"comment": "Less context switching"},
    "share": {"share": {"type": "checkboxes", "selected_options": []}},
}


async def test_whole_check_in_through_the_modal(env: Env) -> None:
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    assert await env.runtime.dispatcher.run_once() == 6

    # The prompt is a DM to the user id, with a button and a plain-text fallback.
    [prompt] = [c for c in env.fake.calls_to("chat.postMessage") if c.params["channel"] == "U0"]
    assert "Platform check-in (2026-W48)" in prompt.params["text"]
    valid_blocks(prompt.params["blocks"])
    button = next(
        e for b in prompt.params["blocks"] if b["type"] == "actions" for e in b["elements"]
    )

    # Pressing it opens the modal with the five questions and the optional shared line.
    opened = await env.post(
        block_actions(
            button["action_id"],
            button.get("value", ""),
            user_id="U0",
            channel_id=dm_channel("U0"),
            response_url=env.fake.response_url("U0"),
        )
    )
    assert opened.status == 200
    [views_open] = env.fake.calls_to("views.open")
    modal = valid_view(views_open.params["view"])
    assert modal["callback_id"] == "checkin"
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == [
        "assess",
        "routine",
        "training",
        "strengths",
        "path",
        "comment",
        "share",
    ]

    # Submitting stores the answer and answers with the advice in the same modal.
    submitted = await env.post(
        view_submission(
            "checkin",
            CHECKIN_STATE,
            user_id="U0",
            private_metadata=modal.get("private_metadata", ""),
        )
    )
    assert submitted.status == 200
    ack = await submitted.json()
    assert ack["response_action"] == "update"
    advice = valid_view(ack["view"])
    assert "Counted for 2026-W48" in texts(advice)
    sections = [
        b
        for b in advice["blocks"]
        if b["type"] == "section" and "Overhaul your routine" in texts(b)
    ]
    assert sections, "advice must speak to the practice answered lowest"
    assert "Less context switching" not in texts(advice)  # unshared: not echoed, not stored
    assert await env.count(Answer) == 1
    async with env.runtime.ctx.sessions() as session:
        assert (await session.scalars(select(Answer.comment))).all() == [None]

    # The prompt is edited to say so, with no scores (the edit waits in the outbox).
    assert env.fake.calls_to("chat.update") == []
    await env.runtime.dispatcher.run_once()
    [update] = env.fake.calls_to("chat.update")
    assert (
        update.params["channel"] == prompt.response["channel"]
        and update.params["ts"] == prompt.response["ts"]
    )
    assert "You checked in for 2026-W48" in update.params["text"]
    valid_blocks(update.params["blocks"])
    assert not re.search(r"\b[1-5]\b", update.params["text"].replace("2026-W48", ""))

    # The button in the modal sends the advice as a DM; the view's private_metadata carries
    # what it needs, so nothing was stored to look up.
    send = next(e for b in advice["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert "value" not in send and advice["private_metadata"]
    view = {
        "id": "V0001",
        "type": "modal",
        "callback_id": "rutradar_dialog",
        "private_metadata": advice["private_metadata"],
    }
    await env.post(block_actions(send["action_id"], "", user_id="U0", view=view))
    dms = [c for c in env.fake.calls_to("chat.postMessage") if c.params["channel"] == "U0"]
    assert len(dms) == 2 and "Overhaul your routine" in texts(dms[-1].params)
    valid_blocks(dms[-1].params["blocks"])


async def test_rut_checkin_opens_the_modal_straight_away(env: Env) -> None:
    await env.command("checkin")
    [call] = env.fake.calls_to("views.open")
    assert valid_view(call.params["view"])["callback_id"] == "checkin"
    assert call.params["trigger_id"]


async def test_invalid_answer_is_shown_in_the_modal(env: Env) -> None:
    state: dict[str, dict[str, Any]] = dict(CHECKIN_STATE)
    state["path"] = {"path": {"type": "radio_buttons", "selected_option": None}}
    response = await env.post(view_submission("checkin", state, user_id="U0"))
    ack = await response.json()
    assert ack["response_action"] == "errors"
    assert "1 to 5" in next(iter(ack["errors"].values()))
    assert await env.count(Answer) == 0


# --- replies are personal, refusals polite ---------------------------------------------------


async def test_replies_are_ephemeral_and_refusals_polite(env: Env) -> None:
    refused = await env.command("summary")
    assert refused["response_type"] == "ephemeral"
    assert "managers" in refused["text"]
    valid_blocks(refused["blocks"])
    unknown = await env.command("dance")
    assert unknown["response_type"] == "ephemeral" and "dance" in unknown["text"]
    assert env.fake.calls_to("chat.postMessage") == []  # nothing into a channel


async def test_manager_summary_opens_in_a_modal(env: Env) -> None:
    await env.command("summary", user="UBOSS")
    [call] = env.fake.calls_to("views.open")
    view = valid_view(call.params["view"])
    assert "Platform" in texts(view) and "No round has closed yet" in texts(view)


async def test_a_slack_user_never_seen_before(env: Env) -> None:
    env.fake.add_user("U9999", real_name="Newcomer", tz="Asia/Tokyo")
    reply = await env.command("help", user="U9999")
    assert "/rut checkin" in reply["text"] or "Rut Radar" in reply["text"]
    async with env.runtime.ctx.sessions() as session:
        person = await session.scalar(select(Person).where(Person.user_id == "U9999"))
    assert person is not None and person.timezone == "Asia/Tokyo" and person.role == "member"
    response = await env.post(view_submission("checkin", CHECKIN_STATE, user_id="U9999"))
    assert "not in a team" in texts(await response.json())


async def test_from_channel_alone_means_the_channel_the_command_was_typed_in(env: Env) -> None:
    env.fake.add_user("UADMIN", real_name="Owner", is_admin=True)
    env.fake.channel_members["C0042"] = ["U0", "U1", "UADMIN"]
    reply = await env.command(
        "admin team add Here --from-channel", user="UADMIN", channel_id="C0042"
    )
    assert "3 members added to Here" in reply["text"], reply
    reply = await env.command("admin team add There --from-channel here", user="UADMIN")
    assert "3 members added" not in reply["text"], reply  # typed in C0001, which has none


async def test_slack_admins_are_first_admins_in_single_token_mode(env: Env) -> None:
    env.fake.add_user("UADMIN", real_name="Owner", is_admin=True)
    env.fake.channel_members["C0009"] = ["U0", "U1", "UBOT", "UADMIN"]
    env.fake.add_user("UBOT", is_bot=True)
    reply = await env.command("admin team add Design --from-channel <#C0009|design>", user="UADMIN")
    assert "3 members added to Design" in reply["text"], reply
    async with env.runtime.ctx.sessions() as session:
        team = await session.scalar(select(Team).where(Team.name == "Design"))
        assert team is not None
        members = (
            await session.scalars(
                select(Person.user_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.team_id == team.id)
            )
        ).all()
    assert sorted(members) == ["U0", "U1", "UADMIN"]
    assert "Only Rut Radar admins" in (await env.command("admin team add X", user="U2"))["text"]


# --- App Home, retries, uninstall ------------------------------------------------------------


async def test_app_home_per_role_and_event_retries_deduplicated(env: Env) -> None:
    for user in ("U0", "UBOSS", "UROOT"):
        body = event_callback(app_home_opened(user), event_id=f"Ev-{user}")
        assert (await env.post(body)).status == 200
    assert set(env.fake.home) == {"U0", "UBOSS", "UROOT"}
    for view in env.fake.home.values():
        valid_view(view)
    member_home = texts(env.fake.home["U0"])
    assert "Your check-ins" in member_home and "Platform: team check-in" not in member_home
    assert "Platform: team check-in" in texts(env.fake.home["UBOSS"])
    assert "Anonymity threshold: 5" in texts(env.fake.home["UROOT"])

    # A manager's Home audits the releases it shows: claimed, so Slack's retry does nothing.
    retry = event_callback(app_home_opened("UBOSS"), event_id="Ev-UBOSS")
    response = await env.post(retry, retry_num=1, retry_reason="http_timeout")
    assert response.status == 200
    assert len(env.fake.calls_to("views.publish")) == 3  # the retry had no second effect
    # A member's Home only reads: no record of the visit, and a retry draws it again.
    assert await env.count(ProcessedEvent) == 1
    member = event_callback(app_home_opened("U0"), event_id="Ev-U0")
    assert (await env.post(member, retry_num=1, retry_reason="http_timeout")).status == 200
    assert len(env.fake.calls_to("views.publish")) == 4
    assert await env.count(ProcessedEvent) == 1


def fail_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's next event fails unexpectedly, after its claim (a bug, a lost database
    connection); the ones after it are handled."""
    real = ChatEngine._dispatch
    failures = iter([OSError("the database went away mid-way")])

    async def flaky(self: ChatEngine, *args: Any) -> Any:
        for failure in failures:
            raise failure
        return await real(self, *args)

    monkeypatch.setattr(ChatEngine, "_dispatch", flaky)


async def test_a_home_whose_handling_failed_is_drawn_by_slacks_retry(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At least once for the Events API: a claimed event whose handling fails is answered
    503 with no body, its claim released, so Slack's retry (same event id) draws the Home,
    once. The failure is logged once with its traceback, the 503 in one WARNING line."""
    fail_once(monkeypatch)
    body = event_callback(app_home_opened("UBOSS"), event_id="Ev-home-later")
    failed = await env.post(body)
    assert failed.status == 503 and await failed.read() == b""
    assert env.fake.calls_to("views.publish") == [] and await env.count(ProcessedEvent) == 0
    assert [r.exc_info is not None for r in caplog.records if r.levelno >= logging.ERROR] == [True]
    assert [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "adapters.slack.adapter"
    ] == ["slack event left for Slack's retry (503): HomeOpened"]

    retry = await env.post(body, retry_num=1, retry_reason="http_error")
    assert retry.status == 200
    assert len(env.fake.calls_to("views.publish")) == 1 and "UBOSS" in env.fake.home
    assert await env.deliver(body) == [200]  # a later retry: a duplicate, nothing drawn
    assert len(env.fake.calls_to("views.publish")) == 1 and await env.count(ProcessedEvent) == 1


async def test_slacks_retries_deliver_a_claimed_event_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, as Slack drives it: 503, then the first retry does the work."""
    fail_once(monkeypatch)
    body = event_callback(app_home_opened("UBOSS"), event_id="Ev-home-retried")
    assert await env.deliver(body) == [503, 200]
    assert len(env.fake.calls_to("views.publish")) == 1


async def test_a_failure_slack_never_retries_is_still_an_apology(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slash command is not retried by Slack (and not claimed): its failure is said to the
    person, answered 200, as before."""
    fail_once(monkeypatch)
    reply = await env.command("pause")
    assert copy_for("en").say("oops") in texts(reply)
    assert await env.count(ProcessedEvent) == 0


async def test_uninstall_deletes_people_memberships_and_deliveries(env: Env) -> None:
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    assert await env.count(Delivery) == 6
    response = await env.post(event_callback(app_uninstalled(), event_id="Ev-gone"))
    assert response.status == 200
    assert (await env.count(Person), await env.count(Membership), await env.count(Delivery)) == (
        0,
        0,
        0,
    )
    assert await env.count(Workspace) == 1 and await env.count(Team) == 1


async def test_an_uninstall_whose_deletion_failed_is_done_by_slacks_retry(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: the event id is claimed before the deletion; when the deletion fails the
    claim is released and Slack is answered non-2xx, so its retry deletes instead of being
    dropped as a duplicate."""
    from adapters.slack import adapter as slack_adapter

    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    real = slack_adapter.platform_uninstalled
    failures = iter([OSError("the database went away mid-way")])

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        for failure in failures:
            raise failure
        return await real(*args, **kwargs)

    monkeypatch.setattr(slack_adapter, "platform_uninstalled", flaky)
    body = event_callback(app_uninstalled(), event_id="Ev-gone-later")
    first = await env.post(body)
    assert first.status == 503  # Slack retries what it got no 2xx for
    assert await env.count(Person) > 0 and await env.count(ProcessedEvent) == 0

    retry = await env.post(body, retry_num=1, retry_reason="http_error")
    assert retry.status == 200
    assert (await env.count(Person), await env.count(Delivery)) == (0, 0)
    again = await env.post(body, retry_num=2, retry_reason="http_timeout")
    assert again.status == 200 and await env.count(ProcessedEvent) == 1  # done once


# --- delivery failures -----------------------------------------------------------------------


async def test_rate_limit_pauses_the_workspace_and_deactivated_users_fail(env: Env) -> None:
    env.fake.add_user("U1", deleted=True)
    env.fake.fail_next("chat.postMessage", status=429, retry_after=3)
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    # One at a time, so "nothing else was sent during the pause" is exact (with more in
    # flight, sends already on the wire when the 429 arrives still land).
    dispatcher = Dispatcher(
        env.runtime.ctx, env.runtime.adapters, rates=lambda _p: 5.0, concurrency=1
    )
    assert await dispatcher.run_once() == 0
    assert len(env.fake.calls_to("chat.postMessage")) == 1  # the 429; then the workspace waits
    env.clock.advance(timedelta(seconds=2))
    assert await dispatcher.run_once() == 0  # still inside Retry-After
    env.clock.advance(timedelta(seconds=2))
    assert await dispatcher.run_once() == 5
    async with env.runtime.ctx.sessions() as session:
        rows = dict(
            (
                await session.execute(
                    select(Person.user_id, Delivery.status).join(
                        Person, Person.id == Delivery.person_id
                    )
                )
            ).all()
        )
    assert rows.pop("U1") == "failed"
    assert set(rows.values()) == {"sent"}
    accepted = [
        c.params["channel"] for c in env.fake.calls_to("chat.postMessage") if c.status == 200
    ]
    assert sorted(accepted) == sorted(rows)  # each member exactly once


# --- OAuth: the install round trip ------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_oauth_install_round_trip(sqlite_url: str, clock: ManualClock) -> None:
    async with FakeSlackAPI() as fake:
        settings = settings_for(
            sqlite_url,
            fake,
            SLACK_CLIENT_ID="111.222",
            SLACK_CLIENT_SECRET="shh",
            RUTRADAR_SECRET_KEY=Fernet.generate_key().decode(),  # a throwaway key
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            start = await client.get("/slack/install", allow_redirects=False)
            assert start.status in (200, 302)
            page = await start.text()
            found = re.search(r'"(https://slack\.com/oauth/v2/authorize[^"]+)"', page)
            location = start.headers.get("Location") or (found[1] if found else "")
            query = parse_qs(urlparse(location.replace("&amp;", "&")).query)
            assert query["client_id"] == ["111.222"]
            assert set(query["scope"][0].split(",")) == set(SCOPES)
            state = query["state"][0]
            cookie = start.headers["Set-Cookie"].split(";")[0]

            done = await client.get(
                "/slack/oauth_redirect",
                params={"code": "good-code", "state": state},
                headers={"Cookie": cookie},
            )
            assert done.status == 200, await done.text()
            [exchange] = fake.calls_to("oauth.v2.access")
            assert exchange.params.get("code") == "good-code"

            runtime = app[RUNTIME]
            async with runtime.ctx.sessions() as session:
                workspace = await session.scalar(
                    select(Workspace).where(Workspace.external_id == "T0002")
                )
                assert workspace is not None and workspace.platform == "slack"
                assert "xoxb" not in json.dumps(
                    workspace.installation
                )  # tokens live in the store only
                installer = await session.scalar(
                    select(Person).where(Person.user_id == "UINSTALLER")
                )
                assert installer is not None and installer.role == "admin"
                bots = (await session.execute(select(slack_bots.c.bot_token))).scalars().all()
            assert len(bots) == 1 and bots[0].startswith("gAAAAA")  # stored encrypted only

            # Sending to that workspace uses its own bot token.
            adapter = runtime.adapters["slack"]
            assert isinstance(adapter, SlackAdapter)
            fake.add_user("UINSTALLER", team_id="T0002")
            from bot.core.events import ConversationRef
            from messages.model import Message

            await adapter.send(
                ConversationRef("slack", "T0002", "UINSTALLER"), Message.text("hello")
            )
            assert fake.calls_to("chat.postMessage")[-1].token == "xoxb-installed"

            # Uninstalling removes the tokens too.
            body = event_callback(app_uninstalled(), event_id="Ev-uninstall", team_id="T0002")
            gone = await client.post(
                "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
            )
            assert gone.status == 200
            async with runtime.ctx.sessions() as session:
                assert (await session.execute(select(slack_bots.c.bot_token))).scalars().all() == []


# --- the manifest matches the code -------------------------------------------------------------


def test_manifest_matches_what_the_app_needs() -> None:
    manifest = yaml.safe_load((ROOT / "deploy/slack/manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPES)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/rut"]
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_uninstalled",
        "tokens_revoked",
    }
    urls = {
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    }
    assert {urlparse(u).path for u in urls} == {"/slack/events"}
    assert urlparse(manifest["oauth_config"]["redirect_urls"][0]).path == "/slack/oauth_redirect"


async def test_tokens_revoked_for_user_tokens_only_keeps_everything(env: Env) -> None:
    from tests.fakes.slack_requests import tokens_revoked

    people = await env.count(Person)
    body = event_callback(tokens_revoked(oauth=["UX"]), event_id="Ev-user-token")
    assert (await env.post(body)).status == 200
    assert await env.count(Person) == people
    body = event_callback(tokens_revoked(bot=["UBOT"]), event_id="Ev-bot-token")
    assert (await env.post(body)).status == 200
    assert await env.count(Person) == 0


async def test_socket_mode_connects_in_the_app_lifecycle(
    sqlite_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import slack_bolt.adapter.socket_mode.aiohttp as socket_mode

    events: list[str] = []

    class FakeHandler:
        def __init__(self, app: object, app_token: str) -> None:
            events.append(f"created:{app_token}")

        async def connect_async(self) -> None:
            events.append("connected")

        async def close_async(self) -> None:
            events.append("closed")

    monkeypatch.setattr(socket_mode, "AsyncSocketModeHandler", FakeHandler)
    async with FakeSlackAPI() as fake:
        settings = settings_for(
            sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test", SLACK_APP_TOKEN="xapp-test"
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")):
            assert events == ["created:xapp-test", "connected"]
    assert events[-1] == "closed"


async def test_recovery_finds_a_send_whose_commit_was_lost(env: Env) -> None:
    from sqlalchemy import update

    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    assert await env.runtime.dispatcher.run_once() == 6
    posted = env.fake.calls_to("chat.postMessage")
    assert all(c.params["metadata"]["event_type"] == "rutradar_delivery" for c in posted)
    async with env.runtime.ctx.sessions.begin() as session:  # the process died before its commit
        person_id = await session.scalar(select(Person.id).where(Person.user_id == "U0"))
        await session.execute(
            update(Delivery)
            .where(Delivery.person_id == person_id)
            .values(
                status="sending",
                message_ref=None,
                lease_until=env.clock.now() + timedelta(minutes=2),
            )
        )
    env.clock.advance(timedelta(minutes=3))
    assert await env.runtime.dispatcher.run_once() == 1
    assert len(env.fake.calls_to("chat.postMessage")) == 6  # found, not sent again
    async with env.runtime.ctx.sessions() as session:
        recovered = await session.scalar(select(Delivery).where(Delivery.person_id == person_id))
    assert recovered is not None and recovered.status == "sent" and recovered.message_ref


async def test_people_named_by_an_admin_are_prompted_before_they_ever_talk_to_the_bot(
    env: Env,
) -> None:
    env.fake.channel_members["C0010"] = ["UNEW1", "UNEW2"]
    env.fake.add_user("UNEW1")
    env.fake.add_user("UNEW2")
    await env.command("admin team add Fresh --from-channel <#C0010|fresh>", user="UROOT")
    async with env.runtime.ctx.sessions() as session:
        team = await session.scalar(select(Team).where(Team.name == "Fresh"))
        stubs = (
            await session.scalars(select(Person).where(Person.user_id.in_(["UNEW1", "UNEW2"])))
        ).all()
    assert team is not None and all(p.conversation_ref is None for p in stubs)
    await open_round(env.runtime.ctx, env.world.cli, team)
    assert await env.runtime.dispatcher.run_once() == 2
    assert {c.params["channel"] for c in env.fake.calls_to("chat.postMessage")} == {
        "UNEW1",
        "UNEW2",
    }


async def test_people_are_named_by_e_mail_and_unknown_ids_refused(env: Env) -> None:
    env.fake.add_user("UADA", real_name="Ada Lovelace", email="ada@example.com")
    reply = await env.command("admin team members add Platform ada@example.com", user="UROOT")
    assert "1 member added to Platform: UADA." in reply["text"]
    assert [c.params["email"] for c in env.fake.calls_to("users.lookupByEmail")] == [
        "ada@example.com"
    ]
    people = await env.count(Person)
    unknown = await env.command("admin team members add Platform U-nobody", user="UROOT")
    assert unknown["text"] == (
        "Slack doesn't know the user U-nobody in this workspace. Nothing was changed."
    )
    nobody = await env.command("admin team managers add Platform bob@example.com", user="UROOT")
    assert nobody["text"] == (
        "Slack has no one with the e-mail address bob@example.com in this workspace. "
        "Nothing was changed."
    )
    env.fake.add_user("UGONE", deleted=True)
    gone = await env.command("admin admin add UGONE", user="UROOT")
    assert "deactivated in Slack" in gone["text"]
    assert await env.count(Person) == people  # nothing stored for any of them


async def test_people_named_as_slack_escapes_them_reach_the_engine_as_plain_ids(
    env: Env,
) -> None:
    """With `should_escape` (deploy/slack/manifest.yml) Slack sends `@ada` as `<@UADA|ada>`
    and an e-mail address as a `mailto:` link; the adapter makes them plain before the
    engine sees the text."""
    env.fake.add_user("UADA", real_name="Ada Lovelace")
    env.fake.add_user("UBO", real_name="Bo", email="bo@example.com")
    reply = await env.command(
        "admin team members add Platform <@UADA|ada> <mailto:bo@example.com|bo@example.com>",
        user="UROOT",
    )
    assert "2 members added to Platform: UADA, UBO." in reply["text"], reply["text"]
    assert [c.params["email"] for c in env.fake.calls_to("users.lookupByEmail")] == [
        "bo@example.com"
    ]


async def test_a_scope_the_installation_lacks_fails_the_call(env: Env) -> None:
    env.fake.granted_scopes.discard("users:read.email")
    reply = await env.command("admin team members add Platform ada@example.com", user="UROOT")
    assert "missing_scope" in reply["text"] and "Nothing was changed." in reply["text"]


async def test_a_channel_the_bot_cannot_see_gets_a_clear_answer(env: Env) -> None:
    env.fake.fail_next("conversations.members", error="channel_not_found")
    reply = await env.command("admin team add Secret --from-channel <#G0001|secret>", user="UROOT")
    assert "channel_not_found" in reply["text"] and "invite Rut Radar" in reply["text"]
    assert await env.count(Team) == 1


@pytest.mark.parametrize(
    ("fault", "sent_again"), [({"error": "missing_scope"}, 1), ({"status": 500}, 0)]
)
async def test_a_failed_recovery_lookup_neither_stalls_nor_loses(
    env: Env, fault: dict[str, Any], sent_again: int
) -> None:
    from sqlalchemy import update

    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    async with (
        env.runtime.ctx.sessions.begin() as session
    ):  # u0's send was in flight when a process died
        person_id = await session.scalar(select(Person.id).where(Person.user_id == "U0"))
        await session.execute(
            update(Delivery)
            .where(Delivery.person_id == person_id)
            .values(
                status="sending", attempts=1, lease_until=env.clock.now() - timedelta(seconds=1)
            )
        )
    env.fake.fail_next("conversations.history", **fault)
    assert await env.runtime.dispatcher.run_once() == 5 + sent_again  # the others are not held up
    to_u0 = [c for c in env.fake.calls_to("chat.postMessage") if c.params["channel"] == "U0"]
    assert len(to_u0) == sent_again  # can't check: send (permanent) or try again later (transient)


async def test_a_burst_of_first_contacts_costs_one_people_list_not_a_lookup_each(
    env: Env,
) -> None:
    """A round's prompts went out and the team answers: the first unknown sender makes the
    adapter fetch the workspace's people in the background (users.list, 200 a call), so the
    rest of the burst is not one users.info each (Slack allows about 100 a minute)."""
    first, *rest = [person.user_id for person in env.world.members]
    await env.command("help", user=first)
    await env.runtime.supervisor.drain()
    assert len(env.fake.calls_to("users.list")) == 1
    looked_up = len(env.fake.calls_to("users.info"))
    assert looked_up <= 1  # at most the first, while the list was under way
    for user in rest:
        await env.command("help", user=user)
    await env.runtime.supervisor.drain()
    assert len(env.fake.calls_to("users.info")) == looked_up
    assert len(env.fake.calls_to("users.list")) == 1  # fetched once per hour, not per miss
