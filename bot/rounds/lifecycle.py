"""The round/release contract: open freezes the population, close releases or withholds.

The scheduler (a later issue) calls the same three operations; by hand they come from
`rutradar round …`, `/rut admin round …` and the playground's admin buttons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import AuditAction
from bot.core.context import Context
from bot.core.errors import ConflictError
from bot.rounds.cadence import local_moment
from bot.rounds.notices import queue_closed_notices
from bot.rounds.periods import monthly_period, weekly_period
from bot.rounds.release import IN_RUT_TOTAL, AnswerTotals, release_from_totals, with_trend
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.db import long_transaction
from storage.maintenance import scrub
from storage.models import Delivery, Membership, Person, Release, Round, Team, Workspace
from storage.values import (
    CadenceKind,
    DeliveryKind,
    DeliveryStatus,
    MembershipRole,
    RoundStatus,
)

log = logging.getLogger(__name__)

MANUAL_CLOSE_AFTER = timedelta(hours=72)
CLOSED_STATUSES = (RoundStatus.CLOSED, RoundStatus.RELEASED, RoundStatus.WITHHELD)


@dataclass(frozen=True)
class RoundOutcome:
    round: Round
    changed: bool  # False for an idempotent repeat
    release: Release | None = None
    scrub_pending: bool = False  # closed, but its deleted rows may still be in the files


def team_zone(team: Team, workspace: Workspace) -> str:
    return team.timezone or workspace.timezone or "UTC"


def is_paused(paused_until: date | None, now: datetime) -> bool:
    return paused_until is not None and paused_until >= now.date()


async def _population(session: AsyncSession, team: Team, opens_at: datetime) -> list[int]:
    """Home-team members, minus anyone who manages the team (they see its results) and
    anyone who moved here from a team whose round of this period they were in: a person is
    in at most one population per period (`Membership.counted_from`)."""
    rows = await session.execute(
        select(Membership.person_id, Membership.counted_from).where(
            Membership.team_id == team.id, Membership.role == MembershipRole.MEMBER
        )
    )
    managers = {p.id for p in await repo.team_people(session, team.id, MembershipRole.MANAGER)}
    return sorted(
        person_id
        for person_id, counted_from in rows
        if person_id not in managers and (counted_from is None or counted_from <= opens_at)
    )


@dataclass(frozen=True)
class RoundPlan:
    """When a round runs. By hand: now, for the current week, closing after close-after.
    Scheduled: the occurrence's window, and in member-local mode each member's own morning."""

    period: str
    opens_at: datetime
    closes_at: datetime
    member_zones: bool = False  # not-before per member: their own local time that day
    fallback_zone: str | None = None  # for members whose zone is unknown
    occurrence: date | None = None
    local_time: time | None = None


async def manual_plan(
    session: AsyncSession, team: Team, workspace: Workspace, now: datetime
) -> RoundPlan:
    schedule = await repo.schedule_of(session, team.id)
    close_after = (
        timedelta(minutes=schedule.close_after_minutes) if schedule else MANUAL_CLOSE_AFTER
    )
    zone = team_zone(team, workspace)
    period = (
        monthly_period(now, zone)
        if schedule and schedule.cadence == CadenceKind.MONTHLY
        else weekly_period(now, zone)
    )
    return RoundPlan(period, now, now + close_after)


async def open_round(
    ctx: Context, actor: Actor, team: Team, plan: RoundPlan | None = None
) -> RoundOutcome:
    """Open the period's round and freeze its population as prompt deliveries.

    Idempotent: an open round is returned as is, and a concurrent open of the same period (on
    another replica) loses the unique (team, period) race quietly.
    """
    now = ctx.clock.now()
    try:
        async with long_transaction(ctx.sessions) as session:
            workspace = await session.get(Workspace, team.workspace_id)
            assert workspace is not None
            existing_open = await repo.open_round(session, team.id)
            if existing_open is not None:
                return RoundOutcome(existing_open, changed=False)
            plan = plan or await manual_plan(session, team, workspace, now)
            existing = await repo.round_for(session, team.id, plan.period)
            if existing is not None:
                raise ConflictError(
                    "round_not_reopened", team=team.name, period=plan.period, status=existing.status
                )
            rnd = Round(
                team_id=team.id,
                period=plan.period,
                opens_at=plan.opens_at,
                closes_at=plan.closes_at,
                threshold=workspace.threshold,
                comment_threshold=max(workspace.comment_threshold, workspace.threshold),
                status=RoundStatus.OPEN,
            )
            session.add(rnd)
            await session.flush()
            for person_id in await _population(session, team, plan.opens_at):
                person = await session.get(Person, person_id)
                assert person is not None
                paused = is_paused(person.paused_until, now)
                session.add(
                    Delivery(
                        round_id=rnd.id,
                        person_id=person_id,
                        kind=DeliveryKind.PROMPT,
                        not_before=_not_before(plan, person, team, workspace),
                        status=DeliveryStatus.SKIPPED if paused else DeliveryStatus.PENDING,
                    )
                )
            audit.record(
                session, actor, AuditAction.ROUND_OPENED, now, team_id=team.id, period=plan.period
            )
    except IntegrityError:
        async with ctx.sessions() as session:
            raced = await repo.open_round(session, team.id)
        if raced is None:
            raise
        return RoundOutcome(raced, changed=False)
    ctx.wake_dispatcher()
    return RoundOutcome(rnd, changed=True)


def _not_before(plan: RoundPlan, person: Person, team: Team, workspace: Workspace) -> datetime:
    if not plan.member_zones or plan.occurrence is None or plan.local_time is None:
        return plan.opens_at
    return local_moment(
        plan.occurrence,
        plan.local_time,
        person.timezone or plan.fallback_zone or team_zone(team, workspace),
    )


async def close_round(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    """Fold the answers into a release (or withhold it), delete every raw trace, and queue
    the summary for the team's managers. A concurrent close elsewhere wins quietly."""
    try:
        return await _close(ctx, actor, team)
    except IntegrityError:
        async with ctx.sessions() as session:
            rounds = await repo.rounds_of(session, team.id)
            latest = rounds[-1] if rounds else None
            if latest is None or latest.status == RoundStatus.OPEN:
                raise
            return RoundOutcome(
                latest, changed=False, release=await repo.release_of(session, latest.id)
            )


async def _close(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    now = ctx.clock.now()
    async with long_transaction(ctx.sessions) as session:
        rnd = await repo.open_round(session, team.id, lock="update")
        if rnd is None:
            rounds = await repo.rounds_of(session, team.id)
            latest = rounds[-1] if rounds else None
            if latest is not None and latest.status in CLOSED_STATUSES:
                release = await repo.release_of(session, latest.id)
                return RoundOutcome(latest, changed=False, release=release)
            raise ConflictError("no_open_round", team=team.name)
        # Folded by the database (sums and counts), never loaded answer by answer.
        respondents, sums, lows, in_rut = await repo.answer_totals(
            session, rnd.id, PRACTICE_KEYS, IN_RUT_TOTAL
        )
        _, delivered = await repo.participation(session, rnd.id)
        computed = release_from_totals(
            AnswerTotals(respondents, sums, lows, in_rut),
            await repo.shared_comments(session, rnd.id)
            if respondents >= max(rnd.threshold, rnd.comment_threshold)
            else [],
            delivered=delivered,
            threshold=rnd.threshold,
            comment_threshold=rnd.comment_threshold,
        )
        data = computed.data
        if data is not None:
            earlier = await repo.closed_rounds_with_releases(session, team.id)
            data = with_trend(data, [rel.data for _, rel in earlier])
        release = Release(
            round_id=rnd.id,
            status=computed.status,
            respondents=computed.respondents,
            delivered=computed.delivered,
            threshold=computed.threshold,
            computed_at=now,
            data=data,
        )
        session.add(release)
        rnd.status = RoundStatus(computed.status)
        rnd.closes_at = min(rnd.closes_at, now)
        # Cleared by the scrub below once nothing of the deleted rows is left in the files.
        rnd.scrub_pending = True
        # Decided from the population while its prompt rows still exist, not from times.
        audience = await summary_audience(session, team, rnd)
        # Sent prompts are edited to say the round closed: queued from their message references
        # alone, before the prompt rows (and who answered) are deleted. See bot/rounds/notices.py.
        await queue_closed_notices(session, rnd, now)
        await repo.delete_round_raw_data(session, rnd.id)
        await session.flush()  # the release row claims the round before anything else
        for manager_id in audience:
            session.add(
                Delivery(
                    round_id=rnd.id, person_id=manager_id, kind=DeliveryKind.SUMMARY, not_before=now
                )
            )
        audit.record(
            session,
            actor,
            AuditAction.ROUND_CLOSED,
            now,
            team_id=team.id,
            period=rnd.period,
            status=computed.status,
        )
    scrubbed = await scrub(ctx.database)
    if not scrubbed.done:
        # Said once, here; the scheduler retries on every pass without repeating it, and
        # `round list` and /metrics show the round as scrub pending until it is done.
        log.warning(
            "round closed, scrub pending: %s; every scheduler pass retries", scrubbed.reason
        )
    rnd.scrub_pending = not scrubbed.done  # the returned (detached) row says how it ended
    ctx.wake_dispatcher()
    return RoundOutcome(rnd, changed=True, release=release, scrub_pending=not scrubbed.done)


async def summary_audience(session: AsyncSession, team: Team, rnd: Round) -> list[int]:
    """The team's managers minus anyone in this round's population (a prompt delivery of
    this round: a member made manager mid-round, or moved out and made manager). Those are
    shown results from the next round on: their `results_from` moves to this close, so the
    summary view hides this round from them once its population is gone."""
    population = select(Delivery.person_id).where(
        Delivery.round_id == rnd.id, Delivery.kind == DeliveryKind.PROMPT
    )
    managers = (
        await session.scalars(
            select(Membership).where(
                Membership.team_id == team.id, Membership.role == MembershipRole.MANAGER
            )
        )
    ).all()
    in_population = set(
        (
            await session.scalars(
                population.where(Delivery.person_id.in_([m.person_id for m in managers]))
            )
        ).all()
    )
    audience = []
    for membership in managers:
        if membership.person_id in in_population:
            membership.results_from = max(membership.results_from or rnd.closes_at, rnd.closes_at)
        else:
            audience.append(membership.person_id)
    return sorted(audience)


async def in_open_population(session: AsyncSession, team_id: int, person_id: int) -> bool:
    """Whether the person has a prompt in the team's open round: they were counted in it."""
    rnd = await repo.open_round(session, team_id)
    return rnd is not None and await repo.prompt_delivery(session, rnd.id, person_id) is not None


def skipped_round(
    team: Team, workspace: Workspace, period: str, opens_at: datetime, closes_at: datetime
) -> Round:
    """A period recorded as skipped, so nothing opens it and `round list` shows it: by hand
    (`skip_round`, the window is the moment of skipping) or by the scheduler for a period
    that came and went while nothing ran (the window it would have had)."""
    return Round(
        team_id=team.id,
        period=period,
        opens_at=opens_at,
        closes_at=closes_at,
        threshold=workspace.threshold,
        comment_threshold=workspace.comment_threshold,
        status=RoundStatus.SKIPPED,
    )


async def skip_round(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    """Mark the current period skipped so nothing opens it; an open round must be closed."""
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        period = (await manual_plan(session, team, workspace, now)).period
        existing = await repo.round_for(session, team.id, period)
        if existing is not None:
            if existing.status == RoundStatus.SKIPPED:
                return RoundOutcome(existing, changed=False)
            raise ConflictError(
                "round_not_skipped", team=team.name, period=period, status=existing.status
            )
        rnd = skipped_round(team, workspace, period, now, now)
        session.add(rnd)
        audit.record(session, actor, AuditAction.ROUND_SKIPPED, now, team_id=team.id, period=period)
    return RoundOutcome(rnd, changed=True)
