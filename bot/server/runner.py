"""`rutradar serve`: run the app until SIGINT or SIGTERM, drain, clean up, exit 0.

Not `aiohttp.web.run_app`, whose way of stopping made stops noisy and sometimes failing: its
signal handler raises `GracefulExit` (a `SystemExit` with code 1) out of the event loop, and
the clean-up then runs in a main task that has been cancelled. A second Ctrl+C during that
clean-up escaped as exit status 1 (`make: *** Error 1`). And the clean-up closes the
listening socket before the drain begins, so no request could see `/readyz` answer 503.

Here a signal only sets an event, and the stop runs in order, in a task nobody cancels:

1. drain: `/readyz` answers 503, the tick stops, the dispatcher takes no new work and the app's
   task group finishes what is in flight (the send under way, a scheduler pass), while
   requests are still answered, so a load balancer sees the 503 and nothing is refused;
2. aiohttp's own clean-up: stop listening, give open requests `shutdown_timeout`, then the
   app's clean-up contexts (the task group's exit, the database engine).

A second signal cuts step 1 short: the background tasks are cancelled (a delivery cut off
mid-send stays `sending` under its lease and is retaken, and checked, after it expires).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from bot.core.errors import RutRadarError
from bot.server.app import RUNTIME, drain
from bot.server.logs import AccessLog

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0  # seconds aiohttp gives open requests once it stops listening
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The cyclic collector's thresholds while serving (Python's own: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


def settle_collector() -> None:
    """The garbage collector as a server under load needs it, once start-up is done.

    What start-up made (modules, the copy catalogs, Bolt, botbuilder: about 150,000 objects)
    lives as long as the process: frozen out of the collector's sight, a full collection
    under load takes milliseconds instead of up to 200 ms, every request in flight waiting
    (docs/benchmarks.md, the Teams tail). And a request allocates thousands of container
    objects (the payload's dicts and models, rows, the reply's blocks), almost all freed by
    reference counting as it ends: with a young collection every 700 allocations each request
    paid for several, each walking whatever was alive at that moment, the other requests in
    flight included. Every 20,000, and the older generations a little less often, the
    check-in's requests cost 15-35 % less CPU on PostgreSQL and their p99s fell by a third to
    a half (docs/benchmarks.md, third session of 2026-12-02); what waits for a collection is
    a few megabytes at most (the memory rows of `make bench`)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(app: web.Application, *, host: str, port: int, ready: Callable[[], None]) -> None:
    """Serve until a stop signal, then drain and clean up; returns once everything is done.
    `ready` is called once the socket is bound and the app's start-up has run."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    runtime = app[RUNTIME]

    def on_signal(sig: signal.Signals) -> None:
        if not stopping.is_set():
            log.info("%s: stopping once the work in flight is done", sig.name)
            stopping.set()
        else:
            log.warning("%s again: stopping now, without waiting for the work in flight", sig.name)
            runtime.supervisor.cancel()

    # First, so that a signal during start-up, too, means "stop" rather than a traceback.
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        runner = web.AppRunner(
            app, handle_signals=False, access_log_class=AccessLog, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()  # the app's start-up: the task group, the dispatcher, the tick
        try:
            if not stopping.is_set():
                try:
                    await web.TCPSite(runner, host, port).start()
                except OSError as exc:
                    raise RutRadarError(
                        "cannot_listen", host=host, port=port, reason=exc.strerror or exc
                    ) from None
                settle_collector()
                ready()
                await stopping.wait()
            drain(runtime)
            await runtime.supervisor.drain()
        finally:
            await runner.cleanup()
        log.info("stopped")
    finally:
        # Ours until here, so a late signal is never a KeyboardInterrupt in the clean-up.
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
