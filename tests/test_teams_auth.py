"""Who may post to /api/messages: real RS256 tokens checked by botbuilder against the fake
identity platform's keys, every way a token can be wrong answered 401, every body that is not
an activity 400, and no body at all a 500 or a traceback (hypothesis)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.teams.auth import _OffLoopKeys
from bot.core.clock import ManualClock
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from storage.models import Person
from tests.fakes import teams_activities as ta
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.bot_openid import KEY_ID, FakeIdentity, other_key, public_jwk
from tests.test_teams import Env, settings_for, teams_world

TEAMS_LOGGER = "adapters.teams"


@pytest.fixture
async def env(sqlite_url: str, clock: ManualClock) -> AsyncIterator[Env]:
    async with FakeIdentity() as idp, FakeBotConnector(idp) as connector:
        app = build_app(settings_for(sqlite_url, idp), clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            world = await teams_world(runtime, connector.service_url)
            yield Env(idp, connector, client, runtime, clock, world)


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(TEAMS_LOGGER)]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def raw_token(payload: dict[str, Any], key: Any, algorithm: str) -> str:
    return "Bearer " + jwt.encode(payload, key, algorithm=algorithm, headers={"kid": KEY_ID})


def claims(env: Env, **changes: Any) -> dict[str, Any]:
    now = int(time.time())  # wall clock: botbuilder checks exp/nbf against real time
    base = {
        "iss": "https://api.botframework.com",
        "aud": env.idp.app_id,
        "serviceurl": env.url,
        "nbf": now - 60,
        "exp": now + 3600,
    }
    return {**base, **changes}


BAD_TOKENS: dict[str, Any] = {
    "no Authorization header": lambda env: "",
    "not a JWT": lambda env: "Bearer not-a-jwt",
    "another scheme": lambda env: "Basic dXNlcjpwYXNzd29yZA==",
    "three words": lambda env: "Bearer a b",
    "forged signature": lambda env: env.idp.mint(env.url, key=other_key()),
    "unknown key id": lambda env: env.idp.mint(env.url, key=other_key(), kid="not-published"),
    "wrong audience": lambda env: env.idp.mint(env.url, audience="another-bot"),
    "empty audience": lambda env: env.idp.mint(env.url, audience=""),
    "wrong issuer": lambda env: env.idp.mint(env.url, issuer="https://evil.example"),
    "emulator issuer without ver": lambda env: env.idp.mint(
        env.url, issuer="https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"
    ),
    "serviceurl of another host": lambda env: env.idp.mint("https://evil.example/teams/"),
    "no serviceurl claim": lambda env: env.idp.mint(env.url, claims={"serviceurl": None}),
    "expired": lambda env: env.idp.mint(env.url, expires_in=-400, not_before=-4000),
    "not valid yet": lambda env: env.idp.mint(env.url, not_before=900),
    "HS256 with a guessed secret": lambda env: raw_token(
        claims(env), "a-guessed-shared-secret-of-32-bytes!", "HS256"
    ),
    "alg none": lambda env: raw_token(claims(env), None, "none"),
    "RS256 with the key's public half as HMAC": lambda env: raw_token(
        claims(env), "x" * 64, "HS512"
    ),
    "skill token": lambda env: env.idp.mint(
        env.url, audience="another-bot", claims={"ver": "1.0", "appid": "some-skill"}
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_token_that_is_not_right_gets_401(
    env: Env, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    activity = ta.message(env.url, "u0", "help")
    response = await env.post(activity, auth=BAD_TOKENS[case](env))
    assert response.status == 401
    assert await response.json() == {"error": "unauthorized"}
    [line] = refusals(caplog)
    assert line.levelno == logging.WARNING and "401" in line.getMessage()
    no_tracebacks(caplog)
    assert env.connector.sent == [] and env.connector.created == []
    assert await env.person("u0") is not None and await env.count(Person) == 9


async def test_a_valid_token_for_another_channel_is_refused(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """The key is endorsed for msteams only: a webchat activity signed with it is not ours."""
    activity = ta.message(env.url, "u0", "help")
    activity["channelId"] = "webchat"
    response = await env.post(activity)
    assert response.status == 401
    no_tracebacks(caplog)


async def test_keys_are_fetched_once_off_the_event_loop(env: Env) -> None:
    """The fake identity platform runs on the test's event loop: a blocking fetch from that
    loop could never be answered, so accepted tokens prove the fetch ran in a thread."""
    for _ in range(3):
        await env.ok(ta.message(env.url, "u0", "help"))
    assert isinstance(JwtTokenExtractor.metadataCache[env.idp.metadata_url], _OffLoopKeys)
    assert env.idp.metadata_fetches == 1 and env.idp.key_fetches == 1
    # One access token, one connector client, for every reply.
    assert len(env.idp.issued) == 1 and len(env.connector.sent) == 3
    adapter = env.runtime.adapters["teams"]
    assert len(adapter.auth.connectors(env.idp.app_id)._clients) == 1  # type: ignore[attr-defined]


# --- bodies that are not activities ----------------------------------------------------------


def _valid() -> dict[str, Any]:
    return ta.message("http://127.0.0.1:9/teams/", "u0", "help")


def _without(key: str) -> bytes:
    body = _valid()
    body.pop(key)
    return json.dumps(body).encode()


def _with(**changes: Any) -> bytes:
    return json.dumps({**_valid(), **changes}).encode()


MALFORMED: dict[str, bytes] = {
    "not JSON": b"{not json",
    "not UTF-8": b"\xff\xfe{}",
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"message"',
    "nested too deeply": _with(channelData={"a": json.loads('{"b":' * 40 + "1" + "}" * 40)}),
    "deeper than the parser goes": b"[" * 100_000 + b"]" * 100_000,
    "no type": _without("type"),
    "type not a string": _with(type=5),
    "empty type": _with(type=""),
    "no serviceUrl": _without("serviceUrl"),
    "serviceUrl not a URL": _with(serviceUrl="javascript:alert(1)"),
    "no conversation": _without("conversation"),
    "conversation without id": _with(conversation={"conversationType": "personal"}),
    "from not an object": _with(**{"from": "u0"}),
    "entities not a list": _with(entities={"type": "mention"}),
    "a key given twice": b'{"serviceUrl": "http://127.0.0.1:9/other/", ' + _with()[1:],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_body_that_is_not_an_activity_gets_400(
    env: Env, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    header = env.idp.mint("http://127.0.0.1:9/teams/")
    response = await env.client.post(
        "/api/messages",
        data=MALFORMED[case],
        headers={"Content-Type": "application/json", "Authorization": header},
    )
    assert response.status == 400
    assert (await response.json())["error"].startswith("malformed activity")
    [line] = refusals(caplog)
    assert line.levelno == logging.WARNING and "400" in line.getMessage()
    no_tracebacks(caplog)
    assert await env.count(Person) == 9


async def test_an_unreadable_activity_after_a_valid_token_gets_400(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    activity = ta.message(env.url, "u0", "help")
    activity["timestamp"] = "not a time"
    response = await env.post(activity)
    assert response.status == 400
    no_tracebacks(caplog)


# --- fuzzing: never a 500, never a traceback -------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "type",
    "id",
    "serviceUrl",
    "channelId",
    "from",
    "recipient",
    "conversation",
    "text",
    "value",
    "name",
    "action",
    "channelData",
    "entities",
    "membersAdded",
    "locale",
    "timestamp",
    "attachments",
    "deliveryMode",
]
KINDS = ["message", "invoke", "conversationUpdate", "installationUpdate", "typing", "event"]


@st.composite
def activities(draw: st.DrawFn) -> dict[str, Any]:
    """A real activity of some kind with some fields replaced by arbitrary JSON (and some
    left alone, so the body often gets past the shape check into the turn)."""
    body = ta.message("SERVICE", "u0", draw(st.sampled_from(["help", "privacy", "advice x", ""])))
    body["type"] = draw(st.sampled_from(KINDS))
    if body["type"] == "invoke":
        body["name"] = draw(st.sampled_from(["task/fetch", "task/submit", "adaptiveCard/action"]))
        body["value"] = {
            "data": draw(
                st.dictionaries(
                    st.sampled_from(
                        ["rr_action", "rr_form", "rr_value", "rr_private", "assess", "share"]
                    ),
                    json_values,
                    max_size=4,
                )
            )
        }
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        body[key] = draw(json_values)
    for key, value in draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)).items():
        body.setdefault(key, value)
    personal = draw(st.booleans())
    if not personal and isinstance(body.get("conversation"), dict):
        body["conversation"]["conversationType"] = "channel"
    return body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=activities())
async def test_fuzzed_activities_never_get_500_nor_log_a_traceback(
    env: Env, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    if body.get("serviceUrl") == "SERVICE":
        body["serviceUrl"] = env.url
    service_url = body.get("serviceUrl")
    header = env.idp.mint(service_url if isinstance(service_url, str) else env.url)
    caplog.clear()
    response = await env.client.post(
        "/api/messages",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": header},
    )
    assert response.status in (200, 400, 401, 501), await response.text()
    no_tracebacks(caplog)


# --- without credentials -----------------------------------------------------------------------


async def test_without_credentials_the_endpoint_refuses(sqlite_url: str) -> None:
    app = build_app(
        Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True), background=False
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.post("/api/messages", json=ta.message("http://x/", "u0", "help"))
        assert response.status == 401
        assert "teams" not in app[RUNTIME].adapters


async def test_dev_mode_on_loopback_takes_unsigned_activities(
    sqlite_url: str, clock: ManualClock
) -> None:
    """RUTRADAR_DEV without an app id (the Bot Framework Emulator, the Agents Playground):
    botbuilder's auth-disabled path, outbound calls without a token."""
    async with FakeBotConnector() as connector:
        settings = Settings(
            RUTRADAR_DATABASE_URL=sqlite_url,
            RUTRADAR_DEV=True,
            RUTRADAR_PLAYGROUND=False,
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            activity = ta.message(connector.service_url, "dev-user", "help")
            del activity["from"]["aadObjectId"]  # the Emulator has no AAD
            del activity["channelData"]
            activity["channelId"] = "emulator"
            response = await client.post("/api/messages", json=activity)
            assert response.status == 200
            [reply] = connector.sent
            assert "Rut Radar" in reply.text


async def test_a_rotated_signing_key_is_picked_up(env: Env) -> None:
    """A token signed with a key published after the last refresh: looked up again (at most
    hourly, by botbuilder's rule), then accepted."""
    await env.ok(ta.message(env.url, "u0", "help"))
    rotated = other_key()
    env.idp.extra_keys.append(public_jwk(rotated, "rotated-key", ["msteams"]))
    cache = JwtTokenExtractor.metadataCache[env.idp.metadata_url]
    header = env.idp.mint(env.url, key=rotated, kid="rotated-key")
    refused = await env.post(ta.message(env.url, "u0", "help"), auth=header)
    assert refused.status == 401  # refreshed less than an hour ago: not looked up again
    cache.last_updated -= timedelta(hours=2)  # botbuilder's wall-clock rule, moved on
    accepted = await env.post(ta.message(env.url, "u0", "help"), auth=header)
    assert accepted.status == 200
    assert env.idp.key_fetches == 2
