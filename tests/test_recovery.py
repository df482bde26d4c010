"""A send in doubt whose recovery lookup keeps failing is decided, not held forever.

The fake Slack is made to fail `conversations.history` (the lookup) every time. The row must
resolve within the configured number of lookups, each pass driven by the ManualClock: sent
again while it is fresh (a possible duplicate, the documented trade), marked failed once it is
past the resend window. Either way one log line says which, and /metrics counts it, with no
person or delivery in either.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.core.clock import ManualClock
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from bot.server.runtime import Runtime
from storage.models import Delivery, Person
from tests.conftest import World, build_world
from tests.fakes.slack_api import FakeSlackAPI
from tests.test_slack import settings_for

# Longer than any wait between two lookups (jittered backoff: at most 1.25 × 5 × 2 s).
PASS = timedelta(seconds=30)


@dataclass
class Env:
    fake: FakeSlackAPI
    client: TestClient[web.Request, web.Application]
    runtime: Runtime
    clock: ManualClock
    world: World


@pytest.fixture
async def env(sqlite_url: str, clock: ManualClock) -> AsyncIterator[Env]:
    async with FakeSlackAPI() as fake:
        settings = settings_for(sqlite_url, fake, SLACK_BOT_TOKEN="xoxb-test")
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            world = await build_world(runtime.ctx, platform="slack")
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id)
            yield Env(fake, client, runtime, clock, world)


async def in_doubt(env: Env, user_id: str, *, due_ago: timedelta) -> str:
    """Open the round and leave `user_id`'s prompt as a killed process would: `sending`, its
    lease run out, due `due_ago` ago. Returns the delivery id."""
    await open_round(env.runtime.ctx, env.world.cli, env.world.team)
    now = env.clock.now()
    async with env.runtime.ctx.sessions.begin() as session:
        delivery_id = await session.scalar(
            select(Delivery.id)
            .join(Person, Person.id == Delivery.person_id)
            .where(Person.user_id == user_id)
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status="sending",
                attempts=1,
                not_before=now - due_ago,
                lease_until=now - timedelta(seconds=1),
            )
        )
    assert delivery_id is not None
    return str(delivery_id)


async def status_of(env: Env, delivery_id: str) -> tuple[str, int]:
    async with env.runtime.ctx.sessions() as session:
        row = (
            await session.execute(
                select(Delivery.status, Delivery.lookups).where(Delivery.id == delivery_id)
            )
        ).one()
    return str(row[0]), int(row[1])


@pytest.mark.parametrize(
    ("due_ago", "decision", "final", "posts_to_u0"),
    [
        (timedelta(minutes=3), "resend", "sent", 1),  # fresh: sent again
        (timedelta(hours=25), "fail", "failed", 0),  # past the 24 h resend window
    ],
)
async def test_a_lookup_that_keeps_failing_is_decided_within_the_bound(
    env: Env,
    caplog: pytest.LogCaptureFixture,
    due_ago: timedelta,
    decision: str,
    final: str,
    posts_to_u0: int,
) -> None:
    delivery_id = await in_doubt(env, "u0", due_ago=due_ago)
    env.fake.fail_next("conversations.history", status=500, times=100)  # it never answers
    bound = env.runtime.settings.recovery_lookups
    assert bound == 3  # the documented default

    caplog.set_level(logging.INFO, logger="bot.delivery.dispatcher")
    passes = 0
    while (await status_of(env, delivery_id))[0] == "sending":
        passes += 1
        assert passes <= bound, "the row was still in doubt after the bounded lookups"
        await env.runtime.dispatcher.run_once()
        env.clock.advance(PASS)

    assert passes == bound
    assert len(env.fake.calls_to("conversations.history")) == bound
    assert (await status_of(env, delivery_id))[0] == final
    posts = [c.params["channel"] for c in env.fake.calls_to("chat.postMessage")]
    assert posts.count("u0") == posts_to_u0
    assert sorted(set(posts) - {"u0"}) == [f"u{i}" for i in range(1, 6)]  # never held up

    decided = [r for r in caplog.records if "recovery lookup failed" in r.getMessage()]
    assert len(decided) == 1 and decided[0].levelno == logging.WARNING
    line = decided[0].getMessage()
    assert ("sending it again" in line) == (decision == "resend")
    assert ("marked failed" in line) == (decision == "fail")
    for identifying in (delivery_id, "u0", "U0", "D0"):
        assert identifying not in line

    metrics = await (await env.client.get("/metrics")).text()
    assert f'rutradar_recovery_decisions_total{{decision="{decision}",platform="slack"}} 1.0' in (
        metrics
    )
    assert delivery_id not in metrics and '"u0"' not in metrics


async def test_a_lookup_that_answers_in_time_needs_no_decision(env: Env) -> None:
    """Two failures, then the lookup works and finds nothing: sent once, nothing decided."""
    delivery_id = await in_doubt(env, "u0", due_ago=timedelta(minutes=3))
    env.fake.fail_next("conversations.history", status=500, times=2)
    for _ in range(3):
        await env.runtime.dispatcher.run_once()
        env.clock.advance(PASS)
    assert await status_of(env, delivery_id) == ("sent", 0)
    posts = [c.params["channel"] for c in env.fake.calls_to("chat.postMessage")]
    assert posts.count("u0") == 1
    metrics = await (await env.client.get("/metrics")).text()
    assert 'rutradar_recovery_decisions_total{decision="resend"' not in metrics
