"""Admin operations shared by `/rut admin …`, the CLI and the playground.

Every change is one transaction with its audit event: a failed command writes nothing.
Each operation returns a `Result` with a line for people and data for `--json`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import validate
from bot.admin.identities import require_person, require_team
from bot.admin.privacy import erase_person
from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import AuditAction
from bot.core.context import Context
from bot.core.errors import ConflictError, UsageError
from bot.rounds.cadence import Cadence, openings, validate_close_after
from bot.rounds.lifecycle import (
    close_round,
    in_open_population,
    manual_plan,
    open_round,
    skip_round,
    summary_audience,
    team_zone,
)
from bot.rounds.notices import next_opening
from bot.rounds.periods import period_end, resolve_zone
from messages.copy import Copy, Key, available_locales, copy_for
from storage import repositories as repo
from storage.models import Delivery, Membership, Person, Round, Schedule, Team, Workspace
from storage.values import (
    CadenceKind,
    DeliveryKind,
    DeliveryStatus,
    MembershipRole,
    PersonRole,
    ReleaseStatus,
    RoundStatus,
)


@dataclass(frozen=True)
class Result:
    text: str
    data: Any = field(default=None)


@dataclass(frozen=True)
class Note:
    """A line of the copy said after a change's result, once the reader's language is known."""

    key: str
    values: dict[str, Any]


# What a change of a team's members or managers is audited as, by (role, added).
_MEMBERSHIP_CHANGED = {
    (MembershipRole.MEMBER, True): AuditAction.TEAM_MEMBERS_ADDED,
    (MembershipRole.MEMBER, False): AuditAction.TEAM_MEMBERS_REMOVED,
    (MembershipRole.MANAGER, True): AuditAction.TEAM_MANAGERS_ADDED,
    (MembershipRole.MANAGER, False): AuditAction.TEAM_MANAGERS_REMOVED,
}


def _copy(actor: Actor) -> Copy:
    """The copy in the actor's language (the workspace's on the CLI)."""
    person_locale = actor.person.locale if actor.person is not None else None
    return copy_for(person_locale or actor.workspace.locale)


async def _workspace(session: AsyncSession, actor: Actor) -> Workspace:
    workspace = await session.get(Workspace, actor.workspace.id)
    assert workspace is not None
    return workspace


# --- workspace -------------------------------------------------------------------------------


async def workspace_set(
    ctx: Context,
    actor: Actor,
    *,
    threshold: str | None = None,
    comment_threshold: str | None = None,
    retention_days: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    support_url: str | None = None,
) -> Result:
    """Change workspace settings; `support_url="none"` removes the support link."""
    actor.require_admin()
    changes: dict[str, Any] = {}
    if threshold is not None:
        changes["threshold"] = validate.threshold(threshold)
    if comment_threshold is not None:
        changes["comment_threshold"] = validate.threshold(comment_threshold)
    if retention_days is not None:
        changes["retention_days"] = validate.retention_days(retention_days)
    if timezone is not None:
        changes["timezone"] = resolve_zone(timezone)
    if locale is not None:
        if locale not in available_locales():
            raise UsageError("not_a_locale", locale=locale, locales=", ".join(available_locales()))
        changes["locale"] = locale
    if support_url is not None:
        changes["support_url"] = validate.support_url(support_url)
    if not changes:
        raise UsageError("nothing_to_change")
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        new_threshold = changes.get("threshold", workspace.threshold)
        new_comment = changes.get(
            "comment_threshold", max(workspace.comment_threshold, new_threshold)
        )
        if new_comment < new_threshold:
            raise UsageError("comment_threshold_too_low", threshold=new_threshold)
        if new_comment != workspace.comment_threshold:
            changes["comment_threshold"] = new_comment
        for key, value in changes.items():
            setattr(workspace, key, value)
        audit.record(session, actor, AuditAction.WORKSPACE_SET, ctx.clock.now(), **changes)
    t = _copy(actor)
    shown = ", ".join(
        t.say(f"setting_{k}_none") if v is None else t.say(f"setting_{k}", value=v)
        for k, v in changes.items()
    )
    return Result(t.say("workspace_saved", changes=shown), changes)


# --- admins ----------------------------------------------------------------------------------


async def set_admins(ctx: Context, actor: Actor, user_ids: list[str], *, grant: bool) -> Result:
    actor.require_admin()
    done: list[str] = []
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        for raw in user_ids:
            person = await require_person(session, workspace, raw, create_stub=grant)
            if not grant and actor.person is not None and person.id == actor.person.id:
                raise ConflictError("own_admin_role")
            person.role = PersonRole.ADMIN if grant else PersonRole.MEMBER
            done.append(person.user_id)
        audit.record(
            session,
            actor,
            AuditAction.ADMIN_ADDED if grant else AuditAction.ADMIN_REMOVED,
            ctx.clock.now(),
            users=done,
        )
    key = "admins_added" if grant else "admins_removed"
    text = _copy(actor).say(key, count=len(done), users=", ".join(done))
    return Result(text, {"users": done, "admin": grant})


# --- teams -----------------------------------------------------------------------------------


def _valid_team_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 100:
        raise UsageError("team_name_length")
    return cleaned


async def team_add(
    ctx: Context, actor: Actor, name: str, *, members: list[str] | None = None
) -> Result:
    """Create a team; with `members` (a channel's people, in chat) fill it in the same step."""
    actor.require_admin()
    name = _valid_team_name(name)
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        existing = await repo.team_by_name(session, workspace.id, name)
        if existing is not None and not members:
            return Result(
                _copy(actor).say("team_exists", team=existing.name), {"team": existing.name}
            )
        team = existing or Team(workspace_id=workspace.id, name=name)
        if existing is None:
            session.add(team)
            await session.flush()
            audit.record(session, actor, AuditAction.TEAM_ADDED, now, team_id=team.id, team=name)
        changed: list[str] = []
        notes: list[Note] = []
        if members:
            changed, notes = await _apply_members(
                session, workspace, team, members, role=MembershipRole.MEMBER, add=True, now=now
            )
            audit.record(
                session, actor, AuditAction.TEAM_MEMBERS_ADDED, now, team_id=team.id, users=changed
            )
    if members:
        return _members_result(
            _copy(actor), team, changed, notes, role=MembershipRole.MEMBER, add=True
        )
    return Result(_copy(actor).say("team_created", team=name), {"team": name})


async def team_remove(ctx: Context, actor: Actor, name: str) -> Result:
    actor.require_admin()
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        audit.record(session, actor, AuditAction.TEAM_REMOVED, ctx.clock.now(), team=team.name)
        await session.delete(team)
    return Result(_copy(actor).say("team_removed", team=team.name), {"team": team.name})


async def team_list(ctx: Context, actor: Actor) -> Result:
    actor.require_admin()
    async with ctx.sessions() as session:
        rows = []
        for team in await repo.teams_in(session, actor.workspace.id):
            members = await repo.team_people(session, team.id, MembershipRole.MEMBER)
            managers = await repo.team_people(session, team.id, MembershipRole.MANAGER)
            rows.append({"team": team.name, "members": len(members), "managers": len(managers)})
    if not rows:
        return Result(_copy(actor).say("team_list_none"), [])
    t = _copy(actor)
    text = "\n".join(
        t.say("team_counts", team=r["team"], members=r["members"], managers=r["managers"])
        for r in rows
    )
    return Result(text, rows)


async def team_show(ctx: Context, actor: Actor, name: str) -> Result:
    actor.require_admin()
    async with ctx.sessions() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        members = await repo.team_people(session, team.id, MembershipRole.MEMBER)
        managers = await repo.team_people(session, team.id, MembershipRole.MANAGER)
        schedule = await repo.schedule_of(session, team.id)
        rounds = await repo.rounds_of(session, team.id)
        data: dict[str, Any] = {
            "team": team.name,
            "timezone": team_zone(team, workspace),
            "members": [_person_json(p) for p in members],
            "managers": [_person_json(p) for p in managers],
            "schedule": schedule_json(schedule, team, workspace),
            "rounds": [{"period": r.period, "status": r.status} for r in rounds],
        }
    t = _copy(actor)
    none = t.say("list_none")
    lines = [
        f"{team.name} ({data['timezone']})",
        t.say("team_members", people=", ".join(_person_label(p) for p in members) or none),
        t.say("team_managers", people=", ".join(_person_label(p) for p in managers) or none),
        t.say("admin_schedule", schedule=describe_schedule(data["schedule"], t)),
        t.say(
            "team_rounds",
            rounds=", ".join(f"{r['period']} {r['status']}" for r in data["rounds"]) or none,
        ),
    ]
    return Result("\n".join(lines), data)


def _person_json(person: Person) -> dict[str, Any]:
    return {"user_id": person.user_id, "name": person.display_name}


def _person_label(person: Person) -> str:
    return person.display_name or person.user_id


async def set_members(
    ctx: Context,
    actor: Actor,
    name: str,
    user_ids: list[str],
    *,
    role: MembershipRole,
    add: bool,
    with_history: bool = False,
) -> Result:
    """Add or remove members or managers. A person has one home team; adding moves them."""
    actor.require_admin()
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        changed, notes = await _apply_members(
            session,
            workspace,
            team,
            user_ids,
            role=role,
            add=add,
            now=now,
            with_history=with_history,
        )
        audit.record(
            session,
            actor,
            _MEMBERSHIP_CHANGED[role, add],
            now,
            team_id=team.id,
            users=changed,
        )
    return _members_result(_copy(actor), team, changed, notes, role=role, add=add)


async def _apply_members(
    session: AsyncSession,
    workspace: Workspace,
    team: Team,
    user_ids: list[str],
    *,
    role: MembershipRole,
    add: bool,
    now: datetime,
    with_history: bool = False,
) -> tuple[list[str], list[Note]]:
    notes: list[Note] = []
    changed: list[str] = []
    for raw in user_ids:
        person = await require_person(session, workspace, raw, create_stub=add)
        memberships = list(await repo.memberships_of(session, person.id))
        here = next((m for m in memberships if m.team_id == team.id), None)
        label = _person_label(person)
        if not add:
            if here is None or here.role != role:
                key = "not_member_of" if role == MembershipRole.MEMBER else "not_manager_of_team"
                raise UsageError(key, person=label, team=team.name)
            await session.delete(here)
            changed.append(person.user_id)
            continue
        if role == MembershipRole.MEMBER:
            if here is not None and here.role == MembershipRole.MANAGER:
                raise ConflictError("manager_not_member", person=label, team=team.name)
            counted_from: datetime | None = None
            for other in memberships:
                if other.role == MembershipRole.MEMBER and other.team_id != team.id:
                    moved_from = await session.get(Team, other.team_id)
                    assert moved_from is not None
                    counted_from = await _counted_from_after_move(
                        session, workspace, moved_from, other, person, now
                    )
                    await session.delete(other)
                    note = Note("moved_from", {"person": label, "team": moved_from.name})
                    if counted_from is not None:
                        note = Note(
                            "moved_from_counted_later",
                            {
                                "person": label,
                                "team": moved_from.name,
                                "new_team": team.name,
                                "day": f"{counted_from:%Y-%m-%d}",
                            },
                        )
                    notes.append(note)
            if here is None:
                session.add(
                    Membership(
                        person_id=person.id,
                        team_id=team.id,
                        role=MembershipRole.MEMBER,
                        counted_from=counted_from,
                    )
                )
        else:
            if with_history and await in_open_population(session, team.id, person.id):
                raise ConflictError("in_open_population", person=label, team=team.name)
            if here is not None and here.role == MembershipRole.MEMBER:
                # They were in this team's populations: they see only later rounds.
                here.role = MembershipRole.MANAGER
                here.results_from = now
                notes.append(Note("no_longer_member", {"person": label}))
            elif here is None:
                # Whether someone was ever in this team's past populations is not kept (that
                # would itself be a trace), so a new manager sees rounds from now on, unless
                # an admin vouches they never were (`--with-history`).
                session.add(
                    Membership(
                        person_id=person.id,
                        team_id=team.id,
                        role=MembershipRole.MANAGER,
                        results_from=None if with_history else now,
                    )
                )
        changed.append(person.user_id)
    await session.flush()
    return changed, notes


async def _counted_from_after_move(
    session: AsyncSession,
    workspace: Workspace,
    old_team: Team,
    old: Membership,
    person: Person,
    now: datetime,
) -> datetime | None:
    """When a member moving out of `old_team` may first be counted in another team: after
    the period of the old team's latest round they were (or may have been) in. An open round
    tells from its prompts; a closed one no longer can (its rows are gone), so one that
    closed in a period not yet over counts as theirs. Carries an earlier move's limit too."""
    limit = old.counted_from if old.counted_from and old.counted_from > now else None
    rounds = [
        r for r in await repo.rounds_of(session, old_team.id) if r.status != RoundStatus.SKIPPED
    ]
    latest = max(rounds, key=lambda r: r.opens_at, default=None)
    if latest is None or latest.opens_at > now:
        return limit
    if latest.status == RoundStatus.OPEN and not await in_open_population(
        session, old_team.id, person.id
    ):
        return limit
    end = max(period_end(latest.period, team_zone(old_team, workspace)), latest.closes_at)
    if end <= now:
        return limit
    return max(end, limit) if limit else end


def _members_result(
    t: Copy, team: Team, changed: list[str], notes: list[Note], *, role: MembershipRole, add: bool
) -> Result:
    key = f"{role}s_{'added' if add else 'removed'}"
    text = t.say(key, count=len(changed), team=team.name, users=", ".join(changed))
    if notes:
        text += " (" + "; ".join(t.say(note.key, **note.values) for note in notes) + ".)"
    return Result(text, {"team": team.name, "role": role, "users": changed, "added": add})


# --- schedules -------------------------------------------------------------------------------


def schedule_json(
    schedule: Schedule | None, team: Team, workspace: Workspace
) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "cadence": schedule.cadence,
        "weekday": validate.WEEKDAYS[schedule.weekday],
        "time": schedule.local_time,
        "week_of_month": ("last" if schedule.week_of_month == -1 else schedule.week_of_month),
        "anchor": schedule.anchor.isoformat() if schedule.anchor else None,
        "timezone": None
        if schedule.member_local
        else (schedule.timezone or team_zone(team, workspace)),
        "member_local": schedule.member_local,
        "remind_after": validate.format_duration(schedule.remind_after_minutes),
        "close_after": validate.format_duration(schedule.close_after_minutes),
        "enabled": schedule.enabled,
    }


def describe_schedule(data: dict[str, Any] | None, t: Copy) -> str:
    if data is None:
        return t.say("schedule_none")
    day = t.weekday(validate.WEEKDAYS.index(data["weekday"]))  # "mon" → Monday, Montag
    when = t.say("schedule_weekly", weekday=day)
    if data["cadence"] == CadenceKind.MONTHLY and data["week_of_month"] == "last":
        when = t.say("schedule_monthly_last", weekday=day)
    elif data["cadence"] == CadenceKind.MONTHLY:
        when = t.say("schedule_monthly", week=data["week_of_month"], weekday=day)
    elif data["cadence"] == CadenceKind.BIWEEKLY:
        when = t.say("schedule_biweekly", weekday=day, anchor=data["anchor"])
    zone = t.say("schedule_member_local") if data["member_local"] else data["timezone"]
    return t.say(
        "schedule_described" if data["enabled"] else "schedule_described_disabled",
        when=when,
        time=data["time"],
        zone=zone,
        remind=data["remind_after"],
        close=data["close_after"],
    )


async def schedule_set(
    ctx: Context,
    actor: Actor,
    name: str,
    *,
    cadence: CadenceKind,
    weekday: str,
    time: str,
    week_of_month: str | None = None,
    anchor: str | None = None,
    timezone: str | None = None,
    member_local: bool = False,
    remind_after: str = "24h",
    close_after: str = "72h",
) -> Result:
    actor.require_admin()
    kind = cadence
    day = validate.weekday(weekday)
    at = validate.local_time(time)
    week = validate.week_of_month(week_of_month) if week_of_month is not None else None
    if kind == CadenceKind.MONTHLY and week is None:
        raise UsageError("monthly_needs_week")
    start: date | None = validate.iso_date(anchor, "--anchor") if anchor else None
    if kind == CadenceKind.BIWEEKLY and start is None:
        raise UsageError("biweekly_needs_anchor")
    if timezone is not None and member_local:
        raise UsageError("timezone_or_member_local")
    zone = resolve_zone(timezone) if timezone else None
    remind = validate.duration(remind_after, "--remind-after")
    close = validate.duration(close_after, "--close-after")
    try:
        validate_close_after(kind, close, member_local)
    except ValueError:
        raise UsageError(
            "close_after_too_long_member_local" if member_local else "close_after_too_long",
            cadence=Key(f"cadence_{kind}"),
        ) from None
    if remind >= close:
        raise UsageError("remind_before_close")
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        schedule = await repo.schedule_of(session, team.id)
        if schedule is None:
            schedule = Schedule(
                team_id=team.id,
                cadence=kind,
                weekday=day,
                local_time=at,
                created_at=ctx.clock.now(),
            )
            session.add(schedule)
        schedule.cadence = kind
        schedule.weekday = day
        schedule.local_time = at
        schedule.week_of_month = week if kind == CadenceKind.MONTHLY else None
        schedule.anchor = start if kind == CadenceKind.BIWEEKLY else None
        schedule.timezone = zone
        schedule.member_local = member_local
        schedule.remind_after_minutes = int(remind.total_seconds() // 60)
        schedule.close_after_minutes = int(close.total_seconds() // 60)
        schedule.enabled = True
        await session.flush()
        data = schedule_json(schedule, team, workspace)
        audit.record(
            session,
            actor,
            AuditAction.SCHEDULE_SET,
            ctx.clock.now(),
            team_id=team.id,
            schedule=data,
        )
    t = _copy(actor)
    return Result(t.say("schedule_for", team=team.name, schedule=describe_schedule(data, t)), data)


async def schedule_enable(ctx: Context, actor: Actor, name: str, *, enabled: bool) -> Result:
    actor.require_admin()
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        schedule = await repo.schedule_of(session, team.id)
        if schedule is None:
            raise UsageError("no_schedule_yet", team=team.name)
        schedule.enabled = enabled
        audit.record(
            session,
            actor,
            AuditAction.SCHEDULE_ENABLED if enabled else AuditAction.SCHEDULE_DISABLED,
            ctx.clock.now(),
            team_id=team.id,
        )
        data = schedule_json(schedule, team, workspace)
    key = "schedule_enabled" if enabled else "schedule_disabled"
    return Result(_copy(actor).say(key, team=team.name), data)


async def schedule_show(ctx: Context, actor: Actor, name: str) -> Result:
    """The schedule and its next three openings, in the team's zone."""
    actor.require_admin()
    async with ctx.sessions() as session:
        workspace = await _workspace(session, actor)
        team = await require_team(session, workspace, name)
        schedule = await repo.schedule_of(session, team.id)
        data = schedule_json(schedule, team, workspace)
    t = _copy(actor)
    text = t.say("schedule_for", team=team.name, schedule=describe_schedule(data, t))
    if schedule is not None and data is not None:
        zone = schedule.timezone or team_zone(team, workspace)
        upcoming = openings(Cadence.from_row(schedule), zone, ctx.clock.now(), count=3)
        local = [moment.astimezone(ZoneInfo(zone)) for moment in upcoming]
        data["next"] = [moment.isoformat() for moment in local]
        shown = ", ".join(f"{m:%a %Y-%m-%d %H:%M}" for m in local)
        key = "next_openings" if schedule.enabled else "next_openings_disabled"
        text += "\n" + t.say(key, zone=zone, openings=shown)
    return Result(text, data)


# --- rounds ----------------------------------------------------------------------------------


class RoundAction(StrEnum):
    """What an admin can do to a team's round by hand: `rutradar round open|close|skip`,
    `/rut admin round …` and the admin panel's buttons (bot/chat/buttons.py `RoundVerb`, whose
    values these are) all name one of these."""

    OPEN = "open"
    CLOSE = "close"
    SKIP = "skip"


async def round_action(ctx: Context, actor: Actor, name: str, action: RoundAction) -> Result:
    actor.require_admin()
    async with ctx.sessions() as session:
        team = await require_team(session, await _workspace(session, actor), name)
    run = ROUND_ACTIONS.get(action)
    if run is None:
        raise UsageError("not_a_round_action", action=action)
    text, rnd, changed = await run(ctx, actor, team, _copy(actor))
    return Result(
        text,
        {"team": team.name, "period": rnd.period, "status": rnd.status, "changed": changed},
    )


async def _open(ctx: Context, actor: Actor, team: Team, t: Copy) -> tuple[str, Round, bool]:
    outcome = await open_round(ctx, actor, team)
    key = "round_opened" if outcome.changed else "round_already_open"
    return t.say(key, period=outcome.round.period, team=team.name), outcome.round, outcome.changed


async def _close(ctx: Context, actor: Actor, team: Team, t: Copy) -> tuple[str, Round, bool]:
    outcome = await close_round(ctx, actor, team)
    release = outcome.release
    key = "round_closed_now" if outcome.changed else "round_already_closed"
    text = t.say(key, period=outcome.round.period, team=team.name)
    if release is not None:
        text += " " + (
            t.say("round_released", respondents=release.respondents, delivered=release.delivered)
            if release.status == ReleaseStatus.RELEASED
            else t.say(
                "round_withheld", respondents=release.respondents, threshold=release.threshold
            )
        )
    if outcome.scrub_pending:
        text += " " + t.say("round_scrub_pending")
    return text, outcome.round, outcome.changed


async def _skip(ctx: Context, actor: Actor, team: Team, t: Copy) -> tuple[str, Round, bool]:
    outcome = await skip_round(ctx, actor, team)
    text = t.say("round_skipped", period=outcome.round.period, team=team.name)
    return text, outcome.round, outcome.changed


# Each action's handler: the line said, the round as it is now, and whether anything changed.
ROUND_ACTIONS: Mapping[
    RoundAction, Callable[[Context, Actor, Team, Copy], Awaitable[tuple[str, Round, bool]]]
] = {RoundAction.OPEN: _open, RoundAction.CLOSE: _close, RoundAction.SKIP: _skip}


async def panel_round_state(
    session: AsyncSession, t: Copy, team: Team, workspace: Workspace, now: datetime
) -> dict[str, Any]:
    """The admin panel's row for a team's round: what it says, and which buttons can succeed
    (no Open for a period whose round is already closed or skipped: when the next opens)."""
    rnd = await repo.open_round(session, team.id)
    if rnd is not None:
        answered, delivered = await repo.participation(session, rnd.id)
        state = t.say("admin_round_open", period=rnd.period, answered=answered, delivered=delivered)
        return {"open": True, "can_open": False, "state": state}
    plan = await manual_plan(session, team, workspace, now)
    done = await repo.round_for(session, team.id, plan.period)
    if done is None:
        return {"open": False, "can_open": True, "state": t.say("admin_round_none")}
    zone = team_zone(team, workspace)
    upcoming = next_opening(await repo.schedule_of(session, team.id), zone, done)
    if upcoming is not None:
        state = t.say("admin_round_done_next", period=done.period, day=upcoming.isoformat())
    else:
        day = period_end(done.period, zone).date().isoformat()
        state = t.say("admin_round_done", period=done.period, day=day)
    return {"open": False, "can_open": False, "state": state}


async def close_preview(ctx: Context, actor: Actor, name: str) -> str:
    """What closing the team's open round now will do, said before it is done."""
    actor.require_admin()
    t = _copy(actor)
    async with ctx.sessions() as session:
        team = await require_team(session, await _workspace(session, actor), name)
        rnd = await repo.open_round(session, team.id)
        if rnd is None:
            raise ConflictError("no_open_round", team=team.name)
        answered, delivered = await repo.participation(session, rnd.id)
        values = {
            "team": team.name,
            "period": rnd.period,
            "answered": answered,
            "delivered": delivered,
            "threshold": rnd.threshold,
        }
        if answered < rnd.threshold:
            return t.say("admin_close_withhold", **values)
        audience = await summary_audience(session, team, rnd)
        return t.say("admin_close_release", managers=len(audience), **values)


async def round_list(ctx: Context, actor: Actor, name: str) -> Result:
    actor.require_admin()
    async with ctx.sessions() as session:
        team = await require_team(session, await _workspace(session, actor), name)
        rows = []
        for rnd in await repo.rounds_of(session, team.id):
            release = await repo.release_of(session, rnd.id)
            rows.append(
                {
                    "period": rnd.period,
                    "status": rnd.status,
                    "opens": rnd.opens_at.isoformat(),
                    "closes": rnd.closes_at.isoformat(),
                    "respondents": release.respondents if release else None,
                    "delivered": release.delivered if release else None,
                    "unreachable": await _unreachable(session, rnd.id)
                    if rnd.status == RoundStatus.OPEN
                    else None,
                    "scrub_pending": rnd.scrub_pending,
                }
            )
    t = _copy(actor)
    if not rows:
        return Result(t.say("no_rounds_yet", team=team.name), [])
    text = "\n".join(
        f"{r['period']}: {r['status']}"
        + (
            f" ({t.say('of_count', respondents=r['respondents'], delivered=r['delivered'])})"
            if r["respondents"] is not None
            else ""
        )
        + (f", {t.say('round_unreachable', count=r['unreachable'])}" if r["unreachable"] else "")
        + (f", {t.say('round_closed_scrub_pending')}" if r["scrub_pending"] else "")
        for r in rows
    )
    return Result(text, rows)


async def _unreachable(session: AsyncSession, round_id: int) -> int:
    """Prompts of an open round that failed for good (a person the platform cannot reach,
    e.g. Teams without the app installed for them): a count, never names."""
    count = await session.scalar(
        select(func.count()).where(
            Delivery.round_id == round_id,
            Delivery.kind == DeliveryKind.PROMPT,
            Delivery.status == DeliveryStatus.FAILED,
        )
    )
    return int(count or 0)


async def remove_people(ctx: Context, actor: Actor, user_ids: list[str]) -> Result:
    """An admin removing a person: the same erasure as `/rut forget-me` (design "Deletion")."""
    actor.require_admin()
    removed: list[str] = []
    async with ctx.sessions.begin() as session:
        workspace = await _workspace(session, actor)
        for raw in user_ids:
            person = await require_person(session, workspace, raw)
            if actor.person is not None and person.id == actor.person.id:
                raise ConflictError("erase_yourself")
            removed.append(person.user_id)
            await erase_person(session, workspace.id, person.id, ctx.clock.now(), by=actor.label)
    return Result(_copy(actor).say("people_erased", users=", ".join(removed)), {"removed": removed})
