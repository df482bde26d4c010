"""Dispatcher throughput with no rate limit and a no-op adapter, in deliveries per second.

What is left is the dispatcher's own cost: claiming in batches, loading each delivery with
its person, round, team and workspace, reserving the workspace's send slot, rendering, and
recording the result. It runs on SQLite always and on PostgreSQL when
RUTRADAR_BENCH_DATABASE_URL or RUTRADAR_TEST_DATABASE_URL names a server (a throwaway
database is created, migrated and dropped).

Baseline, same run, same engine and session factory: one raw `INSERT` transaction and one raw
`UPDATE` transaction per delivery on a scratch table, the least a durable outbox must do per
message. Half of it runs before the dispatcher and half after, so drift in the machine's load
hits both. The ratio is dispatcher seconds / baseline seconds for the same count.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from sqlalchemy import func, select, text

from benchmarks import postgres_base_url, postgres_database, sqlite_database, table
from bot.core.clock import SystemClock
from bot.core.context import Context
from bot.delivery.dispatcher import BATCH, Dispatcher
from bot.rounds.lifecycle import open_round
from storage.db import create_engine, create_session_factory
from storage.models import Delivery
from tests.conftest import build_world
from tests.fakes.adapter import FakeAdapter

# Per database; 5,000 until 2026-12-02 (a minute more of make bench on PostgreSQL).
DELIVERIES = 2000
SCRATCH = "bench_round_trips"


class NoopAdapter(FakeAdapter):
    """Accepts every message at once: the platform costs nothing (a list append)."""

    platform: ClassVar[str] = "slack"


@dataclass
class ThroughputResult:
    backend: str
    deliveries: int
    dispatcher_s: float
    dispatcher_per_s: float
    baseline_s: float  # `deliveries` × (INSERT transaction + UPDATE transaction)
    baseline_per_s: float
    ratio: float  # dispatcher_s / baseline_s: the dispatcher's cost in raw round-trip pairs
    sent: int  # deliveries the database shows as sent
    adapter_calls: int


async def _round_trips(ctx: Context, first: int, count: int) -> float:
    """`count` raw INSERT + UPDATE pairs, each in its own transaction; returns seconds."""
    start = time.perf_counter()
    for key in range(first, first + count):
        async with ctx.sessions.begin() as session:
            await session.execute(
                text(f"INSERT INTO {SCRATCH} (id, status) VALUES (:id, 'pending')"), {"id": key}
            )
        async with ctx.sessions.begin() as session:
            await session.execute(
                text(f"UPDATE {SCRATCH} SET status = 'sent' WHERE id = :id"), {"id": key}
            )
    return time.perf_counter() - start


async def measure(url: str, backend: str, deliveries: int = DELIVERIES) -> ThroughputResult:
    engine = create_engine(url)
    ctx = Context(database=engine, sessions=create_session_factory(engine), clock=SystemClock())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"CREATE TABLE {SCRATCH} (id INTEGER PRIMARY KEY, status VARCHAR(16) NOT NULL)"
                )
            )
        world = await build_world(ctx, members=deliveries, platform="slack")
        await open_round(ctx, world.cli, world.team)
        adapter = NoopAdapter()
        dispatcher = Dispatcher(ctx, {"slack": adapter}, rates=lambda _platform: 0.0)

        half = deliveries // 2
        baseline = await _round_trips(ctx, 0, half)
        start = time.perf_counter()
        await dispatcher.run_once()
        elapsed = time.perf_counter() - start
        baseline += await _round_trips(ctx, half, deliveries - half)

        async with ctx.sessions() as session:
            sent = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {SCRATCH}"))
    finally:
        await engine.dispose()
    return ThroughputResult(
        backend=backend,
        deliveries=deliveries,
        dispatcher_s=elapsed,
        dispatcher_per_s=deliveries / elapsed,
        baseline_s=baseline,
        baseline_per_s=deliveries / baseline,
        ratio=elapsed / baseline,
        sent=int(sent or 0),
        adapter_calls=len(adapter.sent),
    )


async def run(deliveries: int = DELIVERIES) -> list[ThroughputResult]:
    results = []
    async with sqlite_database() as url:
        results.append(await measure(url, "sqlite", deliveries))
    base = postgres_base_url()
    if base:
        async with postgres_database(base) as url:
            results.append(await measure(url, "postgresql", deliveries))
    return results


def report(results: list[ThroughputResult]) -> str:
    rows = [
        (
            r.backend,
            r.deliveries,
            r.dispatcher_per_s,
            1000 * r.dispatcher_s / r.deliveries,
            r.baseline_per_s,
            1000 * r.baseline_s / r.deliveries,
            r.ratio,
            r.sent,
        )
        for r in results
    ]
    lines = [
        f"throughput: dispatcher at rate 0 with a no-op adapter (claim batch {BATCH}); "
        "baseline = raw INSERT + UPDATE transactions, same engine, same run",
        table(
            (
                "backend",
                "deliveries",
                "dispatcher/s",
                "ms each",
                "baseline pairs/s",
                "ms each",
                "ratio",
                "sent",
            ),
            rows,
        ),
    ]
    if not any(r.backend == "postgresql" for r in results):
        lines.append(
            "  PostgreSQL skipped: set RUTRADAR_BENCH_DATABASE_URL or RUTRADAR_TEST_DATABASE_URL"
        )
    return "\n".join(lines)


def as_dicts(results: list[ThroughputResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
