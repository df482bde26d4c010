"""Finding and creating workspaces and people, and resolving an Actor for an event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import AuditAction, System
from bot.core.errors import UsageError
from bot.core.events import Event
from storage import repositories as repo
from storage.models import Person, Team, Workspace
from storage.values import MembershipRole, PersonRole


def person_changes(person: Person, event: Event) -> dict[str, object]:
    """What this event teaches about its sender that the row does not say yet: empty for
    almost every event, which is how a read stays a read (no write transaction at all)."""
    learned: dict[str, object] = {"stub": False}
    if event.personal:  # a channel command (Teams) never replaces the 1:1 reference
        learned["conversation_ref"] = event.where.to_json()
    if event.display_name:
        learned["display_name"] = event.display_name
    if event.timezone and not person.timezone:
        learned["timezone"] = event.timezone
    if event.locale and not person.locale:
        learned["locale"] = event.locale
    if event.grants_admin and person.role != PersonRole.ADMIN:
        learned["role"] = PersonRole.ADMIN
    return {name: value for name, value in learned.items() if getattr(person, name) != value}


async def person_for_event(
    session: AsyncSession, workspace: Workspace, event: Event, now: datetime
) -> Person:
    """The sender, created on first contact; a CLI-made stub is completed here.

    Reads never write (privacy rule 12): only what `person_changes` finds new is assigned, so
    a row nothing new was learned about is not rewritten. A rewritten row would date the
    person's every contact (PostgreSQL's `xmin` names the writing transaction, a neighbour of
    the check-in's). SQLAlchemy happens to skip equal values too, but this does not rest on it.
    """
    person = await repo.person_by_user_id(session, workspace.id, event.user_id)
    if person is None:
        person = Person(workspace_id=workspace.id, user_id=event.user_id, role=PersonRole.MEMBER)
        session.add(person)
    changes = person_changes(person, event)
    if changes.get("role") == PersonRole.ADMIN:
        audit.record(
            session,
            System.platform_admin(workspace.id, workspace.platform),
            AuditAction.ADMIN_GRANTED_BY_PLATFORM,
            now,
            user=person.user_id,
        )
    for name, value in changes.items():
        setattr(person, name, value)
    await session.flush()
    return person


async def actor_for(session: AsyncSession, workspace: Workspace, person: Person) -> Actor:
    teams: list[tuple[MembershipRole, Team]] = []
    for membership in await repo.memberships_of(session, person.id):
        team = await session.get(Team, membership.team_id)
        if team is not None:
            teams.append((membership.role, team))
    return actor_of(workspace, person, teams)


def actor_of(
    workspace: Workspace, person: Person, teams: Iterable[tuple[MembershipRole, Team]]
) -> Actor:
    """The actor from rows already read (`repo.sender_rows`): a member's home team, the teams
    they manage, and whether they administer the workspace."""
    home: Team | None = None
    managed: list[Team] = []
    for role, team in teams:
        if role == MembershipRole.MEMBER:
            home = team
        else:
            managed.append(team)
    return Actor(
        workspace=workspace,
        person=person,
        is_admin=person.role == PersonRole.ADMIN,
        home_team=home,
        managed=tuple(sorted(managed, key=lambda t: t.name)),
    )


async def require_workspace(session: AsyncSession, external_id: str | None) -> Workspace:
    """`--workspace` may be left out when there is exactly one workspace."""
    if external_id:
        workspace = await repo.workspace_by_external_id(session, external_id)
        if workspace is None:
            raise UsageError("no_such_workspace", workspace=external_id)
        return workspace
    workspaces = await repo.all_workspaces(session)
    if len(workspaces) == 1:
        return workspaces[0]
    if not workspaces:
        raise UsageError("no_workspace_yet")
    ids = ", ".join(w.external_id for w in workspaces)
    raise UsageError("several_workspaces", ids=ids)


async def require_team(session: AsyncSession, workspace: Workspace, name: str) -> Team:
    team = await repo.team_by_name(session, workspace.id, name)
    if team is None:
        names = ", ".join(t.name for t in await repo.teams_in(session, workspace.id))
        if not names:
            raise UsageError("no_such_team_none", team=name)
        raise UsageError("no_such_team", team=name, teams=names)
    return team


async def require_person(
    session: AsyncSession, workspace: Workspace, raw_user_id: str, *, create_stub: bool = False
) -> Person:
    # A plain id: a platform's mention syntax (Slack's `<@U123|name>`) is made one by its
    # adapter, and the command line takes a pasted `@U123` off in its own parsing.
    user_id = raw_user_id.strip()
    if not user_id:
        raise UsageError("user_id_needed")
    person = await repo.person_by_user_id(session, workspace.id, user_id)
    if person is None:
        if not create_stub:
            raise UsageError("unknown_user", user=user_id)
        person = Person(
            workspace_id=workspace.id, user_id=user_id, role=PersonRole.MEMBER, stub=True
        )
        session.add(person)
        await session.flush()
    return person
