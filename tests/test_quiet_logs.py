"""Quiet, useful logs, through the real loggers: one INFO line per scheduler or dispatcher pass
that did something and none for an idle one, APScheduler's per-tick chatter held at WARNING,
and an access log that leaves out the playground's poll and never names a response's size."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.admin.operations import schedule_set
from bot.core.clock import ManualClock
from bot.core.ports import DeliveryError
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import RoundScheduler, Ticker
from bot.rounds.lifecycle import open_round
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from bot.server.demo import seed_demo
from bot.server.logs import AccessLog, LineFormatter, configure_logging
from storage.values import CadenceKind
from tests.conftest import World
from tests.fakes.adapter import FakeAdapter

APSCHEDULER = ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default")


@pytest.fixture
def logging_as_served() -> Iterator[None]:
    """`configure_logging` as `rutradar serve` runs it, undone afterwards for other tests."""
    root = logging.getLogger()
    before = (
        root.level,
        list(root.handlers),
        {n: logging.getLogger(n).level for n in logging.root.manager.loggerDict},
    )
    configure_logging("INFO")
    try:
        yield
    finally:
        root.setLevel(before[0])
        for handler in root.handlers[:]:
            if handler not in before[1]:
                root.removeHandler(handler)
        for name in logging.root.manager.loggerDict:
            logging.getLogger(name).setLevel(before[2].get(name, logging.NOTSET))


def info_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.INFO
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_apscheduler_loggers_are_held_at_warning(logging_as_served: None) -> None:
    for name in APSCHEDULER:
        logger = logging.getLogger(name)
        assert logger.getEffectiveLevel() == logging.WARNING, name
        assert not logger.isEnabledFor(logging.INFO)
        assert logger.isEnabledFor(logging.WARNING)  # a missed run or a failing job still shows


async def test_ticks_log_no_apscheduler_lines(
    world: World, logging_as_served: None, caplog: pytest.LogCaptureFixture
) -> None:
    ticker = Ticker(RoundScheduler(world.ctx), seconds=0.05)
    caplog.set_level(logging.DEBUG)  # the root at its most verbose: only the clamp holds them
    task = asyncio.get_running_loop().create_task(ticker.run())
    ticker.start()
    await asyncio.wait_for(ticker.wait_for_passes(3), timeout=30)  # the start-up ring and ticks
    ticker.stop()
    await asyncio.wait_for(task, timeout=10)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")] == []
    assert info_lines(caplog, "bot.delivery.scheduler") == []  # idle passes: nothing to say


async def test_a_scheduler_pass_logs_one_line_when_it_opens_and_none_when_idle(
    world: World, clock: ManualClock, logging_as_served: None, caplog: pytest.LogCaptureFixture
) -> None:
    clock.set(at("2026-11-29T12:00"))  # a Sunday: the schedule is set before its first Monday
    await schedule_set(
        world.ctx, world.cli, "Platform", cadence=CadenceKind.WEEKLY, weekday="mon", time="10:00"
    )
    scheduler = RoundScheduler(world.ctx)
    caplog.set_level(logging.INFO)

    assert (await scheduler.run_once()).opened == []
    assert info_lines(caplog, "bot.delivery.scheduler") == []

    clock.set(at("2026-11-30T09:00"))  # 10:00 in Berlin
    assert (await scheduler.run_once()).opened == ["Platform 2026-W49"]
    assert info_lines(caplog, "bot.delivery.scheduler") == ["scheduler pass: opened 1"]

    caplog.clear()
    assert (await scheduler.run_once()).opened == []  # the same period again: idle
    assert info_lines(caplog, "bot.delivery.scheduler") == []


async def test_a_dispatcher_pass_logs_sent_and_failed_once_and_nothing_when_idle(
    world: World, logging_as_served: None, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = FakeAdapter()
    adapter.failures["u0"] = DeliveryError("user_not_found", permanent=True)
    dispatcher = Dispatcher(world.ctx, {"playground": adapter})
    caplog.set_level(logging.INFO)

    assert await dispatcher.run_once() == 0
    assert info_lines(caplog, "bot.delivery.dispatcher") == []

    await open_round(world.ctx, world.cli, world.team)
    assert await dispatcher.run_once() == 5
    assert info_lines(caplog, "bot.delivery.dispatcher") == ["dispatcher pass: sent 5, failed 1"]

    caplog.clear()
    assert await dispatcher.run_once() == 0  # nothing due any more
    assert info_lines(caplog, "bot.delivery.dispatcher") == []


async def test_the_access_log_leaves_out_the_playground_poll_and_every_size(
    sqlite_url: str, logging_as_served: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(
        Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True), background=False
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log_class=AccessLog)  # what `rutradar serve` runs with
    caplog.set_level(logging.INFO)
    async with TestClient(server) as client:
        poll = await client.get("/playground/api/inbox?workspace=demo&user=U1&after=0")
        assert poll.status == 200
        await poll.read()
        health = await client.get("/healthz?code=a-secret")
        assert health.status == 200
        body = await health.read()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1, lines  # the health check's, and nothing for the poll
    (line,) = lines
    # Remote, request, status: no size or duration (privacy rule 4), no query, no headers.
    assert re.fullmatch(r'127\.0\.0\.1 "GET /healthz" 200', line), line
    assert body  # there was a size to leave out


async def test_a_platform_endpoint_is_logged_when_it_refuses_not_when_it_answers(
    sqlite_url: str,
    clock: ManualClock,
    logging_as_served: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A member's every press, command and submission arrives at a platform's endpoint: an
    answered one is counted in the metrics and gets no access line; a refused one does."""
    app = build_app(
        Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True),
        clock=clock,
        background=False,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log_class=AccessLog)
    caplog.set_level(logging.INFO)
    async with TestClient(server) as client:
        await seed_demo(app[RUNTIME].ctx)
        answered = await client.post(
            "/playground/api/events",
            json={"workspace": "demo", "user_id": "U-grace", "kind": "command", "text": "help"},
        )
        assert answered.status == 200, await answered.text()
        refused = await client.post("/playground/api/events", data=b"{not json")
        assert refused.status == 400
        slack = await client.post("/slack/events", data=b"{}")  # not configured, or unsigned
        assert slack.status >= 400
        metrics = await (await client.get("/metrics")).text()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert lines == [
        '127.0.0.1 "POST /playground/api/events" 400',
        f'127.0.0.1 "POST /slack/events" {slack.status}',
        '127.0.0.1 "GET /metrics" 200',  # any other route is logged as before
    ]
    assert 'method="POST",route="/playground/api/events",status="200"} 1.0' in metrics


def test_the_line_formatter_writes_what_the_standard_one_does() -> None:
    """`LineFormatter` works a timestamp out once a second; every line still reads as the
    standard formatter writes it, also across a second's turn and back (clock steps)."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    ours, standard = LineFormatter(fmt), logging.Formatter(fmt)
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, "a line", None, None)
    for created in (1_790_000_000.123, 1_790_000_000.987, 1_790_000_001.0, 1_789_999_999.5):
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)
    assert ours.formatTime(record, "%Y") == standard.formatTime(record, "%Y")
