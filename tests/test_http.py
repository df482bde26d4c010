"""The aiohttp app over real loopback HTTP: health, readiness, metrics and the playground."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from bot.chat.buttons import RoundButton, RoundVerb
from bot.core.clock import ManualClock
from bot.server.app import RUNTIME, ConfigurationError, build_app, check_settings
from bot.server.config import Settings
from bot.server.demo import seed_demo
from bot.server.logs import (
    _BODY_MARKERS,
    REDACTED,
    RedactingFilter,
    configure_logging,
    looks_like_a_body,
)
from storage.migrate import head_revision


def settings_for(url: str, **extra: Any) -> Settings:
    return Settings(RUTRADAR_DATABASE_URL=url, RUTRADAR_PLAYGROUND=True, **extra)


@pytest.fixture
async def client(
    sqlite_url: str, clock: ManualClock
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = build_app(settings_for(sqlite_url), clock=clock, background=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await seed_demo(app[RUNTIME].ctx)
        yield test_client


async def post_event(
    client: TestClient[web.Request, web.Application], **body: Any
) -> dict[str, Any]:
    response = await client.post("/playground/api/events", json={"workspace": "demo", **body})
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_health_and_readiness(client: TestClient[web.Request, web.Application]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["schema"] == head_revision()


async def test_readyz_is_503_when_the_schema_is_missing(tmp_path: Path, clock: ManualClock) -> None:
    app = build_app(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"),
        clock=clock,
        background=False,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        response = await test_client.get("/readyz")
        assert response.status == 503


async def test_playground_check_in_over_http(
    client: TestClient[web.Request, web.Application],
) -> None:
    runtime = client.app[RUNTIME]
    sent = await runtime.dispatcher.run_once()
    assert sent == 3  # Ada, Ken and Margaret had not been prompted yet
    inbox = await (
        await client.get("/playground/api/inbox", params={"workspace": "demo", "user": "U-ada"})
    ).json()
    assert [m["tags"] for m in inbox["messages"]] == [["prompt"]]
    assert "Check in" in inbox["messages"][0]["html"]

    reply = await post_event(
        client,
        user_id="U-ada",
        kind="form",
        form_id="checkin",
        values={"assess": "4", "routine": "1", "training": "4", "strengths": "5", "path": "3"},
    )
    [message] = reply["messages"]
    assert message["surface"] == "dialog"
    assert "Counted for 2026-W48" in message["html"]
    first_section = message["html"].split('<section class="rr-section"><h4>')[1]
    assert first_section.startswith("Overhaul your routine")  # the practice answered lowest

    carried = re.search(r'data-private="([^"]*)"', message["html"])
    assert carried and carried[1]
    dm = await post_event(
        client, user_id="U-ada", kind="action", action_id="advice_send", private=carried[1]
    )
    assert (
        dm["messages"][0]["surface"] == "chat"
        and "Overhaul your routine" in dm["messages"][0]["html"]
    )

    await runtime.dispatcher.run_once()  # the prompt's "checked in" edit, from the outbox
    after = await (
        await client.get("/playground/api/inbox", params={"workspace": "demo", "user": "U-ada"})
    ).json()
    assert "You checked in for 2026-W48" in after["messages"][-1]["html"]
    assert "1" not in after["messages"][-1]["text"].replace("2026-W48", "")  # no scores in chat


async def test_admin_closes_and_manager_sees_release(
    client: TestClient[web.Request, web.Application],
) -> None:
    await client.app[RUNTIME].dispatcher.run_once()
    await post_event(
        client,
        user_id="U-ada",
        kind="form",
        form_id="checkin",
        values={"assess": "3", "routine": "2", "training": "3", "strengths": "4", "path": "3"},
    )
    closed = await post_event(
        client,
        user_id="U-radia",
        kind="action",
        action_id="admin_round",
        value=RoundButton(RoundVerb.CLOSE, "Platform").encode(),
    )
    assert "Released: 6 of" in closed["messages"][0]["html"]
    summary = await post_event(client, user_id="U-grace", kind="command", text="/rut summary")
    html = summary["messages"][0]["html"]
    assert "6 of 8 answered" in html and "<svg" in html
    # The charts explain themselves: the 1–5 scale, the rounds under them (the demo's
    # withheld one marked), and a legend for the dashed rut line and the withheld band.
    assert html.count('class="rr-rut"') == 5 and html.count('class="rr-withheld"') == 5
    assert '<text x="13" y="11.0" text-anchor="end" font-size="8" fill="#64748b">5</text>' in html
    assert "rr-x rr-x-withheld" in html and ">W4" in html
    assert "Dashed line: a mean of 2.5 or less, a rut" in html
    assert "Withheld: too few answered (W" in html
    assert "Scored 1–2" in html and "Stuck overall" in html


async def test_html_escapes_user_text(client: TestClient[web.Request, web.Application]) -> None:
    reply = await post_event(
        client, user_id="U-ada", kind="command", text="/rut advice <script>alert(1)</script>"
    )
    html = reply["messages"][0]["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"workspace": "demo", "user_id": "U-ada", "kind": "teleport"}).encode(),
        json.dumps({"workspace": "demo", "kind": "command"}).encode(),
        json.dumps(
            {"workspace": "demo", "user_id": "U-ada", "kind": "form", "values": {"a": ["x"]}}
        ).encode(),
    ],
)
async def test_malformed_events_get_400_and_write_nothing(
    client: TestClient[web.Request, web.Application], body: bytes
) -> None:
    response = await client.post(
        "/playground/api/events", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "malformed event" in (await response.json())["error"]


async def test_unknown_person_or_workspace_is_404(
    client: TestClient[web.Request, web.Application],
) -> None:
    for workspace, user in (("demo", "U-nobody"), ("nope", "U-ada")):
        response = await client.post(
            "/playground/api/events",
            json={"workspace": workspace, "user_id": user, "kind": "command", "text": "help"},
        )
        assert response.status == 404


async def test_playground_people_lists_the_playground_workspaces_people(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/playground/api/people")
    assert response.status == 200
    people = {p["user_id"]: p for p in (await response.json())["people"]}
    assert len(people) == 10
    assert people["U-ada"] == {
        "workspace": "demo",
        "workspace_name": "Demo workspace",
        "user_id": "U-ada",
        "name": "Ada Lovelace",
        "roles": ["member"],
        "teams": [{"team": "Platform", "role": "member"}],
    }
    assert people["U-grace"]["roles"] == ["manager"]
    assert people["U-grace"]["teams"] == [{"team": "Platform", "role": "manager"}]
    assert people["U-radia"]["roles"] == ["admin"] and people["U-radia"]["teams"] == []


async def test_metrics_hold_no_people_and_nothing_from_answers(
    client: TestClient[web.Request, web.Application],
) -> None:
    await client.app[RUNTIME].dispatcher.run_once()
    await post_event(
        client,
        user_id="U-ada",
        kind="form",
        form_id="checkin",
        values={"assess": "4", "routine": "1", "training": "4", "strengths": "5", "path": "3"},
    )
    body = await (await client.get("/metrics")).text()
    assert 'rutradar_events_total{kind="form",platform="playground"} 1.0' in body
    assert 'rutradar_deliveries_total{platform="playground",result="sent"} 3.0' in body
    for forbidden in ("U-ada", "Ada", "routine", "assess", "checkin"):
        assert forbidden not in body


def test_playground_and_dev_mode_refuse_a_public_bind(sqlite_url: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        check_settings(settings_for(sqlite_url, RUTRADAR_HOST="0.0.0.0"))
    with pytest.raises(ConfigurationError, match="RUTRADAR_DEV"):
        check_settings(
            Settings(
                RUTRADAR_DATABASE_URL=sqlite_url,
                RUTRADAR_HOST="0.0.0.0",
                RUTRADAR_PLAYGROUND=False,
                RUTRADAR_DEV=True,
            )
        )


def test_library_loggers_are_clamped_and_bodies_redacted() -> None:
    configure_logging("DEBUG")
    for name in ("slack_bolt", "slack_sdk", "sqlalchemy.engine", "botbuilder"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "got %s", ({"view": {"state": {"values": 1}}},), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == REDACTED
    plain = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "round %s closed", ("2026-W48",), None
    )
    RedactingFilter().filter(plain)
    assert plain.getMessage() == "round 2026-W48 closed"


# Texts made of the pieces `_BODY_MARKERS` is built from, and of what an access line holds.
_PIECES = st.sampled_from(
    [
        '"',
        "'",
        ":",
        "=",
        "&",
        " ",
        "\n",
        "text",
        "TEXT",
        "payload",
        "Body",
        "view",
        "values",
        "value",
        "blocks",
        "x",
        "1",
        "/",
        "-",
        "127.0.0.1",
        "::1",
        "POST",
        "/slack/events",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_the_quick_check_agrees_with_the_search(text: str) -> None:
    """`looks_like_a_body` skips the search for a text with no `:` and no `=`: it must never
    decide otherwise than the search alone."""
    assert looks_like_a_body(text) == (_BODY_MARKERS.search(text) is not None)


def test_a_traceback_quoting_a_body_is_withheld() -> None:
    """`log.exception` prints the exception's message: a library error may quote the body it
    choked on (scores and all). The line stays, its traceback goes."""
    try:
        raise ValueError('cannot read {"values": {"routine": 1}}')
    except ValueError:
        quoting = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "event handling failed", (), sys.exc_info()
        )
    RedactingFilter().filter(quoting)
    assert quoting.exc_info is None and quoting.getMessage().startswith("event handling failed")
    try:
        raise RuntimeError("database went away")
    except RuntimeError:
        plain = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactingFilter().filter(plain)
    assert plain.exc_info is not None  # an ordinary traceback stays for whoever debugs it
