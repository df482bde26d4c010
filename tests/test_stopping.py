"""Stopping a real `rutradar serve`: SIGTERM (Kubernetes) and SIGINT (Ctrl+C, `make run`) drain
and exit 0 with nothing alarming on stderr; the send in flight finishes while /readyz says
"draining"; a second signal stops without waiting; a port in use is one plain sentence. And
what a server does once started: start-up's objects frozen, the collector's thresholds set."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.delivery.scheduler import RoundScheduler, Ticker
from bot.server.runner import GC_THRESHOLDS, settle_collector
from tests.conftest import World
from tests.fakes.processes import (
    RUTRADAR,
    STOP_SECONDS,
    HoldingSlackAPI,
    Server,
    race,
    serve_env,
    serving,
)
from tests.fakes.slack_api import FakeSlackAPI
from tests.test_delivery_processes import (
    MANAGER,
    accepted,
    members,
    prompt_rows,
    seed,
    settings,
)


async def test_the_ticker_stops_once_however_often_it_is_told(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The drain and aiohttp's clean-up both stop the tick, back to back. APScheduler defers
    its shutdown to the loop, so a second shutdown call before the first had run used to end
    in `SchedulerNotRunningError` (logged by asyncio) on every stop."""
    ticker = Ticker(RoundScheduler(world.ctx), seconds=3600)
    worker = asyncio.get_running_loop().create_task(ticker.run())
    ticker.start()
    aps = ticker._aps
    assert aps is not None and aps.running
    await asyncio.wait_for(ticker.wait_for_passes(1), timeout=30)
    caplog.set_level(logging.DEBUG)
    ticker.stop()
    ticker.stop()  # without a turn of the loop in between
    await asyncio.wait_for(worker, timeout=10)
    assert not aps.running  # the worker ends only once APScheduler has shut down
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def stop(server: Server, sig: signal.Signals | None) -> int:
    """Send `sig` (if any) and wait for the exit (the timeout only fails a hung server)."""
    if sig is not None:
        server.proc.send_signal(sig)
    try:
        async with asyncio.timeout(STOP_SECONDS):
            return await server.proc.wait()
    except TimeoutError:
        await server.kill()
        server.fail(f"did not exit within {STOP_SECONDS}s of {sig or 'its signal'}")
        raise


def stderr_of(server: Server) -> str:
    return (server.folder / "stderr.log").read_text(errors="replace")


def assert_calm(err: str) -> None:
    """What an operator should see on a clean stop: no traceback, no error, no tick chatter."""
    assert "Traceback" not in err, err
    assert "Error" not in err and " ERROR " not in err, err
    assert "apscheduler" not in err, err  # its INFO lines ("Scheduler started", …) are clamped
    assert err.rstrip().endswith("bot.server.runner: stopped"), err  # the drain ran to its end


async def get(url: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as res:
        return res.status, await res.json()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_playground_server_stops_cleanly(
    sig: signal.Signals, tmp_path: Path, sqlite_url: str
) -> None:
    # No platform configured: the playground is on by default.
    async with serving("playground", {"RUTRADAR_DATABASE_URL": sqlite_url}, tmp_path) as server:
        await server.wait_ready()
        assert "(playground)" in (tmp_path / "stdout.log").read_text()
        async with aiohttp.ClientSession() as http:
            # What the page polls every 1.5 s, then anything else.
            async with http.get(f"{server.base}playground/api/inbox?workspace=w&user=u") as res:
                assert res.status == 200
            async with http.get(f"{server.base}healthz") as res:
                assert res.status == 200
        assert await stop(server, sig) == 0, server.log()
    err = stderr_of(server)
    assert_calm(err)
    assert f"{sig.name}: stopping" in err
    assert '"GET /healthz" 200' in err  # the access log works...
    assert "/playground/api/inbox" not in err  # ...and leaves the poll out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_slack_server_stops_cleanly(
    sig: signal.Signals, tmp_path: Path, sqlite_url: str
) -> None:
    async with FakeSlackAPI() as fake:
        env = settings(sqlite_url, fake, rate=5, lease=30)
        async with serving("slack", env, tmp_path) as server:
            await server.wait_ready()
            assert await stop(server, sig) == 0, server.log()
    assert_calm(stderr_of(server))


async def until_draining(server: Server) -> None:
    """Ask /readyz until it says "draining": the signal reaches the server's loop on its own
    time. Bounded; each answer is immediate, so this is a handful of requests."""
    async with asyncio.timeout(10):
        while (await get(f"{server.base}readyz")) != (503, {"status": "draining"}):
            pass


@pytest.mark.wall_clock  # a real process, seeded in real time
async def test_sigterm_finishes_the_send_in_flight_while_readyz_says_draining(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = members(3)
    await seed(monkeypatch, sqlite_url, team)
    async with HoldingSlackAPI() as fake:
        for user in (*team, MANAGER):
            fake.add_user(user)
        fake.hold_reply("chat.postMessage", nth=1)  # Slack has it; the reply waits for us
        env = settings(sqlite_url, fake, rate=1000, lease=60)
        async with serving("draining", env, tmp_path) as server:
            await race(fake.wait_for("chat.postMessage", count=1, timeout=30), server)
            server.proc.send_signal(signal.SIGTERM)
            # The send is still in flight, so the server is still up, and says it is going.
            await race(until_draining(server), server)
            assert server.running
            fake.release()
            assert await stop(server, None) == 0, server.log()

        held = fake.held
        assert held is not None
        first = str(held.params["channel"])
        assert accepted(fake) == {first: 1}  # the one in flight, and no new work after it
    rows = await prompt_rows(sqlite_url)
    assert rows[first][0] == "sent"  # it finished and was recorded before the exit
    assert {user: status for user, (status, _) in rows.items() if user != first} == {
        user: "pending" for user in team if user != first
    }  # claimed but unsent: handed back for the next process
    assert_calm(stderr_of(server))


@pytest.mark.wall_clock  # a real process, seeded in real time
async def test_a_second_signal_stops_without_waiting_for_the_send(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = members(2)
    await seed(monkeypatch, sqlite_url, team)
    async with HoldingSlackAPI() as fake:
        for user in (*team, MANAGER):
            fake.add_user(user)
        fake.hold_reply("chat.postMessage", nth=1)
        env = settings(sqlite_url, fake, rate=1000, lease=60)
        async with serving("impatient", env, tmp_path) as server:
            await race(fake.wait_for("chat.postMessage", count=1, timeout=30), server)
            server.proc.send_signal(signal.SIGTERM)
            await race(until_draining(server), server)
            # Ctrl+C again: the reply is never released, and the server stops anyway.
            assert await stop(server, signal.SIGINT) == 0, server.log()
        held = fake.held
        assert held is not None
    rows = await prompt_rows(sqlite_url)
    # Cut off mid-send: left `sending` under its lease, for a later process to retake (and,
    # on Slack, find in the DM's history rather than send twice).
    assert rows[str(held.params["channel"])][0] == "sending"
    err = stderr_of(server)
    assert "SIGINT again: stopping now" in err
    assert_calm(err)


async def test_a_port_in_use_is_one_plain_sentence(tmp_path: Path, sqlite_url: str) -> None:
    if not RUTRADAR.exists():
        pytest.skip(f"{RUTRADAR} is missing: install the project into this venv first")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_env({"RUTRADAR_DATABASE_URL": sqlite_url, "RUTRADAR_PORT": str(port)})
        proc = await asyncio.create_subprocess_exec(
            str(RUTRADAR),
            "serve",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(STOP_SECONDS * 2):
            out, err = await proc.communicate()
    text = err.decode(errors="replace")
    assert proc.returncode == 1, text
    assert f"rutradar: cannot listen on 127.0.0.1:{port}" in text, text
    assert "Traceback" not in text and b"listening" not in out, text


def test_a_started_server_freezes_start_up_and_collects_the_young_less_often() -> None:
    """What `serve` calls once the socket is bound (bot/server/runner.py says why)."""
    thresholds = gc.get_threshold()
    garbage_in_waiting = [[n] for n in range(1000)]  # tracked containers, not frozen yet
    frozen = gc.get_freeze_count()
    try:
        gc.set_threshold(700, 10, 10)  # Python's own
        settle_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700
        assert gc.get_freeze_count() >= frozen + len(garbage_in_waiting)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
