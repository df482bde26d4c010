"""The outbox across real processes: `rutradar serve` against the fake Slack.

- SIGKILL in the middle of a rate-limited fan-out, at the worst instant (Slack accepted a
  prompt, the process died before it heard back and committed), then a restart: only the rows
  that were on the wire (at most the dispatch concurrency) are `sending` and looked up; the
  rest of the claimed batch is simply taken again. The in-flight prompt is found again through
  its metadata instead of being sent twice, and every member gets exactly one prompt.
- Two replicas on one PostgreSQL: each prompt is sent once between them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.server.cli import main
from storage.db import create_engine
from storage.models import Delivery, Person
from storage.schema import metadata
from tests.conftest import PG_SKIP
from tests.fakes.processes import HoldingSlackAPI, race, serving
from tests.fakes.slack_api import Call, FakeSlackAPI, dm_channel

MANAGER = "UMGR01"

# Real `rutradar serve` processes live in real time, and so does the setup that feeds them.
pytestmark = pytest.mark.wall_clock


def members(count: int) -> list[str]:
    return [f"U{i:04d}" for i in range(1, count + 1)]


async def seed(monkeypatch: pytest.MonkeyPatch, url: str, people: Sequence[str]) -> None:
    """Through the command line, as an admin would: a Slack workspace, a team, an open round."""
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", url)
    for args in (
        ["workspace", "add", "--platform", "slack", "--external-id", "T0001"],
        ["team", "add", "Platform"],
        ["team", "members", "add", "Platform", *people],
        ["team", "managers", "add", "Platform", MANAGER],
        ["round", "open", "Platform"],
    ):
        assert await asyncio.to_thread(main, args) == 0, args


def settings(
    url: str, fake: FakeSlackAPI, *, rate: int, lease: int, token: str = "xoxb-test"
) -> dict[str, str]:
    """A server's environment. Each process gets its own bot token, only so the fake can tell
    which process made a call (the fake answers every token for workspace T0001)."""
    return {
        "RUTRADAR_DATABASE_URL": url,
        "RUTRADAR_PLAYGROUND": "0",
        "SLACK_SIGNING_SECRET": "x",
        "SLACK_BOT_TOKEN": token,
        "SLACK_API_URL": fake.base_url,
        "RUTRADAR_SLACK_SEND_RATE": str(rate),
        "RUTRADAR_LEASE_SECONDS": str(lease),
        "RUTRADAR_DISPATCH_INTERVAL": "0.5",
        "RUTRADAR_TICK_SECONDS": "3600",
    }


def accepted_posts(fake: FakeSlackAPI) -> list[Call]:
    return [
        c for c in fake.calls_to("chat.postMessage") if c.status == 200 and c.response.get("ok")
    ]


def accepted(fake: FakeSlackAPI) -> Counter[str]:
    """Accepted chat.postMessage calls per recipient (the user id the bot posted to)."""
    return Counter(str(c.params["channel"]) for c in accepted_posts(fake))


def by_process(fake: FakeSlackAPI) -> Counter[str]:
    """Accepted posts per bot token, that is per process."""
    return Counter(str(c.token) for c in accepted_posts(fake))


async def prompt_rows(url: str) -> dict[str, tuple[str, dict[str, str] | None]]:
    """user id -> (status, message_ref) of each prompt delivery."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Person.user_id, Delivery.status, Delivery.message_ref)
                .join(Person, Person.id == Delivery.person_id)
                .where(Delivery.kind == "prompt")
            )
            return {user: (status, ref) for user, status, ref in rows}
    finally:
        await engine.dispose()


async def truncate(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "alembic_version")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_sigkill_mid_fan_out_then_restart_sends_each_prompt_exactly_once(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    url = sqlite_url  # a fresh copy of the session's migrated template
    team = members(12)
    await seed(monkeypatch, url, team)

    async with HoldingSlackAPI() as fake:
        for user in (*team, MANAGER):
            fake.add_user(user)
        # The 5th prompt is accepted by Slack, but the reply never reaches the process.
        fake.hold_reply("chat.postMessage", nth=5)

        first_env = settings(url, fake, rate=4, lease=2, token="xoxb-first")
        first_env["RUTRADAR_DISPATCH_CONCURRENCY"] = str(concurrency)
        async with serving("first", first_env, tmp_path / "first") as first:
            await race(fake.wait_for("chat.postMessage", count=5, timeout=30), first)
            await first.kill()
        fake.release()
        held = fake.held
        assert held is not None and held.status == 200 and held.response["ok"]
        in_flight = str(held.params["channel"])
        first_posts = sum(accepted(fake).values())

        # The worst instant, as the database saw it. One claim took the whole team, but only
        # the rows given a send slot (at most the dispatch concurrency, the accepted one among
        # them) are `sending`, in doubt; the rest are merely `claimed`, safe to take again.
        before = await prompt_rows(url)
        assert sorted(before) == team
        status = Counter(state for state, _ in before.values())
        assert before[in_flight][0] == "sending"
        assert 1 <= status["sending"] <= concurrency, before
        assert set(status) <= {"sent", "sending", "claimed", "pending"}, before
        assert status["sent"] + status["sending"] + status["claimed"] + status["pending"] == 12
        assert status["claimed"] + status["pending"] >= 12 - first_posts - (concurrency - 1)
        assert status["claimed"] > 0  # claimed in one batch, not all of it put in doubt
        if concurrency == 1:  # one at a time: exactly four committed, the fifth in doubt
            assert status == {"sent": 4, "sending": 1, "claimed": 7}, before
            assert first_posts == 5
        in_doubt = {user for user, (state, _) in before.items() if state == "sending"}

        def recovered_and_everyone_reached() -> bool:
            looked = any(
                c.params.get("channel") == dm_channel(in_flight)
                for c in fake.calls_to("conversations.history")
            )
            return looked and set(accepted(fake)) >= set(team)

        second_env = settings(url, fake, rate=4, lease=2, token="xoxb-restarted")
        second_env["RUTRADAR_DISPATCH_CONCURRENCY"] = str(concurrency)
        async with serving("restarted", second_env, tmp_path / "restarted") as restarted:
            await restarted.wait_ready()
            await race(
                fake.wait_until(
                    recovered_and_everyone_reached,
                    "recovery of the in-flight prompt and a prompt to every member",
                ),
                restarted,
            )
            # SIGTERM: the send in flight (if any) finishes and commits before the exit.
            assert await restarted.terminate() == 0, restarted.log()

    posts = accepted(fake)
    assert posts == dict.fromkeys(team, 1), posts
    assert MANAGER not in posts
    # Only the rows in doubt were looked up; the claimed ones were simply taken again.
    looked_up = {str(c.params["channel"]) for c in fake.calls_to("conversations.history")}
    assert looked_up == {dm_channel(user) for user in in_doubt}
    # Whatever the first process got accepted (the in-flight one too) is never sent again:
    # the restarted one found the in-flight prompt in the DM's history instead.
    assert by_process(fake) == {"xoxb-first": first_posts, "xoxb-restarted": 12 - first_posts}
    after = await prompt_rows(url)
    assert {user: status for user, (status, _) in after.items()} == dict.fromkeys(team, "sent")
    ref = after[in_flight][1]
    assert ref is not None and ref["message_id"] == held.response["ts"], ref


async def test_two_replicas_on_postgresql_send_each_prompt_once(
    pg_database: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pg_database is None:
        pytest.skip(PG_SKIP)
    url = pg_database
    team = members(40)
    await truncate(url)
    try:
        await seed(monkeypatch, url, team)
        async with FakeSlackAPI() as fake:
            for user in (*team, MANAGER):
                fake.add_user(user)
            env = {
                name: settings(url, fake, rate=40, lease=30, token=f"xoxb-{name}") for name in "ab"
            }
            # Both start at once, so their first dispatch passes race for the same due rows.
            async with (
                serving("a", env["a"], tmp_path / "a") as a,
                serving("b", env["b"], tmp_path / "b") as b,
            ):
                await race(asyncio.gather(a.wait_ready(), b.wait_ready()), a, b)
                await race(fake.wait_for("chat.postMessage", count=len(team), timeout=30), a, b)
                codes = await asyncio.gather(a.terminate(), b.terminate())
                assert codes == [0, 0], f"{a.log()}\n{b.log()}"

        posts = accepted(fake)
        assert posts == dict.fromkeys(team, 1), posts
        assert MANAGER not in posts
        senders = by_process(fake)
        assert set(senders) <= {"xoxb-a", "xoxb-b"} and sum(senders.values()) == len(team)
        # Not asserted: that both replicas sent some. One claim takes up to 50 due rows, so
        # whichever replica claims first usually takes the whole team of 40.
        after = await prompt_rows(url)
        assert {user: status for user, (status, _) in after.items()} == dict.fromkeys(team, "sent")
    finally:
        await truncate(url)
