"""The privacy review's attacks (issue 11), each written the way the attacker ran it: a
database administrator reading raw PostgreSQL pages with `pageinspect` after a close, someone
copying a SQLite database's `-wal` file while a reader held a snapshot during the close, an
operator reading the access log of a real `rutradar serve`, a DBA dating a member's last
contact from `processed_events` and `people.xmin`, anyone reading the tables for platform
tokens, a member whose "send me this advice" message stays in their chat history, and someone
reading a replica's memory (a core dump, a debugger) for who checked in and when.

Each failed on the code before the privacy-hardening change; docs/privacy.md ("Attacks
tried") says what stops each one now.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.operations import round_list, set_admins, set_members, workspace_set
from bot.admin.workspaces import installed_by, person_uninstalled, platform_uninstalled
from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.lookups import Lookups
from bot.core.ports import SentRef
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import RoundScheduler
from bot.rounds.lifecycle import close_round, open_round
from bot.rounds.notices import expand_closed_notices
from bot.server.app import LOOKUP_SPREAD, RUNTIME, build_app
from bot.server.cli import main
from bot.server.config import Settings
from bot.server.runtime import Runtime
from messages.copy import copy_for
from messages.model import Buttons, Message, Paragraph
from storage.db import create_session_factory
from storage.maintenance import scrub
from storage.models import Answer, Delivery, Person
from storage.schema import metadata
from storage.values import MembershipRole
from tests.conftest import World, build_world
from tests.fakes.adapter import FakeAdapter
from tests.fakes.processes import serving
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    app_home_opened,
    event_callback,
    selected_value,
    signed_headers,
    slash_command,
    view_submission,
)
from tests.helpers import action, checkin

SECRET = "attack-signing-secret"
Client = TestClient[web.Request, web.Application]

# Six members, six distinct score tuples: each one names its owner if it is found next to them.
SCORES = (
    (1, 2, 3, 4, 5),
    (5, 4, 3, 2, 1),
    (2, 2, 4, 4, 1),
    (3, 1, 5, 2, 4),
    (4, 5, 1, 3, 2),
    (1, 5, 2, 4, 3),
)
PRACTICES = ("assess", "routine", "training", "strengths", "path")


def only(backend: str) -> Any:
    """Run a test on one backend of the `db_url` fixture."""
    return pytest.mark.parametrize("db_url", [backend], indirect=True)


@dataclass
class Round:
    """What the attacker wants to find again after the close: each member's answer."""

    round_id: int
    answer_ids: list[str]
    comments: list[str]
    person_ids: list[int]


async def checked_in_round(world: World) -> Round:
    """Six members of the team check in, each with their own scores and a shared line."""
    engine = ChatEngine(world.ctx)
    outcome = await open_round(world.ctx, world.cli, world.team)
    comments = []
    for i, scores in enumerate(SCORES):
        comment = f"my-manager-must-not-know-{i}-{'x' * 12}"
        comments.append(comment)
        await engine.handle(
            checkin(
                f"u{i}", comment=comment, share=True, **dict(zip(PRACTICES, scores, strict=True))
            )
        )
    async with world.ctx.sessions() as session:
        ids = list((await session.scalars(select(Answer.id))).all())
        people = list(
            (
                await session.scalars(
                    select(Delivery.person_id).where(
                        Delivery.round_id == outcome.round.id, Delivery.kind == "prompt"
                    )
                )
            ).all()
        )
    assert len(ids) == 6 and len(people) == 6
    return Round(outcome.round.id, ids, comments, [p for p in people if p is not None])


# --- 1. PostgreSQL: the deleted rows' bytes in the relation files ------------------------------


async def raw_pages(engine: AsyncEngine, tables: Sequence[str]) -> dict[str, list[bytes]]:
    """Every page of each table's heap, its indexes, its TOAST table and the TOAST index, as
    `get_raw_page` returns them: the bytes in the relation files, dead tuples and free space
    included. (The free space and visibility maps hold no tuple data.)"""
    pages: dict[str, list[bytes]] = {}
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        for table in tables:
            relations = (
                await auto.execute(
                    text(
                        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = CAST(:t AS regclass)"
                        " UNION ALL SELECT i.indexrelid::regclass::text FROM pg_index i"
                        "   WHERE i.indrelid = CAST(:t AS regclass)"
                        " UNION ALL SELECT c.reltoastrelid::regclass::text FROM pg_class c"
                        "   WHERE c.oid = CAST(:t AS regclass) AND c.reltoastrelid <> 0"
                        " UNION ALL SELECT i.indexrelid::regclass::text FROM pg_index i"
                        "   JOIN pg_class c ON c.reltoastrelid = i.indrelid"
                        "   WHERE c.oid = CAST(:t AS regclass)"
                    ),
                    {"t": table},
                )
            ).scalars()
            for relation in relations:
                size = await auto.scalar(
                    text(
                        "SELECT pg_relation_size(CAST(:r AS regclass)) / current_setting('block_size')::int"
                    ),
                    {"r": relation},
                )
                pages[relation] = [
                    bytes(
                        await auto.scalar(
                            text("SELECT get_raw_page(:r, 'main', :n)"), {"r": relation, "n": n}
                        )
                    )
                    for n in range(int(size or 0))
                ]
    return pages


async def enum_oid(engine: AsyncEngine, enum: str, label: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT e.oid FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
                    " WHERE t.typname = :enum AND e.enumlabel = :label"
                ),
                {"enum": enum, "label": label},
            )
        )


# A row's first column, a 32-character random id: a 1-byte varlena header (33 bytes long),
# the id, and padding to the next 4-byte boundary. What follows it is the row.
ROW_ID = rb"\x43[0-9a-f]{32}\x00{3}"


def traces(pages: dict[str, list[bytes]], rnd: Round, prompt_kind: int) -> list[str]:
    """What the attacker finds: an answer (its id, its comment, or its round followed by one
    of the score tuples, as the heap lays them out: int4 then five int2), or a prompt delivery
    of the round for one of its members (heap: id, round, person; the unique index: round,
    person, kind) — the version that carried `answered` included."""
    found = []
    answers = [re.escape(struct.pack("<i5h", rnd.round_id, *s)) for s in SCORES]
    for relation, blocks in pages.items():
        for number, page in enumerate(blocks):
            where = f"{relation} page {number}"
            found += [f"{where}: answer id" for a in rnd.answer_ids if a.encode() in page]
            found += [f"{where}: comment" for c in rnd.comments if c.encode() in page]
            found += [f"{where}: scores" for s in answers if re.search(ROW_ID + s, page)]
            for person in rnd.person_ids:
                pair = struct.pack("<ii", rnd.round_id, person)
                if re.search(ROW_ID + re.escape(pair), page):
                    found.append(f"{where}: delivery of person {person}")
                if pair + struct.pack("<I", prompt_kind) in page:
                    found.append(f"{where}: index entry of person {person}")
    return found


@only("postgres")
async def test_attack_raw_postgres_pages_after_close_hold_no_answer_and_no_answered_delivery(
    world: World,
) -> None:
    db = world.ctx.database
    rnd = await checked_in_round(world)
    prompt = await enum_oid(db, "delivery_kind", "prompt")
    before = traces(await raw_pages(db, ("answers", "deliveries")), rnd, prompt)
    # The attack works: while the round is open every answer and delivery is there to see.
    assert sum("answer id" in t for t in before) >= 6, before
    assert sum("scores" in t for t in before) == 6, before
    assert sum("delivery of person" in t for t in before) >= 6, before

    await close_round(world.ctx, world.cli, world.team)
    after = traces(await raw_pages(db, ("answers", "deliveries")), rnd, prompt)
    assert after == [], "the relation files still hold the closed round:\n" + "\n".join(after)


# --- 2. SQLite: the -wal file when a reader holds a snapshot during the close ------------------


@dataclass
class Frame:
    page: int
    commit: bool
    data: bytes


def wal_frames(wal: Path) -> list[Frame]:
    """Every frame of a SQLite WAL file, valid or stale: header 32 bytes, then frames of a
    24-byte header (page number, database size if it ends a commit) and one page."""
    raw = wal.read_bytes() if wal.exists() else b""
    if len(raw) < 32:
        return []
    page_size = struct.unpack(">I", raw[8:12])[0]
    frames, offset = [], 32
    while offset + 24 + page_size <= len(raw):
        page, size_after = struct.unpack(">II", raw[offset : offset + 8])
        frames.append(Frame(page, size_after != 0, raw[offset + 24 : offset + 24 + page_size]))
        offset += 24 + page_size
    return frames


def replay(frames: list[Frame], rnd: Round) -> list[str]:
    """Commit by commit, what each transaction in the WAL shows of the round's answers."""
    found, commit, pending = [], 0, b""
    for frame in frames:
        pending += frame.data
        if not frame.commit:
            continue
        commit += 1
        found += [f"commit {commit}: answer id" for a in rnd.answer_ids if a.encode() in pending]
        found += [f"commit {commit}: comment" for c in rnd.comments if c.encode() in pending]
        pending = b""
    return found


@only("sqlite")
async def test_attack_sqlite_wal_with_a_reader_open_during_the_close(
    world: World, db_url: str
) -> None:
    database = Path(make_url(db_url).database or "")
    wal = database.with_name(database.name + "-wal")
    # Six answers, fewer than the comment threshold: the shared lines are never released, so
    # any copy of them found after the close comes from the deleted answers.
    await workspace_set(world.ctx, world.cli, comment_threshold="7")
    rnd = await checked_in_round(world)

    # A second connection (a backup tool, a BI dashboard) holds a read snapshot throughout.
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM answers").fetchone() == (6,)
    try:
        await close_round(world.ctx, world.cli, world.team)
        leaked = replay(wal_frames(wal), rnd)
        listed = (await round_list(world.ctx, world.cli, "Platform")).text
        if leaked:  # the clean-up could not finish: it must say so, not fail silently
            assert "scrub pending" in listed, (listed, leaked)
            async with world.ctx.database.connect() as conn:
                pending = await conn.scalar(text("SELECT count(*) FROM rounds WHERE scrub_pending"))
            assert pending == 1
    finally:
        reader.execute("ROLLBACK")
        reader.close()

    # The reader let go; the next scheduler pass finishes the clean-up.
    await RoundScheduler(world.ctx).run_once()
    assert replay(wal_frames(wal), rnd) == []
    assert not wal.exists() or wal.stat().st_size == 0, "the -wal still holds frames"
    assert "scrub pending" not in (await round_list(world.ctx, world.cli, "Platform")).text
    main_file = await asyncio.to_thread(database.read_bytes)
    assert not [a for a in rnd.answer_ids if a.encode() in main_file]
    assert not [c for c in rnd.comments if c.encode() in main_file]


# --- 3. The access log of a real server, during check-ins ---------------------------------------

ACCESS_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO aiohttp\.access: "
    r'[0-9a-f.:]+ "(GET|POST|HEAD|PUT|DELETE|OPTIONS) (/[A-Za-z0-9_./-]*)" \d{3}$'
)
SLACK_MEMBERS = ("U0A1", "U0A2", "U0A3")


def slack_state(scores: Sequence[int], comment: str) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {
        key: {key: selected_value(str(value), element_type="radio_buttons")}
        for key, value in zip(PRACTICES, scores, strict=True)
    }
    state["comment"] = {"comment": comment}
    state["share"] = {"share": {"type": "checkboxes", "selected_options": []}}
    return state


@pytest.mark.wall_clock
async def test_attack_access_log_of_a_real_server_names_no_size_timing_person_or_query(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", sqlite_url)
    for args in (
        ["demo"],  # the playground's workspace, with an open round
        ["workspace", "add", "--platform", "slack", "--external-id", "T0001"],
        ["team", "add", "Slackers", "--workspace", "T0001"],
        ["team", "members", "add", "Slackers", *SLACK_MEMBERS, "--workspace", "T0001"],
        ["round", "open", "Slackers", "--workspace", "T0001"],
    ):
        assert await asyncio.to_thread(main, args) == 0, args

    async with FakeSlackAPI() as fake:
        for user in SLACK_MEMBERS:
            fake.add_user(user, real_name=f"Person {user}")
        settings = {
            "RUTRADAR_DATABASE_URL": sqlite_url,
            "RUTRADAR_PLAYGROUND": "1",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": fake.base_url,
            "RUTRADAR_TICK_SECONDS": "3600",
        }
        async with serving("access-log", settings, tmp_path / "server") as server:
            await server.wait_ready()
            base = server.base
            async with aiohttp.ClientSession() as http:
                # The playground: a person's inbox poll names them in its query string.
                for user, scores in (("U-ada", SCORES[0]), ("U-ken", SCORES[1])):
                    values = {k: str(v) for k, v in zip(PRACTICES, scores, strict=True)}
                    event = {
                        "workspace": "demo",
                        "user_id": user,
                        "kind": "form",
                        "form_id": "checkin",
                        "values": values,
                    }
                    async with http.post(f"{base}playground/api/events", json=event) as res:
                        assert res.status == 200, await res.text()
                        assert "Counted" in await res.text()
                    query = {"workspace": "demo", "user": user, "after": "0"}
                    async with http.get(f"{base}playground/api/inbox", params=query) as res:
                        assert res.status == 200
                    async with http.get(f"{base}?user={user}") as res:
                        assert res.status == 200
                # Slack: a command, then the check-in modal submitted, for each member.
                for user, scores in zip(SLACK_MEMBERS, SCORES[2:], strict=False):
                    for body in (
                        slash_command(
                            "checkin", user_id=user, response_url=fake.response_url(user)
                        ),
                        view_submission("checkin", slack_state(scores, "quiet"), user_id=user),
                    ):
                        headers = signed_headers(body, SECRET, datetime.now(UTC))
                        async with http.post(
                            f"{base}slack/events?user={user}", data=body, headers=headers
                        ) as res:
                            assert res.status == 200, await res.text()
                # Refused requests are access-logged: a forged one, naming a member in its query.
                for user in SLACK_MEMBERS:
                    body = slash_command("checkin", user_id=user)
                    headers = signed_headers(body, "not-the-secret", datetime.now(UTC))
                    async with http.post(
                        f"{base}slack/events?user={user}", data=body, headers=headers
                    ) as res:
                        assert res.status == 401
                async with http.get(f"{base}metrics") as res:
                    exposed = await res.text()
            assert await server.terminate() == 0
        lines = (tmp_path / "server" / "stderr.log").read_text().splitlines()

    access = [line for line in lines if " aiohttp.access: " in line]
    paths = {m[2] for m in map(ACCESS_LINE.match, access) if m}
    assert {"/slack/events", "/metrics"} <= paths, access
    # A platform endpoint's answered requests (every check-in above) leave no line at all:
    # the metrics count them. Only the refused ones are logged.
    events = [line for line in access if "/events" in line]
    assert len(events) == len(SLACK_MEMBERS), access
    assert all(line.endswith('"POST /slack/events" 401') for line in events), events
    # Remote, request line and status: nothing else (no size, no duration, no query string).
    assert [line for line in access if not ACCESS_LINE.match(line)] == []
    people = ("U-ada", "U-ken", "Ada Lovelace", "Ken Thompson", *SLACK_MEMBERS)
    for line in lines:
        assert not any(p in line for p in people), line
        assert "user=" not in line and "?" not in line.partition(" aiohttp.access: ")[2], line
        assert not re.search(r"\d\s*(ms|bytes|B)\b", line), line
    # Request counts and latencies live in /metrics instead, labelled by route, never a person.
    assert (
        'rutradar_http_requests_total{method="POST",route="/slack/events",status="200"}' in exposed
    )
    assert "rutradar_http_request_duration_seconds_bucket" in exposed
    assert not any(p in exposed for p in people)


# --- 4. Check-in times: processed_events and people.xmin ----------------------------------------


@dataclass
class SlackEnv:
    fake: FakeSlackAPI
    client: Client
    runtime: Runtime
    clock: ManualClock
    world: World

    async def post(self, body: bytes) -> Any:
        headers = signed_headers(body, SECRET, self.clock.now())
        response = await self.client.post("/slack/events", data=body, headers=headers)
        assert response.status == 200, await response.text()
        return response


def slack_settings(url: str, fake: FakeSlackAPI, **extra: Any) -> Settings:
    values = {
        "RUTRADAR_DATABASE_URL": url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "RUTRADAR_PLAYGROUND": False,
        **extra,
    }
    return Settings(**values)


@pytest.fixture
async def slack(ctx: Context, db_url: str, clock: ManualClock) -> AsyncIterator[SlackEnv]:
    """The Slack app in-process on either backend (`ctx` keeps PostgreSQL clean around it)."""
    async with FakeSlackAPI() as fake:
        app = build_app(
            slack_settings(db_url, fake, SLACK_BOT_TOKEN="xoxb-test"), clock=clock, background=False
        )
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            world = await build_world(runtime.ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id, real_name=person.display_name)
            yield SlackEnv(fake, client, runtime, clock, world)


async def person_xmin(engine: AsyncEngine, user_id: str) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT xmin::text FROM people WHERE user_id = :u"), {"u": user_id}
        )
        return str(value)


async def contact_rows(engine: AsyncEngine) -> list[tuple[str, datetime]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id, seen_at FROM processed_events"))
        return [(str(r[0]), r[1]) for r in rows]


async def test_attack_nothing_dates_a_members_last_contact_after_the_retry_window(
    slack: SlackEnv,
) -> None:
    await open_round(slack.runtime.ctx, slack.world.cli, slack.world.team)
    db = slack.runtime.ctx.database
    # First contact (Events API), then the member's ordinary day: a command and a check-in.
    await slack.post(event_callback(app_home_opened("U0"), event_id="Ev-home-1"))
    first = await person_xmin(db, "U0")
    await slack.post(slash_command("help", user_id="U0", response_url=slack.fake.response_url()))
    await slack.post(slash_command("privacy", user_id="U0", response_url=slack.fake.response_url()))
    await slack.post(view_submission("checkin", slack_state(SCORES[0], ""), user_id="U0"))
    await slack.post(event_callback(app_home_opened("U0"), event_id="Ev-home-2"))
    async with slack.runtime.ctx.sessions() as session:
        assert await session.scalar(select(Answer.id)) is not None  # the check-in counted

    # The DBA looks. Read-only contact wrote nothing to the person's row (PostgreSQL: its
    # xmin, the id of the transaction that last wrote it, has not moved).
    assert await person_xmin(db, "U0") == first
    # A member's Home is a read: their visits are not remembered at all. Only what Slack
    # retries *and* writes is (a manager's Home audits what it shows), and not to the second.
    assert await contact_rows(db) == []
    await slack.post(event_callback(app_home_opened("UBOSS"), event_id="Ev-home-boss"))
    rows = await contact_rows(db)
    assert [event for event, _ in rows] == ["slack:Ev-home-boss"], rows
    for _, seen in rows:
        seen = seen if isinstance(seen, datetime) else datetime.fromisoformat(str(seen))
        assert (seen.second, seen.microsecond) == (0, 0), seen

    # Once Slack can no longer retry, a scheduler pass forgets even those.
    slack.clock.advance(timedelta(minutes=11))
    await RoundScheduler(slack.runtime.ctx).run_once()
    assert await contact_rows(db) == []
    assert await person_xmin(db, "U0") == first


# --- 5. Platform tokens in the database ----------------------------------------------------------

TOKENS = (
    "xoxb-installed",
    "xoxp-installer-user-token",
    "xoxe-1-bot-refresh-token",
    "https://hooks.slack.com/services/T0002/B0002/webhook-secret",
)


async def every_value(engine: AsyncEngine) -> str:
    """Everything the tables hold, as the attacker dumps it."""
    dumped = []
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(table.select())).all()
            dumped.append(f"{table.name}: {[tuple(r) for r in rows]!r}")
    return "\n".join(dumped)


def on_disk(url: str) -> bytes:
    database = Path(make_url(url).database or "")
    return b"".join(
        p.read_bytes() for p in (database, database.with_name(database.name + "-wal")) if p.exists()
    )


async def test_attack_after_an_uninstall_no_audit_row_names_anyone_who_was_erased(
    world: World,
) -> None:
    """A DBA reads `audit_events` row by row after the workspace removed the app: no actor
    label is one of the erased people's names and no detail holds one of their user ids,
    however deep in the JSON (the uninstall erases everyone, as forget-me erases one)."""
    ctx = world.ctx
    root = await world.actor(world.admin)
    await set_admins(ctx, root, ["u0"], grant=True)
    await set_members(ctx, root, "Platform", ["u1"], role=MembershipRole.MEMBER, add=False)
    await installed_by(ctx, "playground", "T0001", name=None, installer_user_id="root")
    await person_uninstalled(ctx, "playground", "T0001", "u2")
    async with ctx.sessions() as session:
        people = (await session.execute(select(Person.user_id, Person.display_name))).all()
    assert await platform_uninstalled(ctx, "playground", "T0001")

    async with ctx.database.connect() as conn:
        rows = (await conn.execute(text("SELECT actor_label, detail FROM audit_events"))).all()
    assert len(rows) >= 5
    user_ids = {user_id for user_id, _ in people}
    names = {name for _, name in people}

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)

    for label, detail in rows:
        assert label not in names, label
        parsed = json.loads(detail) if isinstance(detail, str) else detail
        assert not set(strings(parsed)) & user_ids, parsed
    assert ("erased person", None) in {(label, None) for label, _ in rows}


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_attack_no_platform_token_is_readable_in_the_database(
    ctx: Context, db_url: str, clock: ManualClock
) -> None:
    async with FakeSlackAPI() as fake:
        fake.oauth_response["authed_user"].update(
            access_token=TOKENS[1], token_type="user", scope="identify"
        )
        fake.oauth_response.update(
            refresh_token=TOKENS[2],
            expires_in=43200,
            incoming_webhook={
                "url": TOKENS[3],
                "channel": "#general",
                "channel_id": "C1",
                "configuration_url": "https://acme.slack.com/services/B0002",
            },
        )
        settings = slack_settings(
            db_url,
            fake,
            SLACK_CLIENT_ID="111.222",
            SLACK_CLIENT_SECRET="shh",
            RUTRADAR_SECRET_KEY=Fernet.generate_key().decode(),
        )
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            start = await client.get("/slack/install", allow_redirects=False)
            page = await start.text()
            state = re.search(r"state=([A-Za-z0-9_-]+)", start.headers.get("Location") or page)
            assert state is not None, page
            cookie = start.headers["Set-Cookie"].split(";")[0]
            done = await client.get(
                "/slack/oauth_redirect",
                params={"code": "good-code", "state": state[1]},
                headers={"Cookie": cookie},
            )
            assert done.status == 200, await done.text()

            # The attacker reads every table; on SQLite the files themselves too.
            dumped = await every_value(ctx.database)
            assert "T0002" in dumped  # the install is there to find
            assert [t for t in TOKENS if t in dumped] == []
            assert not re.search(r"xox[bpea]-", dumped)
            if ctx.database.dialect.name == "sqlite":
                assert b"xox" not in on_disk(db_url) and b"webhook-secret" not in on_disk(db_url)
            else:
                pages = await raw_pages(ctx.database, ("slack_bots", "slack_installations"))
                assert not [r for r, ps in pages.items() for p in ps if b"xox" in p]

            # The server itself still reads its tokens.
            from adapters.slack.adapter import SlackAdapter
            from bot.core.events import ConversationRef

            adapter = app[RUNTIME].adapters["slack"]
            assert isinstance(adapter, SlackAdapter)
            fake.add_user("UINSTALLER", team_id="T0002")
            await adapter.send(ConversationRef("slack", "T0002", "UINSTALLER"), Message.text("hi"))
            assert fake.calls_to("chat.postMessage")[-1].token == TOKENS[0]


# --- 6. "Send me this advice" stays in chat history ----------------------------------------------


def around_the_button(message: Message) -> Iterator[str]:
    """The text blocks right next to the "send me this advice" button."""
    blocks = list(message.blocks)
    for i, block in enumerate(blocks):
        if isinstance(block, Buttons) and any(b.action_id == "advice_send" for b in block.buttons):
            for near in blocks[max(i - 1, 0) : i + 2]:
                if isinstance(near, Paragraph):
                    yield near.text


@pytest.mark.parametrize(
    ("locale", "words"), [("en", "direct messages"), ("de", "Direktnachrichten")]
)
async def test_attack_the_advice_sent_to_chat_stays_there_and_the_dialog_says_so(
    world: World, locale: str, words: str
) -> None:
    async with world.ctx.sessions.begin() as session:
        person = await session.get(Person, world.members[0].id)
        assert person is not None
        person.locale = locale
    [result] = await ChatEngine(world.ctx).handle(checkin("u0", routine=1))
    assert result.surface == "dialog"
    notes = list(around_the_button(result))
    assert notes == [copy_for(locale).say("advice_send_note")]
    assert words in notes[0]
    assert json.dumps(notes)  # plain text, as every renderer shows a paragraph


# --- 7. The "checked in" edit waiting in the outbox ----------------------------------------------


EDIT_TRACE = b'"locale": "'  # in a checked-in edit's message reference, and nowhere else


async def edit_traces(world: World, db_url: str) -> list[str]:
    """Where the attacker finds a checked-in edit's bytes: PostgreSQL's raw heap and index
    pages of `deliveries` (dead tuples included), or SQLite's main file and `-wal`."""
    if world.ctx.database.dialect.name == "postgresql":
        pages = await raw_pages(world.ctx.database, ("deliveries",))
        return [
            f"{relation} page {n}"
            for relation, blocks in pages.items()
            for n, page in enumerate(blocks)
            if EDIT_TRACE in page
        ]
    return ["sqlite file or -wal"] if EDIT_TRACE in await asyncio.to_thread(on_disk, db_url) else []


async def test_attack_the_checked_in_edit_links_no_more_than_answered_and_leaves_nothing(
    world: World, db_url: str, clock: ManualClock
) -> None:
    """A DBA reads the outbox while check-ins come in, after the edits went out, and the
    database's files after the close."""
    ctx = world.ctx
    adapter = FakeAdapter()
    dispatcher = Dispatcher(ctx, {"playground": adapter})
    opened = await open_round(ctx, world.cli, world.team)
    await dispatcher.run_once()
    engine = ChatEngine(ctx)
    for name in ("u0", "u1", "u2"):  # minutes apart
        clock.advance(timedelta(minutes=13))
        await engine.handle(checkin(name))

    # While they wait: a row per answered prompt, naming the prompt as its `answered` flag
    # does, and nothing more: no person, no answer, no time of answering, nothing that
    # differs between the three but the prompt's reference.
    async with ctx.sessions() as session:
        edits = (await session.scalars(select(Delivery).where(Delivery.kind == "checked_in"))).all()
        answered = (
            await session.scalars(
                select(Delivery.message_ref).where(
                    Delivery.kind == "prompt", Delivery.answered.is_(True)
                )
            )
        ).all()
    assert sorted(SentRef.from_json(e.message_ref or {}).message_id for e in edits) == sorted(
        SentRef.from_json(ref).message_id for ref in answered
    )
    for edit in edits:
        assert (edit.person_id, edit.answered, edit.not_before) == (
            None,
            False,
            opened.round.opens_at,
        )
        assert edit.lease_until is None and edit.next_attempt_at is None
    assert len({(e.status, e.attempts, e.lookups) for e in edits}) == 1
    assert await edit_traces(world, db_url), "the detector finds an edit that is there"

    # After the send: the edits are made, and no row of them is left to read.
    await dispatcher.run_once()
    assert sorted(ref.message_id for ref, _ in adapter.updates) == sorted(
        SentRef.from_json(ref).message_id for ref in answered
    )
    async with ctx.sessions() as session:
        assert (
            await session.scalars(select(Delivery.id).where(Delivery.kind == "checked_in"))
        ).all() == []

    # One more answers and the round closes before the dispatcher gets to the edit.
    await engine.handle(checkin("u3"))
    await close_round(ctx, world.cli, world.team)
    for _ in range(20):  # a transaction elsewhere on a shared server may hold the scrub back
        if (await scrub(ctx.database)).done:
            break
    else:
        pytest.fail("the scrub never finished")
    async with ctx.sessions() as session:
        kinds = (await session.scalars(select(Delivery.kind))).all()
    assert "checked_in" not in kinds and kinds.count("notice_batch") == 1
    assert await expand_closed_notices(ctx.sessions) == 6  # one notice per prompt
    async with ctx.sessions() as session:
        kinds = (await session.scalars(select(Delivery.kind))).all()
    assert "checked_in" not in kinds and kinds.count("closed_notice") == 6
    # Nothing of any edit, sent or waiting, is left in the database's files.
    assert await edit_traces(world, db_url) == []


# --- 8. The process's memory: who checked in, and when ----------------------------------------


@only("sqlite")
async def test_attack_a_replica_s_memory_dates_no_check_in_and_forgets_its_last_senders(
    world: World, clock: ManualClock
) -> None:
    """Someone with the process's memory (a core dump, a debugger) reads its lookups
    (bot/core/lookups.py) for members whose entry was stored at the moment check-ins came
    in, and, on a replica that went quiet after the burst, hours later."""
    ttl = 30.0  # the default, spread as the app spreads it
    lookups = Lookups(clock, ttl=ttl, spread=LOOKUP_SPREAD)
    database = world.ctx.database
    ctx = Context(
        database=database, sessions=create_session_factory(database), clock=clock, lookups=lookups
    )
    refreshes: list[Any] = []  # the app's task group runs them at once
    engine = ChatEngine(ctx, spawn=lambda work, _name: refreshes.append(work))
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    for user in ("u0", "u1", "u2"):
        await engine.handle(action(user, "checkin_open", rnd.period))
    clock.advance(timedelta(seconds=20))  # five taps later, u0 and u1 submit; u2 only looked
    answered_at = clock.now()
    for user in ("u0", "u1"):
        await engine.handle(checkin(user))
        while refreshes:
            await refreshes.pop()

    # Entries stored at that moment expire at least `ttl * (1 - spread)` after it; those from
    # the presses twenty seconds earlier have gone, or go before then.
    stored_since = answered_at + timedelta(seconds=ttl * (1 - LOOKUP_SPREAD))
    dated = [key[2] for key, (_, expires, _) in lookups._actors.items() if expires >= stored_since]
    dated += [
        f"prompt state of person {key[1]}"
        for key, (_, read_at, _) in lookups._prompts.items()
        if read_at >= answered_at
    ]
    assert dated == [], f"entries stored as the check-ins came in: {dated}"

    # Nobody writes to this replica again; its scheduler ticks on. Hours later:
    clock.advance(timedelta(hours=6))
    await RoundScheduler(ctx).run_once()
    left = [key[2] for key in lookups._actors] + [str(key) for key in lookups._prompts]
    assert left == [], f"still in memory hours after their last event: {left}"
