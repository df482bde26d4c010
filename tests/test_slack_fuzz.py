"""Hostile Slack bodies, generated (hypothesis): every kind of body the bot handles, built as
Slack sends it, then mutated — types swapped, fields dropped, keys repeated, values nested
deep, strings huge or odd — signed for real and posted to the running app.

Whatever arrives: a status under 500, within Slack's 3-second deadline, no traceback and no
ERROR line in the log, and no row written with an empty or malformed id. Deterministic
(`derandomize`) and bounded (`max_examples`), so CI stays quick and a failure reproduces.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.core.clock import ManualClock
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from storage.models import Person, ProcessedEvent, Team, Workspace
from tests.conftest import _truncate_all, build_world
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    app_home_opened,
    app_uninstalled,
    block_actions,
    event_callback,
    selected_value,
    signed_headers,
    tokens_revoked,
    url_verification,
    view_submission,
)
from tests.test_slack import SECRET, settings_for

EXAMPLES = 200  # per database; about 15 ms each
DEADLINE_S = 3.0  # Slack's ack deadline
SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


# --- bodies as structures the mutations can reach into ----------------------------------------


@dataclass
class Raw:
    """JSON text placed as is (nesting too deep for `json.dumps` to build)."""

    text: str


@dataclass
class Obj:
    """A JSON object that may repeat keys."""

    pairs: list[tuple[str, Any]]


@dataclass
class Body:
    """`form` pairs (a value may be a JSON structure: the interactivity `payload`), or a JSON
    envelope."""

    kind: str
    json: Any = None
    form: list[tuple[str, Any]] = field(default_factory=list)

    def encode(self) -> tuple[bytes, str]:
        if self.json is not None:
            return dump(self.json).encode("utf-8", "surrogatepass"), JSON_TYPE
        parts = []
        for key, value in self.form:
            text = value if isinstance(value, str) else dump(value)
            parts.append(f"{_q(key)}={_q(text)}")
        return "&".join(parts).encode(), FORM


def _q(text: str) -> str:
    return quote(text, safe="", encoding="utf-8", errors="surrogatepass")


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return dump(Obj(list(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def _form(body: bytes) -> list[tuple[str, Any]]:
    from urllib.parse import parse_qsl

    pairs: list[tuple[str, Any]] = []
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        pairs.append((key, json.loads(value) if key == "payload" else value))
    return pairs


CHECKIN = {
    key: {key: selected_value(str(score), element_type="radio_buttons")}
    for key, score in (
        ("assess", 4),
        ("routine", 1),
        ("training", 3),
        ("strengths", 5),
        ("path", 2),
    )
}


def base_bodies(response_url: str) -> dict[str, Callable[[], Body]]:
    """Every kind of body the bot handles, as Slack sends it; each call mints fresh trigger
    and event ids, so every example reaches the engine (a repeated id is a retry, ignored)."""
    fresh = itertools.count(1)

    def command(text: str) -> Callable[[], Body]:
        def build() -> Body:
            pairs: list[tuple[str, Any]] = [
                ("token", "t"),
                ("team_id", "T0001"),
                ("team_domain", "payload"),
                ("channel_id", "C0001"),
                ("channel_name", "payload-team"),
                ("user_id", "U0"),
                ("user_name", "payload.bot"),
                ("command", "/rut"),
                ("text", text),
                ("api_app_id", "A0001"),
                ("is_enterprise_install", "false"),
                ("response_url", response_url),
                ("trigger_id", f"1700000000.{next(fresh)}.abcdef"),
            ]
            return Body("command", form=pairs)

        return build

    def interaction(raw: Callable[[], bytes]) -> Callable[[], Body]:
        return lambda: Body("interaction", form=_form(raw()))

    def envelope(raw: Callable[[], bytes]) -> Callable[[], Body]:
        return lambda: Body("event", json=json.loads(raw()))

    modal = {"id": "V0001", "type": "modal", "callback_id": "rutradar_dialog"}
    home = {"id": "V0002", "type": "home"}
    access = {"type": "team_access_revoked", "team_ids": ["T0009"]}
    message = {"type": "message", "channel": "D0001", "user": "U0", "text": "hi"}
    return {
        "help": command("help"),
        "advice": command("advice payload"),
        "checkin": command("checkin"),
        "summary": command("summary"),
        "admin": command("admin team add Payload --from-channel <#C0001|payload>"),
        "button": interaction(
            lambda: block_actions("advice", "routine", user_id="U0", response_url=response_url)
        ),
        "open": interaction(
            lambda: block_actions("checkin_open", "", user_id="U0", response_url=response_url)
        ),
        "select": interaction(
            lambda: block_actions(
                "advice",
                "path",
                user_id="U0",
                action_type="static_select",
                response_url=response_url,
            )
        ),
        "modal_button": interaction(
            lambda: block_actions("advice_send", "routine:1|2026-W48", user_id="U0", view=modal)
        ),
        "home_button": interaction(
            lambda: block_actions("advice", "training", user_id="U0", view=home)
        ),
        "submit": interaction(lambda: view_submission("checkin", CHECKIN, user_id="U0")),
        "closed": interaction(
            lambda: view_submission("checkin", {}, user_id="U0").replace(
                b"view_submission", b"view_closed"
            )
        ),
        "home": envelope(lambda: event_callback(app_home_opened("U0"))),
        "uninstalled": envelope(lambda: event_callback(app_uninstalled())),
        "revoked": envelope(lambda: event_callback(tokens_revoked(bot=["UBOT"]))),
        "access": envelope(lambda: event_callback(access)),
        "message": envelope(lambda: event_callback(message)),
        "challenge": envelope(lambda: url_verification("abc")),
        "rate": lambda: Body(
            "event",
            json={"type": "app_rate_limited", "team_id": "T0001", "minute_rate_limited": 1},
        ),
        "ssl": lambda: Body("ssl", form=[("ssl_check", "1"), ("token", "t")]),
    }


# --- mutations ------------------------------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "payload",
    "payload=x",
    "\x00",
    "\ud800",
    "U\u202e0",
    "U0\n",
    "u0",
    "T" * 40,
    "🙂" * 50,
    "e\u0301" * 100,
    "\u200b",
    "<!channel> *bold* &amp;",
    "x" * 100_000,
    "é" * 3000,
]


def deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    st.builds(deep, st.sampled_from([2, 30, 65, 50_000, 100_000])),
    st.builds(lambda n: Raw("9" * n), st.sampled_from([20, 5000])),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON structure a mutation can reach."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*prefix, index))
            out.extend(paths(item, (*prefix, index)))
    return out


def mutate_json(data: st.DataObject, root: Any) -> Any:
    """One change somewhere inside `root` (a dict), returned as the new root."""
    places = paths(root)
    if not places:
        return data.draw(hostile)
    path = data.draw(st.sampled_from(places))
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = data.draw(st.sampled_from(["replace", "drop", "repeat", "swap", "wrap"]))
    if how == "replace":
        parent[last] = data.draw(hostile)
    elif how == "drop":
        del parent[last]
    elif how == "swap":  # a value of another type from elsewhere in the body
        donor = data.draw(st.sampled_from(places))
        source = root
        for step in donor:
            source = source[step]
        parent[last] = copy.deepcopy(source)
    elif how == "wrap":
        parent[last] = [parent[last]] if data.draw(st.booleans()) else {"id": parent[last]}
    elif isinstance(parent, dict):  # repeat the key with another value
        replaced = Obj([*parent.items(), (str(last), data.draw(hostile))])
        if len(path) == 1:
            return replaced
        grand = root
        for step in path[:-2]:
            grand = grand[step]
        grand[path[-2]] = replaced
    return root


# Free text: fields whose value the bot takes as words, not as ids.
FREE_TEXT = frozenset(
    {"text", "value", "private_metadata", "user_name", "channel_name", "team_domain", "domain"}
)
odd_words = st.one_of(st.text(max_size=60), st.sampled_from(ODD_TEXT))


def reword(data: st.DataObject, body: Body) -> Body:
    """A gentle mutation: odd words where Slack puts free text (so the engine reads them)."""
    if body.json is None:
        spots = [i for i, (key, value) in enumerate(body.form) if key in FREE_TEXT]
        if spots:
            index = data.draw(st.sampled_from(spots))
            body.form[index] = (body.form[index][0], data.draw(odd_words))
            return body
        payloads = [i for i, (_, value) in enumerate(body.form) if not isinstance(value, str)]
        if not payloads:
            return body
        root = body.form[payloads[0]][1]
    else:
        root = body.json
    places = [p for p in paths(root) if isinstance(p[-1], str) and p[-1] in FREE_TEXT]
    if places:
        path = data.draw(st.sampled_from(places))
        parent = root
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = data.draw(odd_words)
    return body


def mutate(data: st.DataObject, body: Body) -> Body:
    if data.draw(st.booleans(), label="gentle"):
        return reword(data, body)
    if body.json is not None:
        body.json = mutate_json(data, body.json)
        return body
    if not body.form:
        body.form.append(("payload", data.draw(st.sampled_from(ODD_TEXT))))
        return body
    index = data.draw(st.integers(0, len(body.form) - 1))
    key, value = body.form[index]
    how = data.draw(st.sampled_from(["replace", "drop", "repeat", "inside", "payload"]))
    if how == "inside" and not isinstance(value, str):
        body.form[index] = (key, mutate_json(data, value))
    elif how == "replace":
        body.form[index] = (
            key,
            data.draw(st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXT))),
        )
    elif how == "drop":
        del body.form[index]
    elif how == "payload":  # what trips Bolt's own parser
        body.form.append(("payload", data.draw(st.sampled_from(["", "{}", "x", "[]"]))))
    else:
        body.form.append((key, data.draw(st.sampled_from(ODD_TEXT))))
    return body


# --- the property ----------------------------------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _well_formed_ids(runtime: Any) -> None:
    async with runtime.ctx.sessions() as session:
        users = (await session.scalars(select(Person.user_id))).all()
        workspaces = (await session.scalars(select(Workspace.external_id))).all()
        events = (await session.scalars(select(ProcessedEvent.event_id))).all()
    assert all(SLACK_ID.match(u) for u in users), users
    assert all(SLACK_ID.match(w) for w in workspaces), workspaces
    assert all(e and len(e) <= 200 and all(e.split(":")) for e in events), events


def test_hostile_slack_bodies_are_answered_cleanly(db_url: str, clock: ManualClock) -> None:
    """Runs its own event loop: hypothesis drives examples synchronously, and one app (one
    database, one fake Slack) serves them all, as a server would."""
    with asyncio.Runner() as runner:
        fake = FakeSlackAPI()
        runner.run(fake.start())
        app = build_app(
            settings_for(db_url, fake, SLACK_BOT_TOKEN="xoxb-test"), clock=clock, background=False
        )
        client = runner.run(_serve(app))
        runtime = app[RUNTIME]
        captured = Captured()
        root = logging.getLogger()
        root.addHandler(captured)
        try:
            runner.run(_truncate_all(runtime.ctx))
            runner.run(_populate(runtime, fake))
            bodies = base_bodies(fake.response_url("fuzz"))

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(name=st.sampled_from(sorted(bodies)), data=st.data())
            def check(name: str, data: st.DataObject) -> None:
                body = bodies[name]()
                mutations = data.draw(st.sampled_from([0, 1, 1, 2, 3]), label="mutations")
                for _ in range(mutations):
                    body = mutate(data, body)
                raw, content_type = body.encode()
                captured.records.clear()
                status, elapsed = runner.run(_post(client, raw, content_type, clock))
                runner.run(runtime.supervisor.drain())  # what the request spawned, logged here
                assert status < 500, (name, status)
                if mutations == 0:  # as Slack sends it ("payload" in names included): answered
                    assert 200 <= status < 300, (name, status)
                assert elapsed < DEADLINE_S, (name, elapsed)
                bad = [
                    r
                    for r in captured.records
                    if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()
                ]
                assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
                runner.run(_well_formed_ids(runtime))

            check()
        finally:
            root.removeHandler(captured)
            runner.run(_truncate_all(runtime.ctx))
            runner.run(client.close())
            runner.run(fake.close())


async def _serve(app: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def _populate(runtime: Any, fake: FakeSlackAPI) -> None:
    world = await build_world(runtime.ctx, platform="slack", slack_ids=True)
    for person in (*world.members, world.manager, world.admin, world.outsider):
        fake.add_user(person.user_id, real_name=person.display_name)
    await open_round(runtime.ctx, world.cli, world.team)
    async with runtime.ctx.sessions() as session:
        assert await session.scalar(select(Team.id)) is not None


async def _post(
    client: TestClient[Any, Any], raw: bytes, content_type: str, clock: ManualClock
) -> tuple[int, float]:
    headers = signed_headers(raw, SECRET, clock.now(), content_type)
    started = time.perf_counter()
    response = await client.post("/slack/events", data=raw, headers=headers)
    await response.read()
    return response.status, time.perf_counter() - started
