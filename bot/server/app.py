"""The composition root: one aiohttp app hosting every configured adapter, health and metrics.

Adapters are discovered through the `rutradar.adapters` entry-point group and only the
configured ones are imported, so bot/ never imports adapters/.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from importlib.metadata import entry_points

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat.engine import ChatEngine
from bot.core.clock import Clock, SystemClock
from bot.core.context import Context
from bot.core.errors import RutRadarError
from bot.core.lookups import Lookups
from bot.core.ports import (
    ENTRY_POINT_GROUP,
    Adapter,
    ChannelMembers,
    Directories,
    ResolvePerson,
    answering,
)
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import RoundScheduler, Ticker
from bot.delivery.tasks import Supervisor
from bot.server.config import Settings
from bot.server.metrics import Metrics
from bot.server.runtime import Runtime
from storage.crypto import SecretBox, SecretKeyError
from storage.db import create_engine, create_session_factory
from storage.maintenance import pending_count
from storage.migrate import head_revision
from storage.server_log import statement_logging

log = logging.getLogger(__name__)
RUNTIME: web.AppKey[Runtime] = web.AppKey("rutradar_runtime", Runtime)
# Cached actors live between half and all of RUTRADAR_LOOKUP_TTL (bot/core/lookups.py).
LOOKUP_SPREAD = 0.5


class ConfigurationError(RutRadarError):
    """The configuration is unsafe or inconsistent; the server refuses to start."""


def check_settings(settings: Settings) -> None:
    try:
        box = SecretBox.from_setting(settings.secret_key)
    except SecretKeyError as exc:
        raise ConfigurationError("as_written", text=str(exc)) from None
    if box is None and settings.slack_oauth and settings.slack_configured:
        # Refused here rather than at the first install: a token is never stored in clear.
        raise ConfigurationError("slack_oauth_needs_key")
    if not settings.binds_loopback:
        if settings.playground_enabled:
            raise ConfigurationError("playground_loopback_only")
        if settings.dev:
            raise ConfigurationError("dev_loopback_only")


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    db = create_engine(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
    )
    clock = clock or SystemClock()
    ctx = Context(
        database=db,
        sessions=create_session_factory(db),
        clock=clock,
        lookups=Lookups(clock, ttl=settings.lookup_ttl_seconds, spread=LOOKUP_SPREAD),
    )
    supervisor = Supervisor()
    adapters: dict[str, Adapter] = {}
    # The engine may only ask the platforms questions (filled in as adapters register); what
    # it says later goes through the outbox. It is never handed an adapter.
    people: dict[str, ResolvePerson] = {}
    channels: dict[str, ChannelMembers] = {}
    engine = ChatEngine(
        ctx,
        directories=Directories(people=people, channels=channels),
        spawn=lambda coro, name: supervisor.spawn(coro, name=name),
    )
    metrics = Metrics()
    dispatcher = Dispatcher(
        ctx,
        adapters,
        interval=settings.dispatch_interval_seconds,
        rates=send_rates(settings),
        lease=timedelta(seconds=settings.lease_seconds),
        concurrency=settings.dispatch_concurrency,
        on_result=lambda platform, result: metrics.deliveries.labels(platform, result).inc(),
        recovery_lookups=settings.recovery_lookups,
        resend_window=timedelta(seconds=settings.resend_window_seconds),
        on_recovery=lambda platform, decision: metrics.recoveries.labels(platform, decision).inc(),
    )
    ctx.wake_dispatcher = dispatcher.wake
    ticker = Ticker(RoundScheduler(ctx), seconds=settings.tick_seconds)
    runtime = Runtime(settings, ctx, engine, supervisor, metrics, dispatcher, ticker, adapters)
    wanted = settings.wanted_adapters()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in wanted:
            continue  # never imported: an unconfigured platform costs nothing
        adapter: Adapter = ep.load()(runtime)
        adapters[adapter.platform] = adapter
        resolve, members = answering(adapter)
        if resolve is not None:
            people[adapter.platform] = resolve
        if members is not None:
            channels[adapter.platform] = members
    missing = wanted - set(adapters)
    if missing:
        log.warning("configured adapters not installed yet: %s", ", ".join(sorted(missing)))
    return runtime


def send_rates(settings: Settings) -> Callable[[str], float]:
    """Messages per second per workspace, by platform (0 = no limit)."""
    rates = {"slack": settings.slack_send_rate, "teams": settings.teams_send_rate}
    return lambda platform: rates.get(platform, 0.0)


def build_app(
    settings: Settings | None = None, *, clock: Clock | None = None, background: bool = True
) -> web.Application:
    """The app; `background=False` leaves the dispatcher and the scheduler to the caller
    (tests drive `run_once` with an injected clock instead of waiting)."""
    settings = settings or Settings()
    check_settings(settings)
    runtime = build_runtime(settings, clock)
    app = web.Application(client_max_size=1024 * 1024, middlewares=[measured])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for adapter in runtime.adapters.values():
        adapter.install(app)
    if "teams" not in runtime.adapters:
        # The design's interface: without credentials (and without RUTRADAR_DEV) the Teams
        # endpoint exists and refuses, rather than looking like a wrong URL.
        app.router.add_post("/api/messages", teams_not_configured)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await warn_of_statement_logging(runtime.ctx.database)
        async with runtime.supervisor:
            if background:
                runtime.supervisor.spawn(runtime.dispatcher.run(), name="dispatcher")
                runtime.supervisor.spawn(runtime.ticker.run(), name="scheduler")
                runtime.ticker.start()
            yield
            drain(runtime)
        await runtime.ctx.database.dispose()

    async def on_shutdown(_app: web.Application) -> None:
        drain(runtime)

    app.on_shutdown.append(on_shutdown)
    app.cleanup_ctx.append(lifecycle)
    return app


async def warn_of_statement_logging(database: AsyncEngine) -> None:
    """One WARNING at start-up when PostgreSQL would log a check-in's statement, with the
    person and the scores in it (storage/server_log.py). A database not reachable yet is
    `/readyz`'s to report, not this check's."""
    try:
        found = await statement_logging(database)
    except (SQLAlchemyError, OSError):
        return
    if found:
        log.warning(
            "PostgreSQL logs this app's statements (%s): its log can link a check-in to a"
            " person; turn statement logging off for this role (docs/privacy.md)",
            ", ".join(found),
        )


def drain(runtime: Runtime) -> None:
    """SIGTERM: answer 503 on /readyz, take no new work; the task group then waits for the
    send in flight, and the dispatcher hands back the leases it had not used."""
    runtime.draining = True
    runtime.ticker.stop()
    runtime.dispatcher.stop()


async def teams_not_configured(_request: web.Request) -> web.Response:
    return web.json_response({"error": "Microsoft Teams is not configured"}, status=401)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and its schema is at the code's migration head."""
    runtime = request.app[RUNTIME]
    if runtime.draining:
        return web.json_response({"status": "draining"}, status=503)
    try:
        async with runtime.ctx.database.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception:
        runtime.metrics.ready.set(0)
        return web.json_response({"status": "database unavailable"}, status=503)
    if version != head_revision():
        runtime.metrics.ready.set(0)
        return web.json_response(
            {"status": "schema out of date", "database": version, "expected": head_revision()},
            status=503,
        )
    runtime.metrics.ready.set(1)
    return web.json_response({"status": "ready", "schema": version})


@web.middleware
async def measured(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Request counts and latencies, for /metrics: the access log carries neither a size
    nor a duration (privacy rule 4). Labelled by the route's pattern, so a path or a query
    naming a person never becomes a label; unmatched paths share one."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[RUNTIME].metrics.answered(
            route, request.method, status, time.perf_counter() - started
        )


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        runtime.metrics.scrub_pending.set(await pending_count(runtime.ctx.database))
    except Exception:
        log.debug("scrub-pending count unavailable", exc_info=True)
    body = runtime.metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
