"""Releasing a round on PostgreSQL: `close_round` of a team whose round holds 1,000, 10,000 and
100,000 answers, with how the time grows.

The close is everything the product does when a round ends (bot/rounds/lifecycle.py): fold
the answers into the release (or withhold it), queue a "closed" notice for every prompt that
was sent, delete the answers and the per-person deliveries, queue the managers' summaries,
audit, commit, and the scrub after it (`VACUUM FULL answers, deliveries`, privacy rule 3),
which must finish (`scrub_pending` false) for the run to count.

Set-up, on a throwaway database (as benchmarks/throughput.py and scrub.py make one), one team
per size, seeded with set-based SQL: N members with a sent prompt each (a message reference,
answered) and N answers with random scores, one in ten with a shared line; two managers.
Sizes run smallest first, each close leaving its tables empty of its round's rows.

Target (issue 12): < 2 s at 100,000 answers. PostgreSQL only; skipped without a server.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text

from benchmarks import postgres_base_url, postgres_database, table
from bot.core.actor import cli_actor
from bot.core.clock import SystemClock
from bot.core.context import Context
from bot.rounds.lifecycle import close_round
from storage.db import create_engine, create_session_factory
from storage.models import Release, Team, Workspace

SIZES = (1_000, 10_000, 100_000)
TARGET_S = 2.0


@dataclass
class ReleaseRow:
    answers: int
    seed_s: float
    close_s: float
    status: str
    respondents: int
    scrubbed: bool

    @property
    def per_1000_ms(self) -> float:
        return 1000 * self.close_s / (self.answers / 1000)


@dataclass
class ReleaseResult:
    rows: list[ReleaseRow]

    @property
    def met(self) -> bool:
        big = [r for r in self.rows if r.answers == max(SIZES)]
        return all(r.close_s < TARGET_S and r.scrubbed for r in big) and all(
            r.status == "released" and r.respondents == r.answers for r in self.rows
        )


async def _seed(ctx: Context, workspace_id: int, n: int) -> int:
    """A team of `n` members with an open round: `n` sent, answered prompts and `n` answers."""
    async with ctx.database.begin() as conn:
        team = (
            await conn.execute(
                text("INSERT INTO teams (workspace_id, name) VALUES (:ws, :name) RETURNING id"),
                {"ws": workspace_id, "name": f"Team of {n}"},
            )
        ).scalar_one()
        rnd = (
            await conn.execute(
                text(
                    "INSERT INTO rounds (team_id, period, opens_at, closes_at, threshold,"
                    " comment_threshold, status, scrub_pending)"
                    " VALUES (:team, '2026-W48', now() - interval '1 day', now() + interval"
                    " '1 day', 5, 5, 'open', false) RETURNING id"
                ),
                {"team": team},
            )
        ).scalar_one()
        await conn.execute(
            text(
                "WITH p AS (INSERT INTO people (workspace_id, user_id, display_name, role, stub)"
                " SELECT :ws, 't' || CAST(:team AS int) || '-u' || g, '', 'member', false"
                " FROM generate_series(1, :n) g RETURNING id, user_id),"
                " m AS (INSERT INTO memberships (person_id, team_id, role)"
                " SELECT id, :team, 'member' FROM p)"
                " INSERT INTO deliveries (id, round_id, person_id, kind, not_before, status,"
                " attempts, lookups, answered, message_ref)"
                " SELECT md5(random()::text || p.id), :round, p.id, 'prompt', now(), 'sent',"
                " 1, 0, true, json_build_object('platform', 'slack', 'channel_id',"
                " 'T0001:D' || p.user_id, 'message_id', '1700000000.' || p.id) FROM p"
            ),
            {"ws": workspace_id, "team": team, "round": rnd, "n": n},
        )
        await conn.execute(
            text(
                "WITH p AS (INSERT INTO people (workspace_id, user_id, display_name, role, stub)"
                " SELECT :ws, 't' || CAST(:team AS int) || '-m' || g, '', 'member', false"
                " FROM generate_series(1, 2) g RETURNING id)"
                " INSERT INTO memberships (person_id, team_id, role)"
                " SELECT id, :team, 'manager' FROM p"
            ),
            {"ws": workspace_id, "team": team},
        )
        await conn.execute(
            text(
                "INSERT INTO answers (id, round_id, assess, routine, training, strengths, path,"
                " comment)"
                " SELECT md5(random()::text || g), :round, 1 + floor(random() * 5),"
                " 1 + floor(random() * 5), 1 + floor(random() * 5), 1 + floor(random() * 5),"
                " 1 + floor(random() * 5),"
                " CASE WHEN g % 10 = 0 THEN 'a shared line, number ' || g END"
                " FROM generate_series(1, :n) g"
            ),
            {"round": rnd, "n": n},
        )
    return int(team)


async def measure(url: str, sizes: tuple[int, ...]) -> list[ReleaseRow]:
    engine = create_engine(url)
    ctx = Context(database=engine, sessions=create_session_factory(engine), clock=SystemClock())
    rows = []
    try:
        async with ctx.sessions.begin() as session:
            workspace = Workspace(platform="slack", external_id="T0001", name="Bench")
            session.add(workspace)
        actor = cli_actor(workspace)
        for n in sizes:
            started = time.perf_counter()
            team_id = await _seed(ctx, workspace.id, n)
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("ANALYZE")
            seeded = time.perf_counter() - started
            async with ctx.sessions() as session:
                team = await session.get(Team, team_id)
            assert team is not None
            started = time.perf_counter()
            outcome = await close_round(ctx, actor, team)
            close_s = time.perf_counter() - started
            release = outcome.release
            assert isinstance(release, Release)
            rows.append(
                ReleaseRow(
                    answers=n,
                    seed_s=seeded,
                    close_s=close_s,
                    status=release.status,
                    respondents=release.respondents,
                    scrubbed=not outcome.scrub_pending,
                )
            )
    finally:
        await engine.dispose()
    return rows


async def run(sizes: tuple[int, ...] = SIZES) -> ReleaseResult | None:
    base = postgres_base_url()
    if not base:
        return None
    async with postgres_database(base) as url:
        return ReleaseResult(await measure(url, sizes))


def report(result: ReleaseResult | None) -> str:
    head = "release: close_round on PostgreSQL (fold, notices, delete, scrub)"
    if result is None:
        return (
            f"{head}\n  skipped: set RUTRADAR_BENCH_DATABASE_URL or RUTRADAR_TEST_DATABASE_URL"
            " to a server"
        )
    verdict = "MET" if result.met else "MISSED"
    rows = []
    previous: ReleaseRow | None = None
    for r in result.rows:
        growth = f"{r.close_s / previous.close_s:.1f}×" if previous else "-"
        rows.append(
            [
                r.answers,
                round(r.close_s, 3),
                round(r.per_1000_ms, 1),
                growth,
                r.status,
                r.respondents,
                "yes" if r.scrubbed else "NO",
                round(r.seed_s, 2),
            ]
        )
        previous = r
    body = table(
        [
            "answers",
            "close s",
            "ms per 1,000",
            "growth",
            "release",
            "respondents",
            "scrubbed",
            "seed s",
        ],
        rows,
    )
    return f"{head} (target: < {TARGET_S:.0f} s at {max(SIZES):,}) → {verdict}\n{body}"


def as_dict(result: ReleaseResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"rows": [asdict(r) for r in result.rows], "met": result.met}
