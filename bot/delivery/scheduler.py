"""The scheduled life of rounds: one idempotent pass opens what is due, queues reminders and
closes what is overdue. Every replica runs it; the database decides who wins each step.

APScheduler only rings the bell (a short interval job that wakes the worker); the Schedule
table is the source of truth and the arithmetic is `bot.rounds.cadence`, so an edit made through
another replica counts on the next pass without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.admin.records import purge
from bot.core.actor import Actor
from bot.core.context import Context
from bot.rounds.cadence import (
    Cadence,
    occurrence_dates,
    period_key,
    previous_occurrence,
    round_window,
)
from bot.rounds.lifecycle import RoundPlan, close_round, open_round, skipped_round, team_zone
from storage import repositories as repo
from storage.maintenance import scrub
from storage.models import Delivery, Membership, Person, Round, Schedule, Team, Workspace, random_id
from storage.values import DeliveryKind, DeliveryStatus, MembershipRole, RoundStatus

log = logging.getLogger(__name__)

CATCH_UP_LIMIT = timedelta(days=400)  # how far back missed periods are recorded as skipped


@dataclass
class PassReport:
    opened: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reminders: int = 0
    closed: list[str] = field(default_factory=list)
    scrubbed: int = 0  # rounds whose pending scrub this pass finished

    @property
    def did_something(self) -> bool:
        return bool(self.opened or self.skipped or self.reminders or self.closed or self.scrubbed)

    def summary(self) -> str:
        """Counts only, for the pass's one log line: "opened 2, reminded 5, closed 1"."""
        parts = [
            ("opened", len(self.opened)),
            ("skipped", len(self.skipped)),
            ("reminded", self.reminders),
            ("closed", len(self.closed)),
            ("scrubbed", self.scrubbed),
        ]
        return ", ".join(f"{what} {count}" for what, count in parts if count)


def scheduler_actor(workspace: Workspace) -> Actor:
    """Audit events of scheduled steps name the schedule, not a person."""
    return _ScheduleActor(workspace=workspace, person=None, is_admin=True)


class _ScheduleActor(Actor):
    @property
    def label(self) -> str:
        return "schedule"


class RoundScheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run_once(self) -> PassReport:
        """Open due rounds (the current period only), queue reminders, close overdue rounds."""
        report = PassReport()
        now = self.ctx.clock.now()
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(Schedule, Team, Workspace)
                    .join(Team, Team.id == Schedule.team_id)
                    .join(Workspace, Workspace.id == Team.workspace_id)
                    .where(Schedule.enabled.is_(True))
                )
            ).all()
        for schedule, team, workspace in rows:
            try:
                await self._open_due(schedule, team, workspace, now, report)
            except Exception:
                log.exception("opening a scheduled round failed", extra={"team_id": team.id})
        report.reminders = await self._queue_reminders(now)
        await self._close_overdue(now, report)
        await purge(self.ctx, now)
        if self.ctx.lookups is not None:
            # This process's memory too: on a replica gone quiet after a round's burst, its
            # last senders' entries (who acted, and when) would stay until someone writes.
            self.ctx.lookups.forget_expired()
        report.scrubbed = await self._retry_scrubs()
        if report.did_something:  # one line for a pass that changed something; idle ones are silent
            log.info("scheduler pass: %s", report.summary())
        return report

    # --- open ------------------------------------------------------------------------------

    async def _zones(self, schedule: Schedule, team: Team, workspace: Workspace) -> list[str]:
        zone = schedule.timezone or team_zone(team, workspace)
        if not schedule.member_local:
            return [zone]
        async with self.ctx.sessions() as session:
            rows = await session.scalars(
                select(Person.timezone)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.team_id == team.id, Membership.role == MembershipRole.MEMBER)
            )
            zones = {z or zone for z in rows.all()}  # the same fallback as each prompt's not-before
        return sorted(zones) or [zone]

    async def _open_due(
        self,
        schedule: Schedule,
        team: Team,
        workspace: Workspace,
        now: datetime,
        report: PassReport,
    ) -> None:
        cadence = Cadence.from_row(schedule)
        zones = await self._zones(schedule, team, workspace)
        close_after = timedelta(minutes=schedule.close_after_minutes)
        team_today = now.astimezone(
            ZoneInfo(schedule.timezone or team_zone(team, workspace))
        ).date()
        # Member-local rounds can open before the occurrence's date in the team's zone.
        latest = previous_occurrence(cadence, team_today + timedelta(days=1))
        for day in (latest, previous_occurrence(cadence, latest - timedelta(days=1))):
            opens_at, closes_at = round_window(cadence, day, zones, close_after)
            if opens_at <= now < closes_at:
                await self._record_missed(schedule, team, workspace, cadence, day, report)
                plan = RoundPlan(
                    period=period_key(cadence, day),
                    opens_at=opens_at,
                    closes_at=closes_at,
                    member_zones=schedule.member_local,
                    fallback_zone=schedule.timezone or team_zone(team, workspace),
                    occurrence=day,
                    local_time=cadence.local_time,
                )
                async with self.ctx.sessions() as session:
                    existing = await repo.round_for(session, team.id, plan.period)
                if existing is None:
                    outcome = await open_round(self.ctx, scheduler_actor(workspace), team, plan)
                    if outcome.changed:
                        report.opened.append(f"{team.name} {plan.period}")
                return
            if closes_at <= now:
                await self._record_missed(
                    schedule, team, workspace, cadence, day + timedelta(days=1), report
                )
                return

    async def _record_missed(
        self,
        schedule: Schedule,
        team: Team,
        workspace: Workspace,
        cadence: Cadence,
        before: date,
        report: PassReport,
    ) -> None:
        """Periods that came and went while nothing ran are skipped, not back-filled, and
        `round list` shows them."""
        created = schedule.created_at or self.ctx.clock.now()
        start = max(created.date(), before - CATCH_UP_LIMIT)
        days = [d for d in occurrence_dates(cadence, start, before - timedelta(days=1))]
        if not days:
            return
        zones = await self._zones(schedule, team, workspace)
        close_after = timedelta(minutes=schedule.close_after_minutes)
        async with self.ctx.sessions() as session:
            known = {r.period for r in await repo.rounds_of(session, team.id)}
        for day in days:
            opens_at, closes_at = round_window(cadence, day, zones, close_after)
            period = period_key(cadence, day)
            if period in known or opens_at < created:
                continue
            try:
                async with self.ctx.sessions.begin() as session:
                    session.add(skipped_round(team, workspace, period, opens_at, closes_at))
                report.skipped.append(f"{team.name} {period}")
            except IntegrityError:
                pass  # another replica recorded it

    # --- remind ----------------------------------------------------------------------------

    async def _queue_reminders(self, now: datetime) -> int:
        """One reminder per unanswered, delivered prompt, once its time has come; the unique
        (round, person, kind) makes a second pass, here or elsewhere, a no-op."""
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Delivery.round_id,
                        Delivery.person_id,
                        Delivery.not_before,
                        Schedule.remind_after_minutes,
                        Round.closes_at,
                    )
                    .join(Round, Round.id == Delivery.round_id)
                    .join(Schedule, Schedule.team_id == Round.team_id)
                    .where(
                        Round.status == RoundStatus.OPEN,
                        Delivery.kind == DeliveryKind.PROMPT,
                        Delivery.status == DeliveryStatus.SENT,
                        Delivery.answered.is_(False),
                        Delivery.person_id.is_not(None),
                    )
                )
            ).all()
        due = []
        for round_id, person_id, not_before, remind_after, closes_at in rows:
            at = not_before + timedelta(minutes=remind_after)
            if at <= now < closes_at:
                due.append({"round_id": round_id, "person_id": person_id, "not_before": at})
        if not due:
            return 0
        created = 0
        async with self.ctx.sessions.begin() as session:
            for row in due:
                created += await repo.insert_unless_present(
                    session,
                    Delivery,
                    {
                        "kind": DeliveryKind.REMINDER,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "answered": False,
                        "id": random_id(),
                        **row,
                    },
                    unique=["round_id", "person_id", "kind"],
                )
        if created:
            self.ctx.wake_dispatcher()
        return created

    # --- close -----------------------------------------------------------------------------

    async def _retry_scrubs(self) -> int:
        """Rounds closed while their scrub could not finish (a reader held the SQLite WAL, a
        PostgreSQL transaction older than the close): tried again on every pass, quietly (the
        close said it once); the pass's line counts those it finishes."""
        try:
            return (await scrub(self.ctx.database)).rounds
        except Exception:
            log.exception("retrying a pending scrub failed")
            return 0

    async def _close_overdue(self, now: datetime, report: PassReport) -> None:
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(Team, Workspace, Round.period)
                    .join(Round, Round.team_id == Team.id)
                    .join(Workspace, Workspace.id == Team.workspace_id)
                    .where(Round.status == RoundStatus.OPEN, Round.closes_at <= now)
                )
            ).all()
        for team, workspace, period in rows:
            try:
                outcome = await close_round(self.ctx, scheduler_actor(workspace), team)
            except Exception:
                log.exception("closing an overdue round failed", extra={"team_id": team.id})
                continue
            if outcome.changed:
                report.closed.append(f"{team.name} {period}")


class Ticker:
    """APScheduler rings; a worker owned by the app's task group answers, one pass at a time.

    The bell is a coroutine job, so APScheduler's `AsyncIOExecutor` runs it on the event loop:
    a plain function would run in a worker thread, and `asyncio.Event` is not thread-safe.
    `AsyncIOScheduler.shutdown` only schedules the real shutdown on the loop (and raises
    `SchedulerNotRunningError` when the scheduled one already ran), so `stop` hands the
    scheduler over exactly once, and the worker waits for the shutdown to have happened
    before it ends: the task group's exit then means the scheduler is gone too."""

    def __init__(self, scheduler: RoundScheduler, *, seconds: float) -> None:
        self.scheduler = scheduler
        self.seconds = seconds
        self._bell = asyncio.Event()
        self._stopping = False
        self._aps: AsyncIOScheduler | None = None
        self._aps_down = asyncio.Event()
        self._aps_down.set()  # nothing started, nothing to wait for
        self.passes = 0
        self._passed = asyncio.Event()

    def ring(self) -> None:
        self._bell.set()

    async def _ring(self) -> None:
        self.ring()

    def start(self) -> None:
        if self._aps is not None or self._stopping:
            return
        self._aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        self._aps.add_listener(lambda _event: self._aps_down.set(), EVENT_SCHEDULER_SHUTDOWN)
        self._aps.add_job(
            self._ring,
            "interval",
            seconds=self.seconds,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
            id="rutradar-tick",
        )
        self._aps_down.clear()
        self._aps.start()
        self.ring()  # a pass at start-up: catch up after downtime

    def stop(self) -> None:
        """Idempotent: the drain and aiohttp's clean-up may both call it."""
        self._stopping = True
        aps, self._aps = self._aps, None
        if aps is not None and aps.running:
            aps.shutdown(wait=False)
        self._bell.set()

    async def run(self) -> None:
        try:
            while not self._stopping:
                await self._bell.wait()
                self._bell.clear()
                if self._stopping:
                    break
                try:
                    await self.scheduler.run_once()
                except Exception:
                    log.exception("scheduler pass failed")
                finally:
                    self.passes += 1
                    self._passed.set()
        finally:
            self.stop()  # whatever ended the worker, nothing rings for it any more
            await self._aps_down.wait()

    async def wait_for_passes(self, count: int) -> None:
        """Until `count` passes have run (tests wait on this instead of sleeping)."""
        while self.passes < count:
            self._passed.clear()
            await self._passed.wait()
