"""Slack: `/rut help` and `/rut advice routine` per second and p99 at 50 connections, closed
loop, against a bare slack-bolt `AsyncApp` acking a fixed text, in the same run, on SQLite and
(when configured) PostgreSQL.

Every request is a distinct slash command (its own `trigger_id` and `response_url`), signed
with its own HMAC over a current timestamp, from one of 100 people of one workspace. The
product runs as `rutradar serve` in single-token mode against the fake Slack Web API
(tests/fakes/slack_api.py); the bare app in its own process (benchmarks/baselines.py), both
running side by side per backend and measured in mirrored turns (bare, help, advice, advice,
help, bare: benchmarks/load.py `interleaved`), so a change in the machine's speed during the
run moves a ratio's two sides alike. A warm-up run before the turns makes every person known
(their first contact writes their row). Also reported from the product's processes:
start-up to `/readyz` 200 and the resident memory once idle.

Targets: ≥ 0.8 × bare Bolt's throughput and p99 < 50 ms, on every backend; start-up < 2 s;
idle resident memory < 150 MB.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import postgres_base_url, postgres_database, sqlite_database, table
from benchmarks.load import (
    LOAD_COLUMNS,
    Load,
    LoadResult,
    Request,
    free_port,
    interleaved,
    python_argv,
    rutradar_argv,
    start_server,
)
from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
PEOPLE = 100
SECONDS = 8.0  # per request kind, in ROUNDS turns (benchmarks/load.py `interleaved`)
ROUNDS = 2
WARMUP_SECONDS = 2.0
REQUESTS = 40_000  # per turn at most: more than a server answers in a turn (6,000/s seen)
WARMUP_REQUESTS = 20_000  # the warm-up's 2 s at 6,000/s, and room
TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0
TARGET_START_S = 2.0
TARGET_IDLE_MB = 150.0
COMMANDS = {"help": "help", "advice": "advice routine"}


@dataclass
class Row:
    backend: str
    command: str
    result: LoadResult
    baseline: LoadResult

    @property
    def ratio(self) -> float:
        return self.result.ratio_to(self.baseline)

    @property
    def met(self) -> bool:
        r = self.result
        return (
            self.ratio >= TARGET_RATIO
            and r.p99_ms < TARGET_P99_MS
            and r.non_2xx == 0
            and r.socket_errors == 0
            and r.wraps == 0
        )


@dataclass
class SlackResult:
    # Bare Bolt per backend, measured in turns with that backend's rows (`interleaved`).
    baselines: dict[str, LoadResult] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    start_s: dict[str, float] = field(default_factory=dict)
    idle_mb: dict[str, float] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return (
            all(row.met for row in self.rows)
            and all(s < TARGET_START_S for s in self.start_s.values())
            and all(m < TARGET_IDLE_MB for m in self.idle_mb.values())
            and all(b.wraps == 0 for b in self.baselines.values())
        )


def commands(text: str, count: int) -> list[Request]:
    now = int(time.time())
    out = []
    for n in range(count):
        user = f"U{n % PEOPLE:05d}"
        body = sr.slash_command(text, user_id=user, user_name=f"person{n % PEOPLE}")
        out.append(Request(sr.signed_headers(body, SECRET, now), body))
    return out


async def _check(url: str, text: str, expect: str) -> None:
    """One request answered as a person would see it, before measuring."""
    [request] = commands(text, 1)
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=request.body, headers=dict(request.headers)) as response,
    ):
        body = await response.text()
    if response.status != 200 or expect not in body:
        raise RuntimeError(f"{url} answered {response.status} without {expect!r}: {body[:300]}")


def _commands(text: str) -> Callable[[int, int], list[Request]]:
    return lambda _first, count: commands(text, count)


async def run(*, seconds: float = SECONDS) -> SlackResult:
    logs = Path(tempfile.mkdtemp(prefix="rutradar-bench-slack-"))
    async with FakeSlackAPI() as fake:
        env = {
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.base_url,
            "RUTRADAR_PLAYGROUND": "0",
        }
        result = SlackResult()
        backends: list[tuple[str, Any]] = [("sqlite", sqlite_database())]
        base = postgres_base_url()
        if base:
            backends.append(("postgresql", postgres_database(base)))
        for backend, database in backends:
            async with AsyncExitStack() as stack:
                url = await stack.enter_async_context(database)
                port = free_port()
                bare = await start_server(
                    python_argv("-m", "benchmarks.baselines", "bolt", str(port)),
                    env,
                    port,
                    ready_path="/slack/events",
                    log_dir=logs,
                    name=f"bare-bolt-{backend}",
                )
                stack.callback(bare.stop)
                await _check(bare.url + "/slack/events", "help", "Rut Radar")
                port = free_port()
                server = await start_server(
                    rutradar_argv(port),
                    {**env, "RUTRADAR_DATABASE_URL": url},
                    port,
                    ready_path="/readyz",
                    log_dir=logs,
                    name=f"rutradar-slack-{backend}",
                )
                stack.callback(server.stop)
                result.start_s[backend] = server.started_in
                result.idle_mb[backend] = server.rss_mb()
                await _check(server.url + "/slack/events", "help", "advice")
                baseline = Load(f"slack-bare-bolt-{backend}", bare, _commands("help"), REQUESTS)
                loads = [baseline] + [
                    Load(f"slack-{command}-{backend}", server, _commands(text), REQUESTS)
                    for command, text in COMMANDS.items()
                ]
                for load in loads:  # the warm-up makes every person known (a first write)
                    await load.warm_up(WARMUP_SECONDS, WARMUP_REQUESTS)
                await interleaved(loads, rounds=ROUNDS, seconds=seconds / ROUNDS)
                result.baselines[backend] = baseline.result()
                for command, load in zip(COMMANDS, loads[1:], strict=True):
                    result.rows.append(Row(backend, command, load.result(), baseline.result()))
        return result


def report(result: SlackResult) -> str:
    verdict = "MET" if result.met else "MISSED"
    head = (
        f"slack: distinct signed slash commands, 50 connections, closed loop (target: ≥ "
        f"{TARGET_RATIO}× bare Bolt, p99 < {TARGET_P99_MS:.0f} ms; start-up < "
        f"{TARGET_START_S:.0f} s; idle RSS < {TARGET_IDLE_MB:.0f} MB) → {verdict}"
    )
    rows: list[list[Any]] = []
    for backend, baseline in result.baselines.items():
        rows.append([backend, "bare Bolt ack", *baseline.cells("1.00")])
        for row in result.rows:
            if row.backend == backend:
                command = f"/rut {COMMANDS[row.command]}"
                rows.append([row.backend, command, *row.result.cells(f"{row.ratio:.2f}")])
    body = table(["backend", "request", *LOAD_COLUMNS], rows)
    extra = "\n".join(
        f"  {backend}: start-up to /readyz 200 {result.start_s[backend]:.2f} s; "
        f"idle RSS {result.idle_mb[backend]:.0f} MB"
        for backend in result.start_s
    )
    loads = (*result.baselines.values(), *(row.result for row in result.rows))
    wrapped = [r.label for r in loads if r.wraps]
    if wrapped:
        extra += (
            f"\n  {', '.join(wrapped)}: outlasted the requests written for it (a request repeated)"
        )
    return f"{head}\n{body}\n{extra}"


def as_dict(result: SlackResult) -> dict[str, Any]:
    return {
        "baselines": {backend: asdict(b) for backend, b in result.baselines.items()},
        "rows": [
            {"backend": r.backend, "command": r.command, "ratio": r.ratio, **asdict(r.result)}
            for r in result.rows
        ],
        "start_s": result.start_s,
        "idle_mb": result.idle_mb,
        "met": result.met,
    }
