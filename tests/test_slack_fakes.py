"""The Slack fakes behave like Slack: the real AsyncWebClient and bolt accept them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI, dm_channel

SECRET = "s3cr3t-signing"
# slack_sdk builds aiohttp.BasicAuth for oauth.v2.access; aiohttp 3.14 deprecates it.
BASIC_AUTH_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning"
)
NOW = 1_764_061_200  # 2025-11-25T09:00:00Z


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as api:
        yield api


@pytest.fixture
def client(fake: FakeSlackAPI) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url)


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def _payload(body: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_form(body)["payload"])
    return loaded


# -- FakeSlackAPI ----------------------------------------------------------------------------


async def test_base_url_is_loopback_with_an_ephemeral_port(fake: FakeSlackAPI) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/api/"
    assert fake.port > 0


async def test_post_message_returns_ts_and_is_recorded(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    metadata = {"event_type": "checkin", "event_payload": {"round": 7}}
    first = await client.chat_postMessage(
        channel="C0001", text="hi", blocks=blocks, metadata=metadata
    )
    second = await client.chat_postMessage(channel="C0001", text="again")

    assert first["ts"] == "1700000000.000100"
    assert second["ts"] == "1700000000.000200"
    assert first["channel"] == "C0001"
    assert first["message"]["blocks"] == blocks
    [call, _] = fake.calls_to("chat.postMessage")
    assert call.token == "xoxb-test"
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.params["metadata"] == metadata
    assert [m["text"] for m in fake.messages["C0001"]] == ["hi", "again"]
    assert fake.messages["C0001"][0]["metadata"] == metadata

    history = await client.conversations_history(channel="C0001")
    assert [m["ts"] for m in history["messages"]] == [second["ts"], first["ts"]]
    assert history["messages"][1]["metadata"] == metadata


async def test_form_encoded_json_fields_are_decoded(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "checkin", "event_payload": {"id": "x"}}
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C0002", "text": "form", "metadata": json.dumps(metadata)},
    )
    [call] = fake.calls_to("chat.postMessage")
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.params["metadata"] == metadata
    assert fake.messages["C0002"][0]["metadata"] == metadata


async def test_direct_messages_land_in_the_dm_channel_and_update_needs_it(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U0001")
    assert opened["channel"]["id"] == dm_channel("U0001") == "D0001"

    posted = await client.chat_postMessage(channel="U0001", text="v1")
    assert posted["channel"] == "D0001"

    await client.chat_update(channel="D0001", ts=posted["ts"], text="v2")
    assert fake.messages["D0001"][0]["text"] == "v2"

    with pytest.raises(SlackApiError) as by_user:
        await client.chat_update(channel="U0001", ts=posted["ts"], text="v3")
    assert by_user.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="D0001", ts="1.000000", text="v3")
    assert missing.value.response["error"] == "message_not_found"


async def test_users_info_is_configurable(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    default = await client.users_info(user="U0001")
    assert default["user"]["tz"] == "Europe/Berlin"
    assert default["user"]["tz_offset"] == 3600

    fake.add_user("U0042", real_name="Grace Hopper", tz="America/New_York", tz_offset=-18000)
    grace = await client.users_info(user="U0042")
    assert grace["user"]["real_name"] == "Grace Hopper"
    assert grace["user"]["team_id"] == "T0001"
    assert grace["user"]["profile"]["real_name"] == "Grace Hopper"

    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U9999")
    assert err.value.response["error"] == "user_not_found"


async def test_rate_limit_surfaces_with_retry_after_and_is_consumed(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0001", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"

    ok = await client.chat_postMessage(channel="C0001", text="x")
    assert ok["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(fake.messages["C0001"]) == 1


async def test_faults_are_consumed_in_order(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.fail_next("users.info", status=500)
    fake.fail_next("users.info", error="user_not_visible")
    fake.fail_next("users.info")

    with pytest.raises(SlackApiError) as server:
        await client.users_info(user="U0001")
    assert server.value.response.status_code == 500
    with pytest.raises(SlackApiError) as not_ok:
        await client.users_info(user="U0001")
    assert not_ok.value.response.status_code == 200
    assert not_ok.value.response["error"] == "user_not_visible"
    with pytest.raises(SlackApiError) as limited:
        await client.users_info(user="U0001")
    assert limited.value.response.headers["Retry-After"] == "3"
    assert (await client.users_info(user="U0001"))["ok"] is True


async def test_missing_or_revoked_token_is_refused(fake: FakeSlackAPI) -> None:
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.base_url).auth_test()
    assert missing.value.response["error"] == "not_authed"

    fake.invalid_tokens.add("xoxb-revoked")
    with pytest.raises(SlackApiError) as revoked:
        await AsyncWebClient(token="xoxb-revoked", base_url=fake.base_url).auth_test()
    assert revoked.value.response["error"] == "invalid_auth"


@BASIC_AUTH_DEPRECATED
async def test_oauth_v2_access_exchanges_a_code_once(fake: FakeSlackAPI) -> None:
    fake.client_id, fake.client_secret = "cid", "csecret"
    oauth = AsyncWebClient(base_url=fake.base_url)

    answer = await oauth.oauth_v2_access(
        client_id="cid", client_secret="csecret", code="code-1", redirect_uri="https://x/cb"
    )
    assert answer["access_token"] == "xoxb-installed"
    assert answer["team"] == {"id": "T0002", "name": "Beta"}
    assert answer["authed_user"]["id"] == "UINSTALLER"
    assert answer["bot_user_id"] == "UBOT"
    [call] = fake.calls_to("oauth.v2.access")
    assert call.basic_auth == ("cid", "csecret")
    assert call.params["redirect_uri"] == "https://x/cb"
    assert fake.oauth_codes == ["code-1"]

    with pytest.raises(SlackApiError) as reused:
        await oauth.oauth_v2_access(client_id="cid", client_secret="csecret", code="code-1")
    assert reused.value.response["error"] == "invalid_code"
    with pytest.raises(SlackApiError) as bad_secret:
        await oauth.oauth_v2_access(client_id="cid", client_secret="nope", code="code-2")
    assert bad_secret.value.response["error"] == "bad_client_secret"

    installed = AsyncWebClient(token="xoxb-installed", base_url=fake.base_url)
    assert (await installed.auth_test())["team_id"] == "T0002"
    assert (await installed.auth_test())["team"] == "Beta"


@BASIC_AUTH_DEPRECATED
async def test_oauth_rejects_codes_outside_valid_codes(fake: FakeSlackAPI) -> None:
    fake.valid_codes = {"good"}
    oauth = AsyncWebClient(base_url=fake.base_url)
    with pytest.raises(SlackApiError) as err:
        await oauth.oauth_v2_access(client_id="c", client_secret="s", code="bad")
    assert err.value.response["error"] == "invalid_code"
    assert (await oauth.oauth_v2_access(client_id="c", client_secret="s", code="good"))["ok"]
    assert fake.oauth_codes == ["bad", "good"]


async def test_auth_and_team_defaults(client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T0001")
    assert auth["url"] == "https://acme.slack.com/"
    assert (await client.api_call("reactions.add", json={"name": "x"}))["ok"] is True


async def test_a_method_whose_scope_was_not_granted_is_missing_scope(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    # Rut Radar does not ask for team:read (nothing calls team.info): the fake refuses it.
    with pytest.raises(SlackApiError) as refused:
        await client.team_info()
    assert refused.value.response["error"] == "missing_scope"
    assert refused.value.response["needed"] == "team:read"
    fake.granted_scopes.add("team:read")
    team = await client.team_info()
    assert (team["team"]["id"], team["team"]["name"]) == ("T0001", "Acme")


async def test_views_and_home(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "checkin",
        "title": {"type": "plain_text", "text": "t"},
    }
    opened = await client.views_open(trigger_id="1.2.3", view=modal)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["hash"].startswith("h")
    assert opened["view"]["callback_id"] == "checkin"

    updated = await client.views_update(view_id=opened["view"]["id"], view=modal)
    assert updated["view"]["id"] == opened["view"]["id"]
    assert updated["view"]["hash"] != opened["view"]["hash"]
    pushed = await client.views_push(trigger_id="1.2.4", view=modal)
    assert pushed["view"]["id"] != opened["view"]["id"]

    home = {"type": "home", "blocks": []}
    await client.views_publish(user_id="U0001", view=home)
    assert fake.home["U0001"] == home


async def test_conversation_members_paginate(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.channel_members["C0001"] = ["U1", "U2", "U3"]
    first = await client.conversations_members(channel="C0001", limit=2)
    assert first["members"] == ["U1", "U2"]
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_members(channel="C0001", limit=2, cursor=cursor)
    assert rest["members"] == ["U3"]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert (await client.conversations_members(channel="C0404"))["members"] == []


async def test_set_response_overrides_a_method(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.set_response("team.info", {"ok": False, "error": "missing_scope"})
    with pytest.raises(SlackApiError) as err:
        await client.team_info()
    assert err.value.response["error"] == "missing_scope"


async def test_wait_for_sees_a_call_made_by_a_concurrent_task(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    async def later() -> None:
        await client.chat_postMessage(channel="C0001", text="one")
        await client.chat_postMessage(channel="C0001", text="two")

    task = asyncio.create_task(later())
    calls = await fake.wait_for("chat.postMessage", count=2)
    assert [c.params["text"] for c in calls] == ["one", "two"]
    assert [m["text"] for m in fake.messages["C0001"]] == ["one", "two"]
    await task


async def test_wait_for_fails_clearly_when_nothing_arrives(fake: FakeSlackAPI) -> None:
    with pytest.raises(AssertionError, match=r"expected 1 call\(s\) to 'chat.update'"):
        await fake.wait_for("chat.update", timeout=0)


async def test_response_url_is_served_and_recorded(fake: FakeSlackAPI) -> None:
    from slack_sdk.webhook.async_client import AsyncWebhookClient

    url = fake.response_url("cmd")
    webhook = AsyncWebhookClient(url)
    reply = await webhook.send(text="done", response_type="ephemeral")
    assert reply.status_code == 200
    [call] = await fake.wait_for("response_url/cmd")
    assert call.params == {"text": "done", "response_type": "ephemeral"}


# -- slack_requests --------------------------------------------------------------------------


def test_sign_is_accepted_by_slack_sdk_and_rejected_with_a_wrong_secret() -> None:
    body = sr.slash_command("checkin")
    headers = sr.sign(body, SECRET, NOW)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert sig.startswith("v0=")

    assert SignatureVerifier(SECRET, clock=FixedClock(NOW)).is_valid(body, ts, sig)
    assert not SignatureVerifier("wrong", clock=FixedClock(NOW)).is_valid(body, ts, sig)
    assert not SignatureVerifier(SECRET, clock=FixedClock(NOW)).is_valid(body + b"x", ts, sig)
    assert not SignatureVerifier(SECRET, clock=FixedClock(NOW + 301)).is_valid(body, ts, sig)


def test_signed_headers_sets_content_type_and_retry_headers() -> None:
    form = sr.slash_command("x")
    event = sr.event_callback(sr.app_home_opened())
    when = datetime.fromtimestamp(NOW, UTC)
    verifier = SignatureVerifier(SECRET, clock=FixedClock(NOW))

    form_headers = sr.signed_headers(form, SECRET, when)
    assert form_headers["Content-Type"] == sr.FORM
    assert form_headers["X-Slack-Request-Timestamp"] == str(NOW)
    assert verifier.is_valid_request(form, form_headers)

    event_headers = sr.signed_headers(event, SECRET, NOW, retry_num=1, retry_reason="http_timeout")
    assert event_headers["Content-Type"] == sr.JSON
    assert event_headers["X-Slack-Retry-Num"] == "1"
    assert event_headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert verifier.is_valid_request(event, event_headers)
    assert "X-Slack-Retry-Num" not in sr.signed_headers(event, SECRET, NOW)


def test_slash_command_has_every_field() -> None:
    fields = _form(sr.slash_command("checkin now", user_id="U0042", response_url="http://r/"))
    expected = {
        "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text", "response_url", "trigger_id", "api_app_id",
    }  # fmt: skip
    assert expected <= fields.keys()
    assert (fields["text"], fields["user_id"], fields["command"]) == (
        "checkin now",
        "U0042",
        "/rut",
    )
    assert fields["response_url"] == "http://r/"
    enterprise = _form(sr.slash_command("", enterprise_id="E1", enterprise_name="Org"))
    assert (enterprise["enterprise_id"], enterprise["enterprise_name"]) == ("E1", "Org")


def test_block_actions_from_a_message_and_from_a_view() -> None:
    payload = _payload(sr.block_actions("share", "yes", user_id="U0042", trigger_id="t1"))
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": "U0042",
        "username": "alice",
        "name": "alice",
        "team_id": "T0001",
    }
    assert payload["team"]["id"] == "T0001"
    assert payload["trigger_id"] == "t1"
    assert payload["container"]["type"] == "message"
    assert payload["container"]["channel_id"] == payload["channel"]["id"]
    assert payload["response_url"].startswith("https://hooks.slack.com/")
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == ("share", "yes", "actions")

    in_view = _payload(
        sr.block_actions(
            "pick", "3", action_type="static_select", view={"id": "V9", "type": "home"}
        )
    )
    assert in_view["container"] == {"type": "view", "view_id": "V9"}
    assert in_view["view"]["type"] == "home"
    assert "response_url" not in in_view
    assert in_view["actions"][0]["selected_option"]["value"] == "3"


def test_view_submission_wraps_state_values() -> None:
    payload = _payload(
        sr.view_submission(
            "checkin",
            {"comment": {"comment": "fine"}, "assess": {"assess": sr.selected_value("4")}},
            private_metadata='{"round": 7}',
            view_id="V7",
        )
    )
    view = payload["view"]
    assert payload["type"] == "view_submission"
    assert (view["callback_id"], view["id"], view["private_metadata"]) == (
        "checkin",
        "V7",
        '{"round": 7}',
    )
    assert view["state"]["values"]["comment"]["comment"] == sr.plain_text_value("fine")
    assert view["state"]["values"]["assess"]["assess"]["selected_option"]["value"] == "4"
    assert view["app_installed_team_id"] == "T0001"


def test_event_callback_envelope_and_url_verification() -> None:
    event = sr.member_joined_channel("U0042", "C0001", inviter="U0001")
    envelope = json.loads(sr.event_callback(event, event_id="Ev1", team_id="T0002"))
    assert envelope["type"] == "event_callback"
    assert (envelope["event_id"], envelope["team_id"], envelope["api_app_id"]) == (
        "Ev1",
        "T0002",
        "A0001",
    )
    assert envelope["authorizations"][0]["team_id"] == "T0002"
    assert envelope["event"] == event
    assert json.loads(sr.event_callback(sr.app_uninstalled()))["event_id"].startswith("Ev")
    assert json.loads(sr.url_verification("abc")) == {
        "token": sr.VERIFICATION_TOKEN,
        "challenge": "abc",
        "type": "url_verification",
    }


# -- both together, through bolt -------------------------------------------------------------


def _bolt_request(body: bytes, secret: str, now: int) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = dict(sr.signed_headers(body, secret, now))
    return AsyncBoltRequest(body=body.decode(), headers=headers)


async def test_bolt_accepts_the_built_requests_and_talks_to_the_fake(fake: FakeSlackAPI) -> None:
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-test", base_url=fake.base_url),
    )
    seen: dict[str, Any] = {}

    @app.command("/rut")
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen["team_id"] = command["team_id"]
        await client.chat_postMessage(channel=command["user_id"], text=f"got {command['text']}")

    @app.view("checkin")
    async def on_submit(ack: AsyncAck, view: dict[str, Any]) -> None:
        seen["comment"] = view["state"]["values"]["comment"]["comment"]["value"]
        await ack(response_action="clear")

    now = int(time.time())  # bolt's verifier reads the wall clock
    body = sr.slash_command("hello", user_id="U0042")
    resp = await app.async_dispatch(_bolt_request(body, SECRET, now))
    assert resp.status == 200
    [call] = await fake.wait_for("chat.postMessage")
    assert call.params["channel"] == "U0042"
    assert fake.messages["D0042"][0]["text"] == "got hello"
    assert seen["team_id"] == "T0001"

    body = sr.view_submission("checkin", {"comment": {"comment": "all good"}})
    resp = await app.async_dispatch(_bolt_request(body, SECRET, now))
    assert (resp.status, json.loads(resp.body)) == (200, {"response_action": "clear"})
    assert seen["comment"] == "all good"

    forged = await app.async_dispatch(_bolt_request(body, "wrong", now))
    assert forged.status == 401
