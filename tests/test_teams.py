"""The Teams app end to end: activities with real RS256 tokens posted over HTTP to the app that
bot/server/app.py builds, a fake Bot Connector and a fake identity platform (real aiohttp servers on
127.0.0.1) on the other side, time from the injected clock."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.core.events import ConversationRef
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from bot.server.runtime import Runtime
from storage.models import Answer, Delivery, Person, ProcessedEvent, Workspace
from tests.conftest import World, _truncate_all, build_world
from tests.fakes import teams_activities as ta
from tests.fakes.bot_connector import FakeBotConnector, Posted, member, personal_conversation
from tests.fakes.bot_openid import FakeIdentity
from tests.test_teams_cards import Checker, assert_clean
from tests.test_teams_cards import checker as checker  # the fixture, found by name

Client = TestClient[web.Request, web.Application]
CHECKIN = {"assess": "4", "routine": "1", "training": "4", "strengths": "5", "path": "3"}


@dataclass
class Env:
    idp: FakeIdentity
    connector: FakeBotConnector
    client: Client
    runtime: Runtime
    clock: ManualClock
    world: World

    @property
    def url(self) -> str:
        return self.connector.service_url

    async def post(self, activity: dict[str, Any], *, auth: str | None = None) -> Any:
        header = auth if auth is not None else self.idp.mint(activity["serviceUrl"])
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Authorization"] = header
        return await self.client.post("/api/messages", data=json.dumps(activity), headers=headers)

    async def ok(self, activity: dict[str, Any]) -> dict[str, Any] | None:
        response = await self.post(activity)
        assert response.status == 200, await response.text()
        raw = await response.text()
        return json.loads(raw) if raw else None

    async def deliver(self, activity: dict[str, Any]) -> list[int]:
        """An activity as Teams delivers it: posted, and the same activity (same id) posted
        again while the answer is a 5xx other than 501, up to three times. The statuses."""
        statuses = [(await self.post(activity)).status]
        while statuses[-1] >= 500 and statuses[-1] != 501 and len(statuses) <= 3:
            statuses.append((await self.post(activity)).status)
        return statuses

    async def say(self, aad: str, text: str, **kw: Any) -> list[Posted]:
        before = len(self.connector.sent)
        await self.ok(ta.message(self.url, aad, text, **kw))
        return self.connector.sent[before:]

    async def count(self, model: type) -> int:
        async with self.runtime.ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def person(self, user_id: str) -> Person | None:
        async with self.runtime.ctx.sessions() as session:
            return await session.scalar(select(Person).where(Person.user_id == user_id))


def settings_for(url: str, idp: FakeIdentity, **extra: Any) -> Settings:
    values = {
        "RUTRADAR_DATABASE_URL": url,
        "MICROSOFT_APP_ID": idp.app_id,
        "MICROSOFT_APP_PASSWORD": idp.password,
        "MICROSOFT_OPENID_METADATA_URL": idp.metadata_url,
        "MICROSOFT_LOGIN_URL": idp.base_url,
        "RUTRADAR_PLAYGROUND": False,
        **extra,
    }
    return Settings(**values)


def personal_ref(env: Env, aad: str) -> dict[str, Any]:
    return ConversationRef(
        "teams",
        ta.TENANT,
        ta.personal_conversation_id(aad),
        env.url,
        bot_id=ta.BOT_ID,
        user_id=aad,
    ).to_json()


@pytest.fixture
async def env(db_url: str, clock: ManualClock) -> AsyncIterator[Env]:
    """On SQLite and, when configured, PostgreSQL (emptied before and after)."""
    async with FakeIdentity() as idp, FakeBotConnector(idp) as connector:
        app = build_app(settings_for(db_url, idp), clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            await _truncate_all(runtime.ctx)
            world = await teams_world(runtime, connector.service_url)
            try:
                yield Env(idp, connector, client, runtime, clock, world)
            finally:
                await _truncate_all(runtime.ctx)


async def teams_world(
    runtime: Runtime, service_url: str, *, installed: bool = True, slack_ids: bool = False
) -> World:
    """The shared test world on a Teams tenant; `installed`: everyone has added the app, so
    the bot holds their 1:1 reference (otherwise they are named by an admin only).
    `slack_ids`: the same people under the ids the Slack world uses (the contract suite)."""
    world = await build_world(runtime.ctx, platform="teams", slack_ids=slack_ids)
    async with runtime.ctx.sessions.begin() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        workspace.external_id = ta.TENANT
        for person in (await session.scalars(select(Person))).all():
            person.conversation_ref = (
                ConversationRef(
                    "teams",
                    ta.TENANT,
                    ta.personal_conversation_id(person.user_id),
                    service_url,
                    bot_id=ta.BOT_ID,
                    user_id=person.user_id,
                ).to_json()
                if installed
                else None
            )
    world.workspace.external_id = ta.TENANT
    return world


def dialog_card(body: dict[str, Any]) -> dict[str, Any]:
    assert body["task"]["type"] == "continue"
    card = body["task"]["value"]["card"]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    return dict(card["content"])


def submit_data(card: dict[str, Any], action: str | None = None) -> dict[str, Any]:
    """The data of the first Action.Submit (with that rr_action) anywhere in a card."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit" and isinstance(node.get("data"), dict):
                found.append(node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    matching = [d for d in found if action is None or d.get("rr_action") == action]
    assert matching, f"no Action.Submit {action or ''} in {json.dumps(card)[:400]}"
    return matching[0]


# --- install, references, commands -----------------------------------------------------------


async def test_personal_install_stores_the_reference_and_welcomes(env: Env) -> None:
    await env.ok(ta.conversation_update(env.url, "newcomer"))
    await env.ok(ta.installation_update(env.url, "newcomer", "add"))
    person = await env.person("newcomer")
    assert person is not None and person.role == "member"  # a personal install grants nothing
    assert person.conversation_ref == personal_ref(env, "newcomer")
    [welcome] = env.connector.sent
    assert welcome.conversation_id == ta.personal_conversation_id("newcomer")
    assert "Rut Radar" in welcome.text and "checkin" in welcome.text
    assert env.connector.created == []


async def test_help_and_advice_are_answered_in_the_1to1_chat(env: Env) -> None:
    [help_card] = await env.say("u0", "help")
    assert help_card.conversation_id == ta.personal_conversation_id("u0")
    assert help_card.reply_to is not None  # a reply to the person's message
    # The check-in button opens a dialog (task module) instead of posting into the chat.
    opener = submit_data(help_card.cards[0], "checkin_open")
    assert opener["msteams"] == {"type": "task/fetch"}

    [menu] = await env.say("u0", "/rut advice")  # with or without /rut
    assert "Which practice" in menu.text
    [topic] = await env.say("u0", "advice routine")
    assert "Overhaul your routine" in topic.text
    person = await env.person("u0")
    assert person is not None and person.timezone == "Europe/Berlin"  # from clientInfo
    assert await env.say("newbie", "help", timezone="America/Los_Angeles")
    newbie = await env.person("newbie")
    assert newbie is not None and newbie.timezone == "America/Los_Angeles"  # from clientInfo


async def test_whole_check_in_through_the_dialog(env: Env) -> None:
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.runtime.dispatcher.run_once()
    [prompt] = env.connector.sent_to(ta.personal_conversation_id("u0"))
    assert "Platform check-in (2026-W48)" in prompt.text
    opener = submit_data(prompt.cards[0], "checkin_open")
    assert opener["msteams"] == {"type": "task/fetch"}

    # task/fetch: the check-in form, in a dialog.
    fetched = await env.ok(ta.task_fetch(env.url, "u0", opener))
    assert fetched is not None
    form = dialog_card(fetched)
    ids = [e.get("id") for e in _inputs(form)]
    assert ids[:5] == ["assess", "routine", "training", "strengths", "path"]
    data = submit_data(form)
    assert data["rr_form"] == "checkin"

    # task/submit: stored once; the advice comes back in the dialog, not the chat.
    sent_before = len(env.connector.sent)
    answer = {**data, **CHECKIN, "comment": "Less context switching", "share": "false"}
    result = await env.ok(ta.task_submit(env.url, "u0", answer))
    assert result is not None
    advice = dialog_card(result)
    assert "Counted for 2026-W48" in json.dumps(advice)
    assert "Overhaul your routine" in json.dumps(advice)
    assert "Less context switching" not in json.dumps(advice)
    assert len(env.connector.sent) == sent_before  # nothing with scores into the chat
    assert await env.count(Answer) == 1

    # The prompt card is edited to "checked in", no scores (the edit waits in the outbox).
    assert env.connector.updated == []
    await env.runtime.dispatcher.run_once()
    [update] = env.connector.updated
    assert update.conversation_id == prompt.conversation_id
    assert update.activity_id == prompt.activity_id
    assert "You checked in for 2026-W48" in update.text
    assert not re.search(r"\b[1-5]\b", update.text.replace("2026-W48", ""))

    # A second submit is not counted again, and says so.
    again = await env.ok(ta.task_submit(env.url, "u0", answer))
    assert again is not None and "already counted" in json.dumps(dialog_card(again))
    assert await env.count(Answer) == 1

    # The dialog's button sends the advice 1:1, carrying what it needs in its data.
    send = submit_data(advice, "advice_send")
    assert send["rr_private"]
    closed = await env.ok(ta.task_submit(env.url, "u0", send))
    assert closed is None  # the dialog closes
    [dm] = env.connector.sent[sent_before:]
    assert dm.conversation_id == ta.personal_conversation_id("u0") and dm.reply_to is None
    assert "Overhaul your routine" in dm.text


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def test_summary_is_refused_politely_to_a_member(env: Env) -> None:
    [reply] = await env.say("u1", "summary")
    assert "Team summaries are for the managers of a team" in reply.text
    [summary] = await env.say("boss", "summary")
    assert "Platform: team check-in" in summary.text


async def test_personal_uninstall_forgets_the_reference_and_skips_deliveries(env: Env) -> None:
    await env.ok(ta.installation_update(env.url, "u2", "add"))
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.ok(ta.installation_update(env.url, "u2", "remove"))
    person = await env.person("u2")
    assert person is not None and person.conversation_ref is None
    async with env.runtime.ctx.sessions() as session:
        statuses = (
            await session.scalars(select(Delivery.status).where(Delivery.person_id == person.id))
        ).all()
    assert statuses == ["skipped"]


async def test_an_uninstall_whose_deletion_failed_is_done_by_the_redelivery(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: a failed deletion releases the activity's claim and answers Teams
    non-2xx, so the redelivered activity deletes instead of being dropped as a duplicate."""
    from adapters.teams import adapter as teams_adapter

    await env.ok(ta.installation_update(env.url, "u2", "add"))
    real = teams_adapter.person_uninstalled
    failures = iter([OSError("the database went away mid-way")])

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        for failure in failures:
            raise failure
        return await real(*args, **kwargs)

    monkeypatch.setattr(teams_adapter, "person_uninstalled", flaky)
    removed = ta.installation_update(env.url, "u2", "remove")
    first = await env.post(removed)
    assert first.status == 503
    person = await env.person("u2")
    assert person is not None and person.conversation_ref is not None
    await env.ok(removed)  # Teams redelivers the same activity
    person = await env.person("u2")
    assert person is not None and person.conversation_ref is None


def fail_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's next event fails unexpectedly, after its claim; later ones are handled."""
    real = ChatEngine._dispatch
    failures = iter([OSError("the database went away mid-way")])

    async def flaky(self: ChatEngine, *args: Any) -> Any:
        for failure in failures:
            raise failure
        return await real(self, *args)

    monkeypatch.setattr(ChatEngine, "_dispatch", flaky)


async def test_a_command_whose_handling_failed_is_done_by_the_redelivery(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At least once: a claimed activity (a pause) whose handling fails is answered 503 with
    no body and its claim released, so Teams' redelivery pauses, and confirms it, once. The
    failure is logged once with its traceback, the 503 in one WARNING line."""
    fail_once(monkeypatch)
    pause = ta.message(env.url, "u0", "pause")
    first = await env.post(pause)
    assert first.status == 503 and await first.read() == b""
    person = await env.person("u0")
    assert person is not None and person.paused_until is None
    assert env.connector.sent == [] and await env.count(ProcessedEvent) == 0
    assert [r.exc_info is not None for r in caplog.records if r.levelno >= logging.ERROR] == [True]
    assert [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "adapters.teams.adapter"
    ] == ["teams activity left for redelivery (503): CommandReceived"]

    await env.ok(pause)  # Teams redelivers the same activity
    person = await env.person("u0")
    assert person is not None and person.paused_until is not None
    assert len(env.connector.sent) == 1
    assert await env.deliver(pause) == [200]  # once more: a duplicate, no second reply
    assert len(env.connector.sent) == 1


async def test_a_check_in_whose_handling_failed_is_counted_by_the_redelivery(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for a dialog's task/submit: 503, then the redelivery counts the check-in
    once and answers it in the dialog."""
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    fail_once(monkeypatch)
    submit = ta.task_submit(env.url, "u0", {"rr_form": "checkin", **CHECKIN})
    assert (await env.post(submit)).status == 503 and await env.count(Answer) == 0
    result = await env.ok(submit)  # Teams redelivers the same invoke
    assert result is not None and "Counted for 2026-W48" in json.dumps(dialog_card(result))
    assert await env.count(Answer) == 1
    again = await env.ok(submit)  # a later redelivery: a duplicate
    assert again is None and await env.count(Answer) == 1


# --- channels: replies go 1:1 ----------------------------------------------------------------


async def test_a_command_in_a_channel_is_answered_privately(env: Env) -> None:
    before = await env.person("u3")
    assert before is not None
    posted = await env.say("u3", "privacy", personal=False)
    private, note = posted
    # The privacy answer went to u3's 1:1 chat (opened or found again), never the channel.
    assert private.conversation_id == personal_conversation("29:u3")
    assert "What is stored about you" in private.text
    [created] = env.connector.created
    assert created["members"] == [{"id": "29:u3"}] and created["tenantId"] == ta.TENANT
    assert created["channelData"] == {"tenant": {"id": ta.TENANT}}
    assert note.conversation_id == ta.CHANNEL_CONVERSATION
    assert note.text.strip() == "I've sent you a private message."
    # The channel did not replace how to reach u3 one to one.
    after = await env.person("u3")
    assert after is not None and after.conversation_ref == before.conversation_ref


async def test_a_channel_reply_that_cannot_go_private_says_so(env: Env) -> None:
    env.connector.installed = set()  # nobody has the personal app: Teams refuses the 1:1
    [note] = await env.say("u3", "privacy", personal=False)
    assert note.conversation_id == ta.CHANNEL_CONVERSATION
    assert "couldn't message you privately" in note.text
    assert "What is stored" not in note.text


async def test_an_admin_creates_a_team_from_the_team_it_is_sent_in(env: Env) -> None:
    env.connector.members[ta.TEAM_ID] = [
        member("aad-1", "Ada"),
        member("aad-2", "Grace"),
        member("aad-3", "Linus"),
    ]
    [private, _note] = await env.say("root", "admin team add Design --from-channel", personal=False)
    assert "Design" in private.text
    assert env.connector.member_pages == [ta.TEAM_ID, ta.TEAM_ID]  # two pages of two
    async with env.runtime.ctx.sessions() as session:
        stubs = (
            await session.scalars(select(Person.user_id).where(Person.user_id.like("aad-%")))
        ).all()
    assert sorted(stubs) == ["aad-1", "aad-2", "aad-3"]

    # In a 1:1 chat there is no channel to list: a clear answer, nothing created.
    [refused] = await env.say("root", "admin team add Ops --from-channel here")
    assert "send the command in the team's channel" in refused.text
    # Only admins: a member asking in a channel is refused (privately).
    [denied, _] = await env.say("u0", "admin team add X --from-channel", personal=False)
    assert "admin" in denied.text.lower()


async def test_an_admin_sets_a_schedule_through_the_panel_dialog(env: Env) -> None:
    [panel] = await env.say("root", "admin")
    opener = submit_data(panel.cards[0], "admin_schedule")
    assert opener["msteams"] == {"type": "task/fetch"} and opener["rr_value"] == "Platform"
    fetched = await env.ok(ta.task_fetch(env.url, "root", opener))
    assert fetched is not None
    form = dialog_card(fetched)
    assert [i["id"] for i in _inputs(form)][:3] == ["cadence", "weekday", "time"]
    data = submit_data(form)
    assert data["rr_form"] == "schedule" and data["rr_private"] == "Platform"
    before = len(env.connector.sent)
    values = {"cadence": "weekly", "weekday": "tue", "time": "09:15"}
    closed = await env.ok(ta.task_submit(env.url, "root", {**data, **values}))
    assert closed is None  # a chat answer: the dialog closes, the result goes to the chat
    [result] = env.connector.sent[before:]
    assert "Platform" in result.text and "09:15" in result.text


async def test_the_admin_panel_clicked_is_refreshed_in_place(env: Env) -> None:
    """Seen in Microsoft 365 Agents Playground: every round button posted a new panel under the
    old one, whose "Open round" stayed clickable. The panel clicked is edited instead (Teams
    names it in the Action.Submit's replyToId); the result is a new message."""
    [panel] = await env.say("root", "admin")
    click = submit_data(panel.cards[0], "admin_round")
    assert click["rr_value"] == "open|Platform"
    await env.ok(ta.submit_click(env.url, "root", click) | {"replyToId": panel.activity_id})
    [result] = env.connector.sent[1:]
    assert "Round 2026-W48 for Platform is open" in result.text
    [edited] = env.connector.updated
    assert (edited.conversation_id, edited.activity_id) == (
        panel.conversation_id,
        panel.activity_id,
    )
    assert edited.activity["id"] == panel.activity_id
    ask = submit_data(edited.cards[0], "admin_round")
    assert ask["rr_value"] == "ask-close|Platform"  # closing asks first
    await env.ok(ta.submit_click(env.url, "root", ask) | {"replyToId": panel.activity_id})
    confirm = env.connector.sent[2]
    assert "This cannot be undone." in confirm.text

    # Teams refuses the edit: the fresh panel is posted instead, nothing is lost.
    env.connector.fail_next("update", 404)
    yes = submit_data(confirm.cards[0], "admin_round")
    assert yes["rr_value"] == "close|Platform"
    await env.ok(ta.submit_click(env.url, "root", yes) | {"replyToId": confirm.activity_id})
    closed, fresh = env.connector.sent[3:]
    assert "closed" in closed.text and submit_data(fresh.cards[0], "admin_schedule")
    # Other buttons (the help card's Admin) still answer with a new message.
    [help_card] = await env.say("root", "help")
    opener = submit_data(help_card.cards[0], "admin_panel")
    await env.ok(ta.submit_click(env.url, "root", opener) | {"replyToId": help_card.activity_id})
    assert len(env.connector.updated) == 1 and "admin" in env.connector.sent[-1].text.lower()


async def test_typed_checkin_gets_a_card_that_opens_the_dialog(env: Env) -> None:
    [card] = await env.say("u0", "checkin")
    opener = submit_data(card.cards[0], "checkin_open")
    assert opener["msteams"] == {"type": "task/fetch"}
    # What the dialog is about, then a button named after it; not the title twice (as seen
    # in Microsoft 365 Agents Playground: "Career check-in [Career check-in]").
    [intro, buttons] = card.cards[0]["body"]
    assert intro["text"].startswith("Five taps, under a minute.")
    assert [a["title"] for a in buttons["actions"]] == ["Career check-in"]
    assert card.activity["summary"] == "Career check-in"


async def test_a_schedule_form_in_the_chat_is_a_card_that_opens_the_dialog(env: Env) -> None:
    """A Schedule button clicked as a plain Action.Submit (a client that did not open the
    task module) gets the form as an opener card in the chat."""
    before = len(env.connector.sent)
    click = {"rr_action": "admin_schedule", "rr_value": "Platform", "rr_private": ""}
    await env.ok(ta.submit_click(env.url, "root", click))
    [card] = env.connector.sent[before:]
    opener = submit_data(card.cards[0], "admin_schedule")
    assert opener["msteams"] == {"type": "task/fetch"} and opener["rr_value"] == "Platform"
    [intro, buttons] = card.cards[0]["body"]
    assert intro["text"] == "When should Platform check in?"
    assert [a["title"] for a in buttons["actions"]] == ["Check-in schedule"]


async def test_no_slash_command_in_what_teams_people_read(env: Env) -> None:
    """Teams has no `/rut` (seen in Microsoft 365 Agents Playground): the welcome, the admin
    panel, answers and notifications name commands as words to write to the bot."""
    await env.ok(ta.installation_update(env.url, "u0", "add"))
    await env.say("u0", "pause")
    await env.say("u0", "privacy")
    await env.say("root", "admin")
    await env.say("root", "admin team add")  # a usage error from the admin grammar
    assert len(env.connector.sent) == 5
    for posted in env.connector.sent:
        assert "/rut" not in posted.text, posted.text
    assert "paused until you type resume" in env.connector.sent[1].text


def test_conversation_refs_read_old_json_and_keep_teams_fields() -> None:
    old = {"platform": "slack", "tenant_id": "T1", "channel_id": "U1", "service_url": None}
    assert ConversationRef.from_json(old).to_json() == old  # unchanged for other platforms
    teams = ConversationRef("teams", "t", "a:1x", "https://smba/", bot_id="28:b", user_id="aad")
    assert ConversationRef.from_json(teams.to_json()) == teams


def test_production_settings_use_botbuilders_public_cloud_path() -> None:
    """Without an override botbuilder's built-in public-cloud validation runs (the tests take
    the parameterized path, with the same checks, against the fake)."""
    from botframework.connector.auth import AuthenticationConstants as K

    from adapters.teams.auth import bot_framework_config, metadata_urls

    settings = Settings(MICROSOFT_APP_ID="app", MICROSOFT_APP_PASSWORD="pw")
    cfg = bot_framework_config(settings)
    assert not hasattr(cfg, "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL")
    assert cfg.APP_ID == "app" and cfg.APP_TYPE == "MultiTenant"
    assert metadata_urls(settings) == (
        K.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
        K.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
    )


async def test_redeliveries_team_installs_and_upgrades_change_nothing(env: Env) -> None:
    # Teams redelivers an activity it got no answer for: the same id has no second effect on
    # what it changes (the pause is confirmed once, its id claimed on any replica)...
    activity = ta.message(env.url, "u0", "pause")
    await env.ok(activity)
    await env.ok(activity)
    assert len(env.connector.sent) == 1
    # ...while a redelivered read is answered again, as Teams asked, and leaves no record
    # (reads never write: no event id is claimed for it).
    async with env.runtime.ctx.sessions() as session:
        claimed = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    read = ta.message(env.url, "u0", "help")
    await env.ok(read)
    await env.ok(read)
    assert len(env.connector.sent) == 3
    async with env.runtime.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == claimed
    # Installed into a team: nobody's 1:1 reference, no welcome.
    await env.ok(ta.installation_update(env.url, "u1", "add", personal=False))
    await env.ok(ta.conversation_update(env.url, "u1", personal=False))
    # An app upgrade removes the old version: not an uninstall.
    await env.ok(ta.installation_update(env.url, "u1", "remove-upgrade"))
    person = await env.person("u1")
    assert person is not None and person.conversation_ref == personal_ref(env, "u1")
    assert len(env.connector.sent) == 3
    # Invokes the bot does not serve are "not implemented", not an error.
    other = ta.task_fetch(env.url, "u1", {})
    other["name"] = "composeExtension/query"
    response = await env.post(other)
    assert response.status == 501


async def test_every_card_the_adapter_sends_is_valid(env: Env, checker: Checker) -> None:
    """What reaches Teams, after the adapter's own touches (dialog-opening buttons, forms
    turned into opener cards, chat answers out of dialogs), checked by the real adaptivecards
    package like the renderer's own cards."""
    dialogs: dict[str, dict[str, Any]] = {}
    await env.ok(ta.installation_update(env.url, "u0", "add"))
    for text in ("advice", "checkin", "privacy", "forget-me"):
        await env.say("u0", text)
    for text in (
        "admin",
        "summary",
        "admin schedule set Platform --cadence weekly --weekday mon --time 09:30",
    ):
        await env.say("root" if text.startswith("admin") else "boss", text)
    await env.say("u1", "privacy", personal=False)
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    await env.runtime.dispatcher.run_once()
    [prompt] = [p for p in env.connector.sent_to(ta.personal_conversation_id("u2")) if p.cards]
    fetched = await env.ok(
        ta.task_fetch(env.url, "u2", submit_data(prompt.cards[0], "checkin_open"))
    )
    assert fetched is not None
    dialogs["checkin_form"] = dialog_card(fetched)
    data = submit_data(dialogs["checkin_form"])
    result = await env.ok(ta.task_submit(env.url, "u2", {**data, **CHECKIN}))
    assert result is not None
    dialogs["checkin_result"] = dialog_card(result)
    await env.runtime.dispatcher.run_once()  # the prompt's "checked in" edit
    cards = {
        **{f"sent{i}": c for i, p in enumerate(env.connector.sent) for c in p.cards},
        **{f"updated{i}": c for i, p in enumerate(env.connector.updated) for c in p.cards},
        **dialogs,
    }
    assert len(cards) > 12
    assert_clean(cards, checker(cards))


def test_a_reply_built_as_json_is_what_botbuilder_would_send() -> None:
    """The 1:1 reply skips msrest's models (`reply_json`): the body must be the one
    `TurnContext.send_activity` → `reply_to_activity` serialises, field for field."""
    from botbuilder.core import TurnContext
    from botbuilder.schema import Activity
    from botframework.connector.aio import ConnectorClient
    from msrest.authentication import BasicTokenAuthentication

    from adapters.teams.adapter import TeamsAdapter, reply_json
    from bot.chat.engine import BUTTON_TRAITS
    from messages.model import Message
    from tests.teams_messages import checkin_result

    serializer = ConnectorClient(
        BasicTokenAuthentication({"access_token": "x"}), base_url="https://smba.example/"
    ).conversations._serialize
    adapter = TeamsAdapter.__new__(TeamsAdapter)  # the two builders use no other state
    adapter.traits = BUTTON_TRAITS
    for raw in (
        ta.message("https://smba.example/", "u0", "help"),
        ta.message("https://smba.example/", "u1", "advice", personal=False),
        ta.submit_click("https://smba.example/", "u2", {"rr_action": "advice"}),
    ):
        incoming = Activity().deserialize(raw)
        for message in (checkin_result(), Message.text("Hello <b>there</b>")):
            activity = adapter._chat_activity(message)
            reference = TurnContext.get_conversation_reference(incoming)
            TurnContext.apply_conversation_reference(activity, reference)
            activity.input_hint = activity.input_hint or "acceptingInput"
            expected = serializer.body(activity, "Activity")
            got = json.loads(json.dumps(reply_json(incoming, adapter._chat_json(message))))
            assert got == expected
