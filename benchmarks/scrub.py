"""The scrub after a close on PostgreSQL: what `VACUUM FULL answers, deliveries` costs while
other teams' rounds are open (privacy rule 3; storage/maintenance.py).

VACUUM FULL holds an ACCESS EXCLUSIVE lock on each table for as long as it rewrites it: every
query on `deliveries` (a check-in, the dispatcher's claims) waits that long. So the number
that matters is the time each rewrite takes with 10,000 open deliveries beside the closed
round, and what a query on the table waits meanwhile.

Set-up, on a throwaway database: 20 other teams of 500 members with an open round each
(10,000 pending prompt deliveries), and one team of 10 whose members check in through the
engine and whose round is then closed with `close_round` (which runs the scrub). Measured in
the same run: the close as a whole; then, five times each on the tables as the close left
them, `VACUUM (FULL)` of each table and the plain `VACUUM` it replaces (the baseline); and
the wait of a query on `deliveries` issued while a `VACUUM (FULL) deliveries` runs.

Runs only when RUTRADAR_BENCH_DATABASE_URL or RUTRADAR_TEST_DATABASE_URL names a server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, text

from benchmarks import postgres_base_url, postgres_database, table
from bot.chat.engine import ChatEngine
from bot.core.actor import cli_actor
from bot.core.clock import SystemClock
from bot.core.context import Context
from bot.core.events import ConversationRef, FormSubmitted
from bot.rounds.lifecycle import close_round, open_round
from storage.db import create_engine, create_session_factory
from storage.models import Delivery, Membership, Person, Round, Team, Workspace, random_id

OPEN_DELIVERIES = 10_000
OTHER_TEAM_SIZE = 500
CLOSING_TEAM = 10
REPEATS = 5


@dataclass
class ScrubResult:
    open_deliveries: int
    deliveries_mb: float
    close_ms: float
    vacuum_full_deliveries_ms: float
    vacuum_full_answers_ms: float
    vacuum_deliveries_ms: float  # the baseline: what the close ran before
    blocked_query_ms: float
    ratio: float  # VACUUM FULL deliveries / plain VACUUM deliveries


async def _seed(ctx: Context, open_deliveries: int) -> Team:
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = Workspace(platform="playground", external_id="bench", name="Bench")
        session.add(workspace)
        await session.flush()
        teams = [
            Team(workspace_id=workspace.id, name=f"Team {i}")
            for i in range(open_deliveries // OTHER_TEAM_SIZE)
        ]
        closing = Team(workspace_id=workspace.id, name="Closing")
        session.add_all([*teams, closing])
        await session.flush()
        for team in teams:
            rnd = Round(
                team_id=team.id,
                period="2026-W48",
                opens_at=now,
                closes_at=now,
                threshold=5,
                comment_threshold=5,
                status="open",
            )
            session.add(rnd)
            await session.flush()
            people = [
                {"workspace_id": workspace.id, "user_id": f"t{team.id}-u{i}", "role": "member"}
                for i in range(OTHER_TEAM_SIZE)
            ]
            ids = (
                (await session.execute(insert(Person).returning(Person.id), people)).scalars().all()
            )
            await session.execute(
                insert(Membership),
                [{"person_id": p, "team_id": team.id, "role": "member"} for p in ids],
            )
            await session.execute(
                insert(Delivery),
                [
                    {
                        "id": random_id(),
                        "round_id": rnd.id,
                        "person_id": p,
                        "kind": "prompt",
                        "not_before": now,
                        "status": "pending",
                        "attempts": 0,
                        "lookups": 0,
                        "answered": False,
                    }
                    for p in ids
                ],
            )
        for i in range(CLOSING_TEAM):
            person = Person(
                workspace_id=workspace.id,
                user_id=f"c{i}",
                role="member",
                conversation_ref=ConversationRef("playground", "bench", f"c{i}").to_json(),
            )
            session.add(person)
            await session.flush()
            session.add(Membership(person_id=person.id, team_id=closing.id, role="member"))
    return closing


async def _timed(conn: Any, sql: str) -> float:
    started = time.perf_counter()
    await conn.exec_driver_sql(sql)
    return (time.perf_counter() - started) * 1000


async def measure(url: str, open_deliveries: int) -> ScrubResult:
    engine = create_engine(url)
    ctx = Context(database=engine, sessions=create_session_factory(engine), clock=SystemClock())
    try:
        closing = await _seed(ctx, open_deliveries)
        async with ctx.sessions() as session:
            workspace = await session.get(Workspace, closing.workspace_id)
        assert workspace is not None
        actor = cli_actor(workspace)
        await open_round(ctx, actor, closing)
        bot = ChatEngine(ctx)
        for i in range(CLOSING_TEAM):
            values = {
                k: str(1 + (i + j) % 5)
                for j, k in enumerate(("assess", "routine", "training", "strengths", "path"))
            }
            await bot.handle(
                FormSubmitted(
                    event_id=f"bench-{i}",
                    where=ConversationRef("playground", "bench", f"c{i}"),
                    user_id=f"c{i}",
                    form_id="checkin",
                    values={**values, "comment": "x" * 80, "share": "1"},
                )
            )
        started = time.perf_counter()
        outcome = await close_round(ctx, actor, closing)
        close_ms = (time.perf_counter() - started) * 1000
        assert not outcome.scrub_pending, "the scrub did not run: another session is open"

        full_d, full_a, plain_d = [], [], []
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for _ in range(REPEATS):
                plain_d.append(await _timed(auto, "VACUUM deliveries"))
                full_d.append(await _timed(auto, "VACUUM (FULL) deliveries"))
                full_a.append(await _timed(auto, "VACUUM (FULL) answers"))
            size = await auto.scalar(text("SELECT pg_total_relation_size('deliveries')"))
        blocked = await _blocked_query(engine)
        full, plain = statistics.median(full_d), statistics.median(plain_d)
        return ScrubResult(
            open_deliveries=open_deliveries,
            deliveries_mb=round(int(size or 0) / 1e6, 2),
            close_ms=close_ms,
            vacuum_full_deliveries_ms=full,
            vacuum_full_answers_ms=statistics.median(full_a),
            vacuum_deliveries_ms=plain,
            blocked_query_ms=blocked,
            ratio=full / plain if plain else float("nan"),
        )
    finally:
        await engine.dispose()


async def _blocked_query(engine: Any) -> float:
    """How long a dispatcher-like query on `deliveries` waits behind a running rewrite."""
    async with engine.connect() as vac, engine.connect() as other:
        auto = await vac.execution_options(isolation_level="AUTOCOMMIT")
        rewrite = asyncio.ensure_future(auto.exec_driver_sql("VACUUM (FULL) deliveries"))
        while not await other.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted"
                " AND relation = 'deliveries'::regclass"
            )
        ):
            if rewrite.done():
                break
            await other.rollback()
        await other.rollback()
        started = time.perf_counter()
        await other.execute(text("SELECT count(*) FROM deliveries WHERE status = 'pending'"))
        waited = (time.perf_counter() - started) * 1000
        await other.rollback()
        await rewrite
        return waited


async def run(open_deliveries: int = OPEN_DELIVERIES) -> list[ScrubResult]:
    base = postgres_base_url()
    if not base:
        return []
    async with postgres_database(base) as url:
        return [await measure(url, open_deliveries)]


def report(results: list[ScrubResult]) -> str:
    lines = ["Scrub after close (PostgreSQL VACUUM FULL; medians of 5, milliseconds)"]
    if not results:
        lines.append(
            "  skipped: set RUTRADAR_BENCH_DATABASE_URL or RUTRADAR_TEST_DATABASE_URL to a server"
        )
        return "\n".join(lines)
    rows = [
        [
            r.open_deliveries,
            r.deliveries_mb,
            r.close_ms,
            r.vacuum_full_deliveries_ms,
            r.vacuum_full_answers_ms,
            r.vacuum_deliveries_ms,
            r.blocked_query_ms,
            r.ratio,
        ]
        for r in results
    ]
    lines.append(
        table(
            [
                "open deliveries",
                "deliveries MB",
                "close",
                "FULL deliveries",
                "FULL answers",
                "VACUUM deliveries",
                "query waited",
                "FULL/VACUUM",
            ],
            rows,
        )
    )
    return "\n".join(lines)


def as_dicts(results: list[ScrubResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
