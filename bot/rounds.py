"""The round/release contract: open freezes the population, close releases or withholds.

The scheduler (a later issue) calls the same three operations; by hand they come from
`rutradar round …`, `/rut admin round …` and the playground's admin buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.actor import Actor
from bot.context import Context
from bot.errors import ConflictError
from bot.periods import weekly_period
from bot.release import compute_release
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.maintenance import scrub_after_close
from storage.models import Delivery, Person, Release, Round, Team, Workspace

MANUAL_CLOSE_AFTER = timedelta(hours=72)


@dataclass(frozen=True)
class RoundOutcome:
    round: Round
    changed: bool  # False for an idempotent repeat
    release: Release | None = None


def team_zone(team: Team, workspace: Workspace) -> str:
    return team.timezone or workspace.timezone or "UTC"


def is_paused(paused_until: date | None, now: datetime) -> bool:
    return paused_until is not None and paused_until >= now.date()


async def _population(session: AsyncSession, team: Team) -> list[int]:
    """Home-team members, minus anyone who manages the team (they see its results)."""
    members = await repo.team_people(session, team.id, "member")
    managers = {p.id for p in await repo.team_people(session, team.id, "manager")}
    return [p.id for p in members if p.id not in managers]


async def open_round(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        existing_open = await repo.open_round(session, team.id)
        period = weekly_period(now, team_zone(team, workspace))
        if existing_open is not None:
            return RoundOutcome(existing_open, changed=False)
        existing = await repo.round_for(session, team.id, period)
        if existing is not None:
            raise ConflictError(
                f"The round for {team.name} in {period} is already {existing.status}; "
                "a closed or skipped period cannot be opened again."
            )
        schedule = await repo.schedule_of(session, team.id)
        close_after = (
            timedelta(minutes=schedule.close_after_minutes) if schedule else MANUAL_CLOSE_AFTER
        )
        rnd = Round(
            team_id=team.id,
            period=period,
            opens_at=now,
            closes_at=now + close_after,
            threshold=workspace.threshold,
            comment_threshold=max(workspace.comment_threshold, workspace.threshold),
            status="open",
        )
        session.add(rnd)
        await session.flush()
        for person_id in await _population(session, team):
            person = await session.get(Person, person_id)
            paused = person is not None and is_paused(person.paused_until, now)
            session.add(
                Delivery(
                    round_id=rnd.id,
                    person_id=person_id,
                    kind="prompt",
                    not_before=now,
                    status="skipped" if paused else "pending",
                )
            )
        audit.record(session, actor, "round_opened", now, team_id=team.id, period=period)
    ctx.wake_dispatcher()
    return RoundOutcome(rnd, changed=True)


async def close_round(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    """Fold the answers into a release (or withhold it), then delete every raw trace."""
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        rnd = await repo.open_round(session, team.id)
        if rnd is None:
            rounds = await repo.rounds_of(session, team.id)
            latest = rounds[-1] if rounds else None
            if latest is not None and latest.status in ("closed", "released", "withheld"):
                release = await repo.release_of(session, latest.id)
                return RoundOutcome(latest, changed=False, release=release)
            raise ConflictError(f"{team.name} has no open round to close.")
        answers = await repo.answers_of(session, rnd.id)
        _, delivered = await repo.participation(session, rnd.id)
        computed = compute_release(
            [{k: getattr(a, k) for k in PRACTICE_KEYS} for a in answers],
            [a.comment for a in answers if a.comment],
            delivered=delivered,
            threshold=rnd.threshold,
            comment_threshold=rnd.comment_threshold,
        )
        release = Release(
            round_id=rnd.id,
            status=computed.status,
            respondents=computed.respondents,
            delivered=computed.delivered,
            threshold=computed.threshold,
            computed_at=now,
            data=computed.data,
        )
        session.add(release)
        rnd.status = computed.status
        rnd.closes_at = min(rnd.closes_at, now)
        await repo.delete_round_raw_data(session, rnd.id)
        audit.record(
            session,
            actor,
            "round_closed",
            now,
            team_id=team.id,
            period=rnd.period,
            status=computed.status,
        )
    await scrub_after_close(ctx.engine)
    return RoundOutcome(rnd, changed=True, release=release)


async def skip_round(ctx: Context, actor: Actor, team: Team) -> RoundOutcome:
    """Mark the current period skipped so nothing opens it; an open round must be closed."""
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        period = weekly_period(now, team_zone(team, workspace))
        existing = await repo.round_for(session, team.id, period)
        if existing is not None:
            if existing.status == "skipped":
                return RoundOutcome(existing, changed=False)
            raise ConflictError(
                f"The round for {team.name} in {period} is already {existing.status}; "
                "only a period that has not started can be skipped."
            )
        rnd = Round(
            team_id=team.id,
            period=period,
            opens_at=now,
            closes_at=now,
            threshold=workspace.threshold,
            comment_threshold=workspace.comment_threshold,
            status="skipped",
        )
        session.add(rnd)
        audit.record(session, actor, "round_skipped", now, team_id=team.id, period=period)
    return RoundOutcome(rnd, changed=True)
