"""Slack check-in and App Home: per second and p99 at 50 connections, closed loop, against a
bare slack-bolt app doing the least of the same in the same run, on SQLite and (when
configured) PostgreSQL.

- **Button:** `block_actions` on the prompt's check-in button (`checkin_open`, the round's
  period as its value), answered by `views.open` of the check-in form to the fake Slack Web
  API (tests/fakes/slack_api.py). 1,000 people with an open prompt take turns; every request
  has its own `trigger_id` and `action_ts`.
- **Submission:** `view_submission` of the check-in form (five scores), the answer committed
  before the answer view is returned. Every submission is from a **different person with an
  open prompt** (30,000 of them, more than the server answers in the run: a run that wrapped
  fails), so none is the already-counted shortcut. Afterwards the answers are counted in the
  database: every submission the server said it counted ("Counted for" in its answer) must
  have its answer (none lost), and there may be no more answers than prompts marked answered
  nor than submissions sent (none doubled).
- **App Home:** `app_home_opened` Events API deliveries (each its own `event_id`), answered
  by `views.publish` (no target; reported).

The world is built directly in a fresh database before the server starts: one Slack
workspace (T0001), a team of 31,000 members with an open round whose prompts were all sent
(message references included, so "checked in" edits go to the fake), every person as the
fake's `users.info` describes them (a first contact would otherwise write their row).

Baseline (benchmarks/baselines.py `bolt-commit`, same database, same run): a bare Bolt
`AsyncApp` that acks the button and calls `views.open` with a fixed modal, inserts one row
per submission into a scratch table in a transaction and answers a fixed modal, and answers
`app_home_opened` with `views.publish` of a fixed Home. Both servers run side by side; per
request kind both are warmed up, then measured bare, product, product, bare
(benchmarks/load.py `interleaved`), each turn starting with every server idle.

Targets (issue 12): button and submission ≥ 0.7 × the bare app's rate and p99 < 250 ms on
every backend, no answer lost or doubled.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select, text

from adapters.slack.payloads import where
from benchmarks import postgres_base_url, postgres_database, sqlite_database, table
from benchmarks.load import (
    LOAD_COLUMNS,
    Load,
    LoadResult,
    Request,
    Server,
    free_port,
    interleaved,
    python_argv,
    rutradar_argv,
    start_server,
)
from bot.core.ports import SentRef
from bot.rounds.periods import weekly_period
from storage.db import create_engine
from storage.models import Answer, Delivery, Membership, Person, Round, Team, Workspace, random_id
from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI, dm_channel

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
ZONE = "Europe/Berlin"
BUTTON_PEOPLE = 1_000  # press the button and open their Home (reads)
SUBMITTERS = 30_000  # one submission each
SECONDS = 6.0  # per request kind and server, in ROUNDS turns (benchmarks/load.py `interleaved`)
ROUNDS = 2
WARMUP_SECONDS = 1.0
REQUESTS = 16_000  # requests written per turn: more than answered (2,200/s seen)
WARMUP_REQUESTS = 4_000
TARGET_RATIO = 0.7
TARGET_P99_MS = 250.0
COUNTED = "Counted for"  # the product's answer to a stored check-in (catalog `checkin_stored`)
SCORES = {
    key: {key: sr.selected_value(score, element_type="radio_buttons")}
    for key, score in (
        ("assess", "3"),
        ("routine", "2"),
        ("training", "4"),
        ("strengths", "4"),
        ("path", "3"),
    )
}
KINDS = ("button", "submit", "home")
LABELS = {
    "button": "block_actions → views.open",
    "submit": "view_submission, committed",
    "home": "app_home_opened → views.publish",
}


def user(n: int) -> str:
    return f"U{n:06d}"


@dataclass
class Row:
    backend: str
    kind: str
    result: LoadResult
    baseline: LoadResult

    @property
    def ratio(self) -> float:
        return self.result.ratio_to(self.baseline)

    @property
    def targeted(self) -> bool:
        return self.kind in ("button", "submit")

    @property
    def met(self) -> bool:
        r = self.result
        clean = r.non_2xx == 0 and r.socket_errors == 0 and r.wraps == 0
        if not self.targeted:
            return clean
        return clean and self.ratio >= TARGET_RATIO and r.p99_ms < TARGET_P99_MS


@dataclass
class Count:
    """Submissions and the answers they left, per server and backend."""

    backend: str
    server: str
    sent: int  # submissions wrk sent (answered or in flight at the end)
    counted: int  # answers that said the check-in was counted (product) / 2xx (baseline)
    answers: int  # answer rows in the database afterwards
    prompts_answered: int  # prompt deliveries marked answered (product)

    @property
    def lost(self) -> int:
        return max(0, self.counted - self.answers)

    @property
    def doubled(self) -> int:
        extra = max(0, self.answers - self.sent)
        if self.server == "rutradar":
            extra = max(extra, abs(self.answers - self.prompts_answered))
        return extra


@dataclass
class CheckinResult:
    rows: list[Row] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return (
            bool(self.rows)
            and all(row.met for row in self.rows)
            and all(c.lost == 0 and c.doubled == 0 for c in self.counts)
        )


# --- the world -------------------------------------------------------------------------------


async def seed(url: str, members: int, fake: FakeSlackAPI, *, sent: bool = True) -> str:
    """A Slack workspace, one team of `members` with an open round whose prompts were all sent
    (`sent`; else all pending, for the dispatcher to send); returns the period. Every member is
    known to the fake as the database knows them."""
    now = datetime.now(UTC)
    period = weekly_period(now, ZONE)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            ws = (
                await conn.execute(
                    insert(Workspace).returning(Workspace.id),
                    {
                        "platform": "slack",
                        "external_id": "T0001",
                        "name": "Acme",
                        "timezone": ZONE,
                        "threshold": 5,
                        "comment_threshold": 5,
                    },
                )
            ).scalar_one()
            team = (
                await conn.execute(
                    insert(Team).returning(Team.id), {"workspace_id": ws, "name": "Platform"}
                )
            ).scalar_one()
            rnd = (
                await conn.execute(
                    insert(Round).returning(Round.id),
                    {
                        "team_id": team,
                        "period": period,
                        "opens_at": now - timedelta(hours=1),
                        "closes_at": now + timedelta(days=3),
                        "threshold": 5,
                        "comment_threshold": 5,
                        "status": "open",
                    },
                )
            ).scalar_one()
            users = [user(n) for n in range(members)]
            ids = (
                await conn.execute(
                    insert(Person).returning(Person.id, sort_by_parameter_order=True),
                    [
                        {
                            "workspace_id": ws,
                            "user_id": u,
                            "display_name": u.lower(),
                            "timezone": ZONE,
                            "role": "member",
                            "stub": False,
                            "conversation_ref": where("T0001", u).to_json(),
                        }
                        for u in users
                    ],
                )
            ).scalars()
            people = list(zip(users, ids, strict=True))
            await conn.execute(
                insert(Membership),
                [{"person_id": p, "team_id": team, "role": "member"} for _, p in people],
            )
            await conn.execute(
                insert(Delivery),
                [
                    {
                        "id": random_id(),
                        "round_id": rnd,
                        "person_id": p,
                        "kind": "prompt",
                        "not_before": now - timedelta(hours=1),
                        "status": "sent" if sent else "pending",
                        "attempts": 1 if sent else 0,
                        "lookups": 0,
                        "answered": False,
                        "message_ref": SentRef(
                            "slack", f"T0001:{dm_channel(u)}", f"1700000000.{n:06d}"
                        ).to_json()
                        if sent
                        else None,
                    }
                    for n, (u, p) in enumerate(people)
                ],
            )
            await conn.execute(
                text("CREATE TABLE bench_answers (trigger_id VARCHAR(64) PRIMARY KEY, score INT)")
            )
    finally:
        await engine.dispose()
    for n, u in enumerate(users):
        fake.add_user(u)
        if sent:
            fake.messages[dm_channel(u)].append(
                {"type": "message", "ts": f"1700000000.{n:06d}", "text": "prompt", "blocks": []}
            )
    return period


async def count(url: str, backend: str, server: str, runs: tuple[LoadResult, ...]) -> Count:
    """The submissions of `runs` (the warm-up's and the measured run's) against the rows."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            answers = int(await conn.scalar(select(func.count()).select_from(Answer)) or 0)
            answered = int(
                await conn.scalar(
                    select(func.count()).where(
                        Delivery.answered.is_(True), Delivery.kind == "prompt"
                    )
                )
                or 0
            )
            scratch = int(await conn.scalar(text("SELECT count(*) FROM bench_answers")) or 0)
    finally:
        await engine.dispose()
    sent = sum(r.sent for r in runs)
    if server == "rutradar":
        return Count(backend, server, sent, sum(r.matched for r in runs), answers, answered)
    return Count(backend, server, sent, sum(r.requests - r.non_2xx for r in runs), scratch, 0)


# --- requests --------------------------------------------------------------------------------


def _signed(body: bytes, now: int) -> Request:
    return Request(sr.signed_headers(body, SECRET, now), body)


def buttons(period: str, n: int) -> list[Request]:
    now = int(time.time())
    return [
        _signed(
            sr.block_actions(
                "checkin_open",
                period,
                user_id=user(i % BUTTON_PEOPLE),
                user_name=user(i % BUTTON_PEOPLE).lower(),
                channel_id=dm_channel(user(i % BUTTON_PEOPLE)),
                block_id="b0",
            ),
            now,
        )
        for i in range(n)
    ]


def submissions(period: str, first: int, n: int) -> list[Request]:
    now = int(time.time())
    return [
        _signed(
            sr.view_submission(
                "checkin",
                SCORES,
                private_metadata=period,
                user_id=user(i),
                user_name=user(i).lower(),
                view_id=f"V{i:08d}",
            ),
            now,
        )
        for i in range(first, first + n)
    ]


def homes(n: int) -> list[Request]:
    now = int(time.time())
    return [
        _signed(sr.event_callback(sr.app_home_opened(user(i % BUTTON_PEOPLE))), now)
        for i in range(n)
    ]


def _buttons(period: str, _first: int, n: int) -> list[Request]:
    return buttons(period, n)


def _homes(_first: int, n: int) -> list[Request]:
    return homes(n)


def _submissions(period: str, first: int, n: int) -> list[Request]:
    """People from BUTTON_PEOPLE on, each once: the warm-up's first, then the next ones."""
    return submissions(period, BUTTON_PEOPLE + first, min(n, SUBMITTERS - first))


async def people_fetched(server: Server, fake: FakeSlackAPI, period: str, members: int) -> None:
    """The server's people as a round's fan-out leaves them: sending the prompts fetched the
    workspace's members (`users.list`, 200 a page) before anyone pressed a button. The world
    is seeded without a fan-out, so the first press starts that fetch; it is awaited here,
    before the warm-up, rather than measured as part of the presses."""
    pages = -(-members // 200)
    async with aiohttp.ClientSession() as http:
        extra = _signed(
            sr.block_actions("checkin_open", period, user_id=user(0), block_id="b0"),
            int(time.time()),
        )
        async with http.post(
            server.url + "/slack/events", data=extra.body, headers=extra.headers
        ) as response:
            await response.read()
    await fake.wait_for("users.list", pages, timeout=120)


async def run(*, seconds: float = SECONDS) -> CheckinResult:
    logs = Path(tempfile.mkdtemp(prefix="rutradar-bench-checkin-"))
    result = CheckinResult()
    backends: list[tuple[str, Any]] = [("sqlite", sqlite_database())]
    base = postgres_base_url()
    if base:
        backends.append(("postgresql", postgres_database(base)))
    for backend, database in backends:
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(database)
            fake = await stack.enter_async_context(FakeSlackAPI())
            members = BUTTON_PEOPLE + SUBMITTERS
            period = await seed(url, members, fake)
            env = {
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_API_URL": fake.base_url,
                "RUTRADAR_PLAYGROUND": "0",
                "RUTRADAR_DATABASE_URL": url,
                "BENCH_DATABASE_URL": url,
            }
            makers: dict[str, Callable[[int, int], list[Request]]] = {
                "button": partial(_buttons, period),
                "submit": partial(_submissions, period),
                "home": _homes,
            }
            servers: dict[str, Server] = {}
            for name, argv, ready in (
                (
                    "bare",
                    lambda port: python_argv(
                        "-m", "benchmarks.baselines", "bolt-commit", str(port)
                    ),
                    "/slack/events",
                ),
                ("rutradar", rutradar_argv, "/readyz"),
            ):
                port = free_port()
                servers[name] = await start_server(
                    argv(port),
                    env,
                    port,
                    ready_path=ready,
                    log_dir=logs,
                    name=f"{name}-checkin-{backend}",
                )
                stack.callback(servers[name].stop)
            await people_fetched(servers["rutradar"], fake, period, members)
            loads: dict[tuple[str, str], Load] = {}
            for kind in KINDS:
                # Per kind: both warmed up, then bare, product, product, bare; the product's
                # turns follow its warm-up well within its lookups' TTL, as a burst of
                # presses follows the round's prompts.
                pair = []
                for name in ("bare", "rutradar"):
                    load = Load(
                        f"checkin-{kind}-{name}-{backend}",
                        servers[name],
                        makers[kind],
                        REQUESTS,
                        expect=COUNTED if (kind, name) == ("submit", "rutradar") else None,
                    )
                    await load.warm_up(WARMUP_SECONDS, WARMUP_REQUESTS)
                    loads[kind, name] = load
                    pair.append(load)
                await interleaved(pair, rounds=ROUNDS, seconds=seconds / ROUNDS)
            for name in ("bare", "rutradar"):
                submitted = loads["submit", name]
                result.counts.append(await count(url, backend, name, tuple(submitted.runs)))
            for kind in KINDS:
                result.rows.append(
                    Row(
                        backend,
                        kind,
                        loads[kind, "rutradar"].result(),
                        loads[kind, "bare"].result(),
                    )
                )
    return result


def report(result: CheckinResult) -> str:
    verdict = "MET" if result.met else "MISSED"
    head = (
        f"check-in and App Home on Slack: distinct signed requests, 50 connections, closed loop "
        f"(target for button and submission: ≥ {TARGET_RATIO}× the bare Bolt app, p99 < "
        f"{TARGET_P99_MS:.0f} ms, no answer lost or doubled) → {verdict}"
    )
    rows: list[list[Any]] = []
    for row in result.rows:
        for server, load in (("bare Bolt", row.baseline), ("rutradar", row.result)):
            ratio = f"{row.ratio:.2f}" if server == "rutradar" else "1.00"
            rows.append([row.backend, LABELS[row.kind], server, *load.cells(ratio)])
    body = table(["backend", "request", "server", *LOAD_COLUMNS], rows)
    counts = "\n".join(
        f"  {c.backend} {c.server}: {c.sent} submissions sent, {c.counted} answered as counted, "
        f"{c.answers} answers stored"
        + (f", {c.prompts_answered} prompts marked answered" if c.server == "rutradar" else "")
        + f" → lost {c.lost}, doubled {c.doubled}"
        for c in result.counts
    )
    wrapped = [
        load.label for row in result.rows for load in (row.baseline, row.result) if load.wraps
    ]
    if wrapped:
        counts += f"\n  {', '.join(wrapped)}: outlasted its requests (a request repeated)"
    return f"{head}\n{body}\n{counts}"


def as_dict(result: CheckinResult) -> dict[str, Any]:
    return {
        "rows": [
            {"backend": r.backend, "kind": r.kind, "ratio": r.ratio, **asdict(r.result)}
            | {"baseline": asdict(r.baseline)}
            for r in result.rows
        ],
        "counts": [asdict(c) | {"lost": c.lost, "doubled": c.doubled} for c in result.counts],
        "met": result.met,
    }
