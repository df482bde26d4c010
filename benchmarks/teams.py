"""Teams: signed `help` activities per second through `/api/messages`, and p99, at 50
connections, against a bare botbuilder `CloudAdapter` echo bot in the same run.

Both servers are processes of their own with the same configuration: botbuilder's own JWT
validation against the fake identity's key (tests/fakes/bot_openid.py, RS256, `aud` = the app
id, `serviceurl` claim = the activity's), outbound tokens from its login endpoint, replies to
the fake Bot Connector (tests/fakes/bot_connector.py), which insists on an issued token. Every
activity is distinct (its own id); the JWT is shared, as the Bot Connector's are (a token binds
to the service URL, not to a body). 100 people take turns (a team's burst after a round's
prompts); a warm-up run before the measured
one makes each of them known (their first contact writes their row).

Target: ≥ 1.5 × the bare bot's throughput and p99 < 200 ms.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import sqlite_database, table
from benchmarks.load import (
    LoadResult,
    Request,
    Server,
    free_port,
    python_argv,
    run_wrk,
    rutradar_argv,
    start_server,
)
from tests.fakes import teams_activities as acts
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.bot_openid import FakeIdentity

PEOPLE = 100
SECONDS = 10.0
WARMUP_SECONDS = 3.0
TARGET_RATIO = 1.5
TARGET_P99_MS = 200.0
REQUESTS = 30_000  # more than either server answers in SECONDS (1,450/s seen)


@dataclass
class TeamsResult:
    baseline: LoadResult
    product: LoadResult
    baseline_replies: int
    product_replies: int

    @property
    def ratio(self) -> float:
        return self.product.ratio_to(self.baseline)

    @property
    def met(self) -> bool:
        return (
            self.ratio >= TARGET_RATIO
            and self.product.p99_ms < TARGET_P99_MS
            and self.product.non_2xx == 0
            and self.product.socket_errors == 0
            and self.product.wraps == 0
            and self.baseline.wraps == 0
        )


def activities(idp: FakeIdentity, service_url: str, count: int, text: str) -> list[Request]:
    token = idp.mint(service_url, expires_in=3600)
    out = []
    for n in range(count):
        aad = f"00000000-0000-0000-0000-{n % PEOPLE:012d}"
        body = json.dumps(acts.message(service_url, aad, text), separators=(",", ":")).encode()
        out.append(Request({"Content-Type": "application/json", "Authorization": token}, body))
    return out


async def run(*, seconds: float = SECONDS) -> TeamsResult:
    async with FakeIdentity(app_id=acts.APP_ID) as idp, FakeBotConnector(idp) as connector:
        env = {
            "MICROSOFT_APP_ID": idp.app_id,
            "MICROSOFT_APP_PASSWORD": idp.password,
            "MICROSOFT_OPENID_METADATA_URL": idp.metadata_url,
            "MICROSOFT_LOGIN_URL": idp.base_url,
        }
        logs = Path(tempfile.mkdtemp(prefix="rutradar-bench-teams-"))

        async def measure(server: Server, name: str) -> tuple[LoadResult, int]:
            url = server.url + "/api/messages"
            warm = activities(idp, connector.service_url, PEOPLE * 2, "help")
            await run_wrk("warm-up", url, warm, seconds=WARMUP_SECONDS)
            before = len(connector.sent)
            cpu = server.cpu_seconds()
            result = await run_wrk(
                name,
                url,
                activities(idp, connector.service_url, REQUESTS, "help"),
                seconds=seconds,
                profile_pid=server.proc.pid,
            )
            result.cpu_ms_per_request = (
                (server.cpu_seconds() - cpu) * 1000 / max(1, result.requests)
            )
            return result, len(connector.sent) - before

        port = free_port()
        bare = await start_server(
            python_argv("-m", "benchmarks.baselines", "teams", str(port)),
            env,
            port,
            ready_path="/api/messages",
            log_dir=logs,
            name="bare-botbuilder",
        )
        try:
            baseline, baseline_replies = await measure(bare, "teams-bare")
        finally:
            bare.stop()

        async with sqlite_database() as db:
            port = free_port()
            server = await start_server(
                rutradar_argv(port),
                {**env, "RUTRADAR_DATABASE_URL": db, "RUTRADAR_PLAYGROUND": "0"},
                port,
                ready_path="/readyz",
                log_dir=logs,
                name="rutradar-teams",
            )
            try:
                product, product_replies = await measure(server, "teams-rutradar")
            finally:
                server.stop()
        return TeamsResult(baseline, product, baseline_replies, product_replies)


def rows(result: TeamsResult) -> list[list[Any]]:
    out = []
    for label, r, replies in (
        ("bare botbuilder CloudAdapter echo", result.baseline, result.baseline_replies),
        ("rutradar /api/messages `help`", result.product, result.product_replies),
    ):
        out.append(
            [
                label,
                r.requests,
                round(r.rate, 1),
                round(r.p50_ms, 1),
                round(r.p99_ms, 1),
                r.non_2xx + r.socket_errors,
                replies,
                round(r.cpu_ms_per_request, 2),
            ]
        )
    return out


def report(result: TeamsResult) -> str:
    verdict = "MET" if result.met else "MISSED"
    head = (
        f"teams: signed `help` activities through /api/messages, 50 connections, "
        f"{SECONDS:.0f} s (target: ≥ {TARGET_RATIO}× bare botbuilder, p99 < "
        f"{TARGET_P99_MS:.0f} ms) → {verdict} (ratio {result.ratio:.2f}, p99 "
        f"{result.product.p99_ms:.0f} ms)"
    )
    body = table(
        ["server", "requests", "per s", "p50 ms", "p99 ms", "errors", "replies", "cpu ms/req"],
        rows(result),
    )
    wrapped = [r.label for r in (result.baseline, result.product) if r.wraps]
    if wrapped:
        body += f"\n  {', '.join(wrapped)}: outlasted its {REQUESTS} requests (a request repeated)"
    return head + "\n" + body


def as_dict(result: TeamsResult) -> dict[str, Any]:
    return {
        "baseline": asdict(result.baseline),
        "product": asdict(result.product),
        "ratio": result.ratio,
        "met": result.met,
    }
