"""Robust input (issue 13): each case a replay of real or hostile Slack bodies found to break
the server, signed for real and posted to the running app. Every one is answered cleanly:
a 2xx, or a 400 with exactly one WARNING line naming the field; never a 5xx, a traceback, an
ERROR line, or a row with an empty or malformed id."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes, unquote_to_bytes, urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import func, select

from adapters.slack.adapter import SlackAdapter
from adapters.slack.payloads import (
    MAX_DEPTH,
    MAX_FORM_FIELDS,
    MalformedPayload,
    _scanned_depth,
    json_depth,
    parse_request,
    unescaped,
)
from adapters.slack.payloads import _form as read_form
from bot.admin.workspaces import installed_by
from bot.core.clock import ManualClock
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from storage.models import Delivery, Membership, Person, ProcessedEvent, Workspace
from storage.slack_store import slack_bots, slack_installations
from tests.conftest import World, build_world
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    app_home_opened,
    app_uninstalled,
    block_actions,
    event_callback,
    selected_value,
    signed_headers,
    slash_command,
    ssl_check,
    tokens_revoked,
    url_verification,
    view_submission,
)
from tests.test_slack import SECRET, settings_for

FORM = "application/x-www-form-urlencoded"
SLACK_ID = re.compile(r"^[A-Z0-9]+$")
Client = TestClient[web.Request, web.Application]


class Slack:
    """The app with a fake Web API, and what the log said about the last request."""

    def __init__(
        self,
        client: Client,
        fake: FakeSlackAPI,
        clock: ManualClock,
        world: World,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.client, self.fake, self.clock, self.world, self.caplog = (
            client,
            fake,
            clock,
            world,
            caplog,
        )
        self.runtime = client.app[RUNTIME]

    async def post(self, body: bytes, content_type: str | None = None) -> tuple[int, str]:
        self.caplog.clear()
        headers = signed_headers(body, SECRET, self.clock.now(), content_type)
        response = await self.client.post("/slack/events", data=body, headers=headers)
        return response.status, await response.text()

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.levelno == logging.WARNING]

    def assert_clean(self) -> None:
        """No ERROR line and no traceback for this request."""
        bad = [r for r in self.caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert not bad, [r.getMessage() for r in bad]

    async def assert_refused(
        self, body: bytes, field: str, content_type: str | None = None
    ) -> None:
        """400, and one WARNING line, which names the field."""
        people = await self.count(Person)
        status, text = await self.post(body, content_type)
        assert status == 400, text
        assert "malformed request" in json.loads(text)["error"]
        self.assert_clean()
        [line] = self.warnings()
        assert field in line, line
        assert await self.count(Person) == people

    async def count(self, model: type, *where: Any) -> int:
        async with self.runtime.ctx.sessions() as session:
            query = select(func.count()).select_from(model)
            for clause in where:
                query = query.where(clause)
            return int(await session.scalar(query) or 0)

    async def assert_ids_well_formed(self) -> None:
        async with self.runtime.ctx.sessions() as session:
            users = (await session.scalars(select(Person.user_id))).all()
            workspaces = (await session.scalars(select(Workspace.external_id))).all()
            events = (await session.scalars(select(ProcessedEvent.event_id))).all()
        assert all(SLACK_ID.match(u) for u in users), users
        assert all(SLACK_ID.match(w) for w in workspaces), workspaces
        assert all(e and all(e.split(":")) for e in events), events


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING):
        yield caplog


@pytest.fixture
async def slack(
    sqlite_url: str, clock: ManualClock, caplog_warnings: pytest.LogCaptureFixture
) -> AsyncIterator[Slack]:
    async with FakeSlackAPI() as fake:
        app = build_app(
            settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test"),
            clock=clock,
            background=False,
        )
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            world = await build_world(app[RUNTIME].ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id, real_name=person.display_name)
            yield Slack(client, fake, clock, world, caplog_warnings)


def form(*pairs: tuple[str, str]) -> bytes:
    return urlencode(pairs).encode()


def command_pairs(text: str = "help", **fields: str) -> list[tuple[str, str]]:
    base = dict(
        token="t",
        team_id="T0001",
        team_domain="acme",
        channel_id="C0001",
        channel_name="general",
        user_id="U0",
        user_name="alice",
        command="/rut",
        text=text,
        trigger_id="1700000000.1.abcdef",
    )
    base.update(fields)
    return list(base.items())


def payload_of(body: bytes) -> dict[str, Any]:
    from urllib.parse import parse_qs

    loaded: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return loaded


def as_form(payload: dict[str, Any]) -> bytes:
    return form(("payload", json.dumps(payload)))


# --- "payload" in a slash command (Bolt's parse_body, payloads.BOLT_PARSE_BODY) ---------------


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "advice payload"},
        {"text": "help payload"},
        {"channel_name": "payload-team"},
        {"user_name": "payload.bot"},
        {"team_domain": "payload"},
        {"channel_name": "payload=team"},
    ],
    ids=["advice", "help", "channel", "user", "domain", "payload="],
)
async def test_a_slash_command_mentioning_payload_is_answered(
    slack: Slack, fields: dict[str, str]
) -> None:
    """Bolt alone parses these as `{}` and answers 404 (Slack shows `dispatch_failed`)."""
    text = fields.pop("text", "help")
    body = slash_command(text, user_id="U0", response_url=slack.fake.response_url("U0"), **fields)
    assert b"payload" in body
    status, reply = await slack.post(body)
    assert status == 200, reply
    answer = json.loads(reply)
    assert answer["response_type"] == "ephemeral" and answer["text"]
    slack.assert_clean()
    assert slack.warnings() == []


async def test_rut_advice_payload_is_read_as_its_words(slack: Slack) -> None:
    """`payload` is just a word that names no practice: the same reply as any other."""
    _, payload = await slack.post(slash_command("advice payload", user_id="U0"))
    _, other = await slack.post(slash_command("advice zebra", user_id="U0"))
    assert json.loads(payload)["text"] == json.loads(other)["text"].replace("zebra", "payload")


# --- real bodies, as slack-bolt's own test suite has them -------------------------------------

BOLT_VIEW_SUBMISSION = {
    "type": "view_submission",
    "team": {
        "id": "T111",
        "domain": "workspace-domain",
        "enterprise_id": "E111",
        "enterprise_name": "Sandbox Org",
    },
    "user": {"id": "W111", "username": "primary-owner", "name": "primary-owner", "team_id": "T111"},
    "api_app_id": "A111",
    "token": "verification_token",
    "trigger_id": "111.222.valid",
    "view": {
        "id": "V111",
        "team_id": "T111",
        "type": "modal",
        "blocks": [
            {
                "type": "input",
                "block_id": "hspI",
                "label": {"type": "plain_text", "text": "Label"},
                "optional": False,
                "element": {"type": "plain_text_input", "action_id": "maBWU"},
            }
        ],
        "private_metadata": "This is for you!",
        "callback_id": "view-id",
        "state": {"values": {"hspI": {"maBWU": {"type": "plain_text_input", "value": "test"}}}},
        "hash": "1596530361.3wRYuk3R",
        "title": {"type": "plain_text", "text": "My App"},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "previous_view_id": None,
        "root_view_id": "V111",
        "app_id": "A111",
        "external_id": "",
        "app_installed_team_id": "T111",
        "bot_id": "B111",
    },
    "response_urls": [],
}
# slack-bolt's tests/scenario_tests_async/test_slash_command.py, with our command.
BOLT_SLASH_COMMAND = (
    "token=verification_token&team_id=T111&team_domain=test-domain&channel_id=C111"
    "&channel_name=random&user_id=W111&user_name=primary-owner&command=%2Frut&text=Hi"
    "&enterprise_id=E111&enterprise_name=Org+Name"
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxxxx"
    "&trigger_id=111.111.xxx"
)


def _org_event(event: dict[str, Any], **extra: Any) -> bytes:
    """tests/scenario_tests_async/test_events_org_apps.py and test_events_token_revocations.py"""
    return json.dumps(
        {
            "token": "verification-token",
            "enterprise_id": "E111",
            "api_app_id": "A111",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev111",
            "event_time": 1606805974,
            **extra,
        }
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        BOLT_SLASH_COMMAND.encode(),
        as_form(BOLT_VIEW_SUBMISSION),
        _org_event(
            {"type": "team_access_granted", "team_ids": ["T111", "T222"], "event_ts": "1.2"}
        ),
        _org_event(
            {"type": "team_access_revoked", "team_ids": ["T111", "T222"], "event_ts": "1.2"}
        ),
        _org_event({"type": "tokens_revoked", "tokens": {"oauth": ["W111"], "bot": ["W222"]}}),
        _org_event({"type": "app_uninstalled"}),
        _org_event(
            {
                "type": "app_home_opened",
                "user": "W111",
                "channel": "D111",
                "tab": "messages",
                "event_ts": "1606810927.510671",
            },
            team_id="T111",
            authorizations=[
                {
                    "enterprise_id": "E111",
                    "team_id": None,
                    "user_id": "W111",
                    "is_bot": True,
                    "is_enterprise_install": True,
                }
            ],
            is_ext_shared_channel=False,
        ),
    ],
    ids=[
        "slash_command",
        "view_submission",
        "team_access_granted",
        "team_access_revoked",
        "tokens_revoked",
        "app_uninstalled",
        "app_home_opened",
    ],
)
async def test_real_bodies_from_slack_bolts_tests_are_answered(slack: Slack, body: bytes) -> None:
    status, text = await slack.post(body)
    assert 200 <= status < 300, text
    slack.assert_clean()
    assert slack.warnings() == []
    await slack.assert_ids_well_formed()


# --- repeated keys -------------------------------------------------------------------------


async def test_payload_given_twice_is_refused(slack: Slack) -> None:
    good = block_actions("advice", "routine", user_id="U0")
    other = block_actions("advice", "routine", user_id="U1")
    body = good + b"&" + other
    await slack.assert_refused(body, "payload")


@pytest.mark.parametrize(
    ("key", "second"),
    [
        ("user_id", ""),
        ("team_id", "T9"),
        ("command", "/rut"),
        ("trigger_id", "1.2.3"),
        ("text", ""),
    ],
)
async def test_a_slash_command_with_a_repeated_key_is_refused(
    slack: Slack, key: str, second: str
) -> None:
    pairs = [*command_pairs(), (key, second)]
    await slack.assert_refused(form(*pairs), key)
    assert await slack.count(Workspace, Workspace.external_id == "T9") == 0


async def test_a_json_key_given_twice_is_refused(slack: Slack) -> None:
    body = event_callback(app_home_opened("U0"), event_id="Ev1").decode()
    body = body.replace('"team_id": "T0001"', '"team_id": "T0001", "team_id": "T9"', 1)
    await slack.assert_refused(body.encode(), "team_id")


# --- deep nesting and sizes ----------------------------------------------------------------


@pytest.mark.parametrize("depth", [50_000, 100_000])
async def test_deeply_nested_json_is_refused_without_recursion(slack: Slack, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    envelope = '{"type":"event_callback","event_id":"Ev1","team_id":"T0001","event":' + deep + "}"
    await slack.assert_refused(envelope.encode(), "nested deeper")
    await slack.assert_refused(form(("payload", deep)), "nested deeper")


@settings(max_examples=800, derandomize=True, database=None, deadline=None)
@given(
    st.one_of(
        st.text(alphabet='[]{}"\\a,: ', max_size=60),
        st.recursive(
            st.none() | st.booleans() | st.text(alphabet='[]{}"\\a', max_size=4),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
            max_leaves=30,
        ).map(json.dumps),
    ),
    st.integers(min_value=0, max_value=12),
)
def test_the_quick_depth_reads_as_the_character_by_character_one(text: str, limit: int) -> None:
    """Any text, JSON or not, escaped quotes or not: the same depth, the same early stop."""
    assert json_depth(text, limit) == _scanned_depth(text, limit)


@settings(max_examples=1500, derandomize=True, database=None, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="%=0123456789abcdefABCDEFgz_ \t\r\n+é€", max_size=40),
        st.binary(max_size=40).map(lambda raw: quote_from_bytes(raw, safe=" =%_\t\n")),
    )
)
def test_the_quick_unescaping_reads_as_unquote_to_bytes(text: str) -> None:
    """Any text, escapes valid or not, raw `=`, blanks and line breaks: the same bytes."""
    assert unescaped(text) == unquote_to_bytes(text)


def test_the_quick_unescaping_keeps_what_quoted_printable_would_not() -> None:
    for text in ["a%2", "%zz", "=41", "%41%", "a \n", "x  ", "%3d%3D=", "_=_", "%0A \r\n"]:
        assert unescaped(text) == unquote_to_bytes(text), text


def test_the_depth_is_measured_without_parsing() -> None:
    assert json_depth('{"a": [1, {"b": "[[[[{{{{"}]}', 10) == 3
    assert json_depth(r'["\"[[[", "\\", [[]]]', 10) == 3
    assert json_depth("[" * 1_000_000, MAX_DEPTH) == MAX_DEPTH + 1  # stops early
    with pytest.raises(MalformedPayload, match="nested deeper"):
        parse_request(("[" * 70 + "]" * 70).encode(), "application/json")


# Forms made of what decides how a form reads: separators, escapes of separators and of
# `%`, `+`, UTF-8 escapes whole, cut short or invalid, raw non-ASCII, NUL.
_FORM_PIECES = st.sampled_from(
    [
        "&",
        "=",
        "%",
        "+",
        "%26",
        "%3D",
        "%3d",
        "%25",
        "%2B",
        "%20",
        "%C3%A9",
        "%C3",
        "%A9",
        "%ff",
        "%ED%A0%80",
        "%00",
        "%2",
        "%zz",
        "é",
        "€",
        "a",
        "b",
        "text",
        "payload",
        "1",
        "ff",
    ]
)


@settings(max_examples=600, derandomize=True, database=None, deadline=None)
@given(st.lists(_FORM_PIECES, max_size=24).map("".join))
def test_a_form_reads_as_parse_qsl_reads_it(text: str) -> None:
    """The same pairs as `parse_qsl(…, keep_blank_values=True, errors="strict")`, and a
    refusal wherever it fails or a key repeats."""
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeError, ValueError):
        expected = None
    else:
        names = [name for name, _ in pairs]
        expected = dict(pairs) if len(set(names)) == len(names) else None
    if expected is None:
        with pytest.raises(MalformedPayload):
            read_form(text)
    else:
        assert read_form(text) == expected


def test_a_repeated_key_is_named_also_when_the_form_is_decoded_whole() -> None:
    for text in ("a=1&b=%C3%A9&a=2", "a=1&b=%26&a=2"):
        with pytest.raises(MalformedPayload, match=r"given more than once: a$"):
            read_form(text)


async def test_huge_strings_are_refused_or_answered(slack: Slack) -> None:
    await slack.assert_refused(slash_command("x" * 50_000, user_id="U0"), "text")
    status, _ = await slack.post(slash_command("advice " + "é" * 10_000, user_id="U0"))
    assert status == 200
    slack.assert_clean()


# --- wrong types: events -------------------------------------------------------------------


@pytest.mark.parametrize("user", [5, {"id": "U0"}, None, "", "u0", "U0\u202e", "U0\n"], ids=repr)
async def test_app_home_opened_with_a_bad_user_is_refused(slack: Slack, user: object) -> None:
    event = app_home_opened("U0")
    event["user"] = user
    await slack.assert_refused(event_callback(event), "event.user")
    assert slack.fake.calls_to("views.publish") == []


async def test_app_home_opened_without_a_user_is_refused(slack: Slack) -> None:
    event = app_home_opened("U0")
    del event["user"]
    await slack.assert_refused(event_callback(event), "event.user")


@pytest.mark.parametrize("event", [None, "app_home_opened", [1], {"user": "U0"}], ids=repr)
async def test_an_event_of_the_wrong_shape_is_refused(slack: Slack, event: object) -> None:
    body = json.loads(event_callback(app_home_opened("U0")))
    body["event"] = event
    await slack.assert_refused(json.dumps(body).encode(), "event")


# --- wrong types: interactivity ------------------------------------------------------------


@pytest.mark.parametrize("view", ["V0001", ["V0001"], 7], ids=repr)
async def test_a_view_that_is_not_an_object_is_refused(slack: Slack, view: object) -> None:
    payload = payload_of(block_actions("advice", "routine", user_id="U0", view={"type": "modal"}))
    payload["view"] = view
    await slack.assert_refused(as_form(payload), "payload.view")
    submission = payload_of(view_submission("checkin", {}, user_id="U0"))
    submission["view"] = view
    await slack.assert_refused(as_form(submission), "payload.view")


async def test_a_modal_action_without_a_view_id_is_refused(slack: Slack) -> None:
    payload = payload_of(block_actions("advice", "routine", user_id="U0", view={"type": "modal"}))
    del payload["view"]["id"]
    await slack.assert_refused(as_form(payload), "payload.view.id")
    assert slack.fake.calls_to("views.update") == []


@pytest.mark.parametrize("kind", ["block_actions", "view_submission", "command"])
async def test_a_request_without_a_trigger_id_is_refused(slack: Slack, kind: str) -> None:
    if kind == "command":
        pairs = [p for p in command_pairs() if p[0] != "trigger_id"]
        await slack.assert_refused(form(*pairs), "trigger_id")
        return
    raw = (
        block_actions("advice", "routine", user_id="U0")
        if kind == "block_actions"
        else view_submission("checkin", {}, user_id="U0")
    )
    payload = payload_of(raw)
    del payload["trigger_id"]
    await slack.assert_refused(as_form(payload), "payload.trigger_id")


@pytest.mark.parametrize("value", [3, {"practice": "routine"}, ["routine"], 1.5, True], ids=repr)
async def test_an_advice_button_whose_value_is_not_text_is_refused(
    slack: Slack, value: object
) -> None:
    payload = payload_of(block_actions("advice", "routine", user_id="U0"))
    payload["actions"][0]["value"] = value
    await slack.assert_refused(as_form(payload), "payload.actions[0].value")
    assert slack.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("user",), None),
        (("user", "id"), ""),
        (("user", "id"), "U\u202e0"),
        (("team", "id"), 42),
        (("actions",), []),
        (("actions",), "advice"),
        (("actions", 0, "action_id"), ""),
        (("response_url",), "https://evil.example/hook"),
        (("enterprise",), "E1"),
        (("is_enterprise_install",), "yes"),
    ],
    ids=lambda v: repr(v)[:30],
)
async def test_block_actions_of_the_wrong_shape_are_refused(
    slack: Slack, path: tuple[str | int, ...], value: object
) -> None:
    payload = payload_of(block_actions("advice", "routine", user_id="U0"))
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    field = "payload" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    await slack.assert_refused(as_form(payload), field)


async def test_a_text_with_a_nul_or_a_lone_surrogate_is_refused(slack: Slack) -> None:
    await slack.assert_refused(slash_command("admin team add A\x00B", user_id="UROOT"), "text")
    state = {"comment": {"comment": "\ud800"}}
    payload = payload_of(view_submission("checkin", state, user_id="U0"))
    await slack.assert_refused(as_form(payload), "payload.view.state.values")


# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("user_id", ""),
        ("user_id", "u0"),
        ("user_id", "U\u202e0"),
        ("user_id", "U0 "),
        ("team_id", ""),
        ("team_id", "T0001\n"),
        ("team_id", "T" * 40),
    ],
    ids=repr,
)
async def test_empty_or_malformed_ids_are_refused(slack: Slack, key: str, value: str) -> None:
    pairs = [(k, value if k == key else v) for k, v in command_pairs()]
    await slack.assert_refused(form(*pairs), key)
    await slack.assert_ids_well_formed()


# --- answered, not refused ---------------------------------------------------------------------


async def test_app_rate_limited_is_acknowledged_counted_and_logged_once(slack: Slack) -> None:
    body = json.dumps(
        {
            "token": "t",
            "type": "app_rate_limited",
            "team_id": "T0001",
            "minute_rate_limited": 1518467820,
            "api_app_id": "A0001",
        }
    ).encode()
    status, _ = await slack.post(body)
    assert status == 200
    slack.assert_clean()
    [line] = slack.warnings()
    assert "app_rate_limited" in line and "T0001" in line
    metrics = await (await slack.client.get("/metrics")).text()
    assert 'rutradar_platform_rate_limited_total{platform="slack"} 1.0' in metrics


async def test_refusals_are_counted(slack: Slack) -> None:
    await slack.assert_refused(form(*command_pairs(user_id="")), "user_id")
    metrics = await (await slack.client.get("/metrics")).text()
    assert 'rutradar_inbound_rejected_total{platform="slack"} 1.0' in metrics


async def test_events_nobody_subscribed_to_are_acknowledged(slack: Slack) -> None:
    granted = {"type": "team_access_granted", "team_ids": ["T0002"], "event_ts": "1.2"}
    for event in (granted, {"type": "reaction_added", "user": 5}):
        status, _ = await slack.post(event_callback(event))
        assert status == 200
        slack.assert_clean()
        assert slack.warnings() == []


async def test_handshakes_still_work(slack: Slack) -> None:
    status, text = await slack.post(url_verification("abc"))
    assert status == 200 and json.loads(text)["challenge"] == "abc"
    status, _ = await slack.post(ssl_check())
    assert status == 200


async def test_slack_refusing_a_call_is_one_warning_not_a_traceback(slack: Slack) -> None:
    slack.fake.fail_next("views.open", error="expired_trigger_id")
    status, _ = await slack.post(slash_command("checkin", user_id="U0"))
    assert status == 200
    slack.assert_clean()
    [line] = slack.warnings()
    assert "views.open" in line and "expired_trigger_id" in line


async def test_a_modal_action_updates_the_view_it_came_from(slack: Slack) -> None:
    body = block_actions("checkin_open", "", user_id="U0", view={"id": "V0042", "type": "modal"})
    status, _ = await slack.post(body)
    assert status == 200
    [update] = slack.fake.calls_to("views.update")
    assert update.params["view_id"] == "V0042"
    slack.assert_clean()


async def test_a_check_in_through_the_modal_still_counts(slack: Slack) -> None:
    await open_round(slack.runtime.ctx, slack.world.cli, slack.world.team)
    state: dict[str, dict[str, Any]] = {
        key: {key: selected_value("3", element_type="radio_buttons")}
        for key in ("assess", "routine", "training", "strengths", "path")
    }
    status, text = await slack.post(view_submission("checkin", state, user_id="U0"))
    assert status == 200 and "Counted for 2026-W48" in text
    slack.assert_clean()


# --- Enterprise Grid: org-wide installs and shared channels -----------------------------------


def org_envelope(event: dict[str, Any], *, event_id: str, enterprise_id: str = "E0001") -> bytes:
    """As Slack sends it to an org-wide app: `team_id: null`, the installation named by
    `authorizations[0]`."""
    return event_callback(
        event,
        event_id=event_id,
        team_id=None,  # type: ignore[arg-type]
        enterprise_id=enterprise_id,
        authorizations=[
            {
                "enterprise_id": enterprise_id,
                "team_id": None,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": True,
            }
        ],
    )


async def add_workspace(slack: Slack, external_id: str, *users: str) -> None:
    for user in users:
        await installed_by(
            slack.runtime.ctx,
            "slack",
            external_id,
            name=external_id,
            installer_user_id=user,
        )


@pytest.mark.parametrize(
    "event",
    [app_uninstalled(), tokens_revoked(bot=["UBOT"])],
    ids=["app_uninstalled", "tokens_revoked"],
)
async def test_an_org_wide_uninstall_with_a_null_team_acts_on_the_enterprise(
    slack: Slack, event: dict[str, Any]
) -> None:
    await add_workspace(slack, "E0001", "W1", "W2")
    status, _ = await slack.post(org_envelope(event, event_id="Ev-org"))
    assert status == 200
    slack.assert_clean()
    async with slack.runtime.ctx.sessions() as session:
        org = await session.scalar(select(Workspace.id).where(Workspace.external_id == "E0001"))
    assert org is not None
    assert await slack.count(Person, Person.workspace_id == org) == 0
    assert await slack.count(Person, Person.user_id == "U0") == 1  # T0001 untouched


async def test_team_access_revoked_deletes_those_workspaces_only(slack: Slack) -> None:
    await add_workspace(slack, "E0001", "W1")
    await add_workspace(slack, "T0002", "W2")
    revoked = {"type": "team_access_revoked", "team_ids": ["T0002"], "event_ts": "1.2"}
    status, _ = await slack.post(org_envelope(revoked, event_id="Ev-revoked"))
    assert status == 200
    slack.assert_clean()
    assert await slack.count(Person, Person.user_id == "W2") == 0
    assert await slack.count(Person, Person.user_id == "W1") == 1  # the org install stays
    assert await slack.count(Person, Person.user_id == "U0") == 1


async def test_an_uninstall_from_a_shared_channel_acts_on_the_authorised_installation(
    slack: Slack,
) -> None:
    """The envelope names the other workspace (T0009); `authorizations[0]` names ours."""
    await add_workspace(slack, "T0009", "W9")
    await open_round(slack.runtime.ctx, slack.world.cli, slack.world.team)
    body = event_callback(
        app_uninstalled(),
        event_id="Ev-shared",
        team_id="T0009",
        authorizations=[
            {"enterprise_id": None, "team_id": "T0001", "user_id": "UBOT", "is_bot": True}
        ],
    )
    status, _ = await slack.post(body)
    assert status == 200
    assert await slack.count(Person, Person.user_id == "W9") == 1
    assert (await slack.count(Membership), await slack.count(Delivery)) == (0, 0)
    assert await slack.count(Person, Person.user_id == "U0") == 0


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_an_org_wide_install_and_uninstall_end_to_end(
    sqlite_url: str, clock: ManualClock, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    """OAuth into an org: the enterprise is the workspace; a command from any of its
    workspaces lands there; the org-wide uninstall (team_id null) deletes its people and its
    tokens."""
    async with FakeSlackAPI() as fake:
        fake.oauth_response.update(
            team=None, enterprise={"id": "E0001", "name": "Acme Org"}, is_enterprise_install=True
        )
        fake.add_user("UINSTALLER")
        fake.add_user("W0007")
        settings = settings_for(
            sqlite_url,
            fake,
            SLACK_CLIENT_ID="111.222",
            SLACK_CLIENT_SECRET="s",
            RUTRADAR_SECRET_KEY=Fernet.generate_key().decode(),  # a throwaway key
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            start = await client.get("/slack/install", allow_redirects=False)
            state = re.search(
                r"state=([\w-]+)", start.headers.get("Location", "") + await start.text()
            )
            assert state is not None
            cookie = start.headers["Set-Cookie"].split(";")[0]
            done = await client.get(
                "/slack/oauth_redirect",
                params={"code": "c", "state": state[1]},
                headers={"Cookie": cookie},
            )
            assert done.status == 200, await done.text()

            body = slash_command(
                "help", user_id="W0007", team_id="T0007", enterprise_id="E0001"
            ).replace(b"is_enterprise_install=false", b"is_enterprise_install=true")
            answered = await client.post(
                "/slack/events", data=body, headers=signed_headers(body, SECRET, clock.now())
            )
            assert answered.status == 200, await answered.text()
            async with runtime.ctx.sessions() as session:
                where = (
                    await session.execute(
                        select(Person.user_id, Workspace.external_id).join(
                            Workspace, Workspace.id == Person.workspace_id
                        )
                    )
                ).all()
                assert sorted(where) == [("UINSTALLER", "E0001"), ("W0007", "E0001")]
                assert (await session.execute(select(slack_bots.c.enterprise_id))).all() == [
                    ("E0001",)
                ]

            gone = org_envelope(app_uninstalled(), event_id="Ev-org-gone")
            response = await client.post(
                "/slack/events", data=gone, headers=signed_headers(gone, SECRET, clock.now())
            )
            assert response.status == 200
            async with runtime.ctx.sessions() as session:
                assert (await session.execute(select(Person.id))).all() == []
                assert (await session.execute(select(slack_bots.c.id))).all() == []
                assert (await session.execute(select(slack_installations.c.id))).all() == []
    bad = [r for r in caplog_warnings.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# --- Socket Mode goes through the same checks ----------------------------------------------------


@pytest.fixture
async def socket_slack(
    sqlite_url: str,
    clock: ManualClock,
    caplog_warnings: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Slack]:
    """The app configured for Socket Mode (`SLACK_APP_TOKEN`), its socket handler faked."""
    import slack_bolt.adapter.socket_mode.aiohttp as socket_mode

    class Handler:
        def __init__(self, app: object, app_token: str) -> None:
            pass

        async def connect_async(self) -> None:
            pass

        async def close_async(self) -> None:
            pass

    monkeypatch.setattr(socket_mode, "AsyncSocketModeHandler", Handler)
    async with FakeSlackAPI() as fake:
        settings = settings_for(
            sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test", SLACK_APP_TOKEN="xapp-test"
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            world = await build_world(app[RUNTIME].ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id, real_name=person.display_name)
            yield Slack(client, fake, clock, world, caplog_warnings)


async def test_socket_mode_requests_are_validated_by_the_same_code(socket_slack: Slack) -> None:
    slack = socket_slack
    adapter = slack.runtime.adapters["slack"]
    assert isinstance(adapter, SlackAdapter)
    good = dict(command_pairs("help"))
    response = await adapter.bolt.async_dispatch(AsyncBoltRequest(body=good, mode="socket_mode"))
    assert response.status == 200 and "Rut Radar" in str(response.body)

    slack.caplog.clear()
    bad = {**good, "user_id": 5}
    response = await adapter.bolt.async_dispatch(AsyncBoltRequest(body=bad, mode="socket_mode"))
    assert response.status == 400
    [line] = slack.warnings()
    assert "user_id" in line
    slack.assert_clean()


# --- `/rut` is answered by a Bolt middleware (`_Answers`), as a listener would answer it -------


async def test_a_command_other_than_rut_is_left_to_the_listeners(slack: Slack) -> None:
    """No listener handles it: Bolt's 404, as before, and nothing handled."""
    status, _ = await slack.post(slash_command("help", user_id="U0", command="/other"))
    assert status == 404
    slack.assert_clean()
    assert slack.fake.calls_to("users.info") == [] and slack.fake.calls_to("views.open") == []


async def test_a_failing_command_is_answered_as_a_failing_listener_was(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt's error handler (`_on_error`) sees it: one ERROR line with its traceback, and
    Slack gets the 400 a failing listener got, never a 500."""

    async def broken(event: object) -> list[object]:
        raise RuntimeError("the engine failed")

    monkeypatch.setattr(slack.runtime.chat, "handle", broken)
    status, text = await slack.post(slash_command("help", user_id="U0"))
    assert status == 400
    assert json.loads(text) == {"error": "the request could not be handled"}
    [error] = [r for r in slack.caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage() == "slack listener failed: RuntimeError" and error.exc_info


async def test_a_command_in_socket_mode_is_answered_by_the_same_code(socket_slack: Slack) -> None:
    adapter = socket_slack.runtime.adapters["slack"]
    assert isinstance(adapter, SlackAdapter)
    body = dict(command_pairs("advice routine"))
    response = await adapter.bolt.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
    assert response.status == 200  # answered with the advice, seen only by the one who asked
    answer = json.loads(response.body)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Overhaul your routine"
    assert not socket_slack.fake.calls_to("views.open")  # typed advice opens no modal
    other = {**body, "command": "/other"}
    response = await adapter.bolt.async_dispatch(AsyncBoltRequest(body=other, mode="socket_mode"))
    assert response.status == 404
