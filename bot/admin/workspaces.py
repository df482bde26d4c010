"""The port for workspace life events and the people list.

Adapters reach data only through here (and the engine): they report what the platform told
them — an install, an uninstall, a person removing the app — and read the people list as plain
dataclasses, never ORM rows. The deletion table of the design is kept here, at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import audit
from bot.core.audit import AuditAction, System
from bot.core.context import Context
from bot.core.events import ConversationRef
from storage import repositories as repo
from storage.db import long_transaction
from storage.models import Delivery, Membership, Person, Round, Team, Workspace
from storage.values import DeliveryStatus, MembershipRole, PersonRole

# Delivery states past the point where a skip could still change anything: handed to the
# platform (`sending`) or decided. Everything else (pending, or claimed but not yet being
# sent) is still waiting and can be skipped. Named by exclusion so that a waiting state added
# to the dispatcher is covered without a change here.
_SETTLED = (
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
)


# --- what adapters read ------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamRole:
    """One of a person's teams: `member` of their home team, `manager` of the ones they manage."""

    team: str
    role: MembershipRole


@dataclass(frozen=True)
class PersonEntry:
    """A person as the people list shows them: no ids of ours, no conversation reference."""

    platform: str
    workspace: str  # the platform's external id
    workspace_name: str
    user_id: str
    display_name: str
    is_admin: bool
    teams: tuple[TeamRole, ...]

    @property
    def roles(self) -> list[str]:
        """Every role the person holds, as sorted strings: their team roles, and admin; member
        when they hold none (the playground's people list shows them)."""
        roles = {t.role.value for t in self.teams}
        if self.is_admin:
            roles.add(PersonRole.ADMIN.value)
        return sorted(roles) or [MembershipRole.MEMBER.value]


async def _entry(session: AsyncSession, workspace: Workspace, person: Person) -> PersonEntry:
    teams = []
    for membership in await repo.memberships_of(session, person.id):
        team = await session.get(Team, membership.team_id)
        teams.append(TeamRole(team.name if team else "?", membership.role))
    return PersonEntry(
        platform=workspace.platform,
        workspace=workspace.external_id,
        workspace_name=workspace.name,
        user_id=person.user_id,
        display_name=person.display_name,
        is_admin=person.role == PersonRole.ADMIN,
        teams=tuple(teams),
    )


async def people_on(ctx: Context, platform: str) -> list[PersonEntry]:
    """Everyone in the platform's workspaces: workspaces in creation order, people by name."""
    out: list[PersonEntry] = []
    async with ctx.sessions() as session:
        for workspace in await repo.all_workspaces(session):
            if workspace.platform != platform:
                continue
            for person in await repo.people_in(session, workspace.id):
                out.append(await _entry(session, workspace, person))
    return out


async def person_on(
    ctx: Context, platform: str, external_id: str, user_id: str
) -> PersonEntry | None:
    """One known person of one of the platform's workspaces, or None (unknown workspace or
    person). Reads only: a person is created by the engine on first contact, not here."""
    async with ctx.sessions() as session:
        workspace = await repo.workspace_by_external_id(session, external_id, platform)
        if workspace is None:
            return None
        person = await repo.person_by_user_id(session, workspace.id, user_id)
        if person is None:
            return None
        return await _entry(session, workspace, person)


# --- workspace life events ---------------------------------------------------------------------


async def _record_install(
    session: AsyncSession,
    now: datetime,
    platform: str,
    external_id: str,
    name: str | None,
    installation: Mapping[str, Any] | None,
) -> Workspace:
    """Create the workspace on its first install, or take the new installation data. The name
    is only filled in, never overwritten: an admin may have chosen it (`workspace add`)."""
    workspace = await repo.workspace_by_external_id(session, external_id, platform)
    if workspace is None:
        workspace = Workspace(platform=platform, external_id=external_id, name=name or external_id)
        session.add(workspace)
        await session.flush()
    elif name and not workspace.name:
        workspace.name = name
    if installation is not None:
        workspace.installation = {**installation, "installed_at": now.isoformat()}
    return workspace


async def workspace_installed(
    ctx: Context,
    platform: str,
    external_id: str,
    *,
    name: str | None = None,
    installation: Mapping[str, Any] | None = None,
) -> None:
    """The app was installed (or reinstalled) into a workspace; nobody is granted anything.
    This is the Teams path: there only `rutradar admin add` makes admins (design: "First
    admins"). Audited as `app_installed`."""
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await _record_install(session, now, platform, external_id, name, installation)
        audit.record(
            session, System.installation(workspace.id, platform), AuditAction.APP_INSTALLED, now
        )


async def installed_by(
    ctx: Context,
    platform: str,
    external_id: str,
    *,
    name: str | None,
    installer_user_id: str,
    installer_name: str | None = None,
    installer_ref: ConversationRef | None = None,
    installation: Mapping[str, Any] | None = None,
) -> None:
    """An install by a known person (Slack OAuth): the workspace is created or updated and the
    installer becomes its first admin, in one transaction, audited as `app_installed` naming
    the installer. A repeat install adds an audit event and duplicates nothing.

    `installer_ref` is where to reach a newly created installer; an existing person keeps
    theirs (the engine refreshes it on their next contact)."""
    now = ctx.clock.now()
    async with ctx.sessions.begin() as session:
        workspace = await _record_install(session, now, platform, external_id, name, installation)
        installer = await repo.person_by_user_id(session, workspace.id, installer_user_id)
        if installer is None:
            installer = Person(
                workspace_id=workspace.id,
                user_id=installer_user_id,
                display_name=installer_name or "",
                role=PersonRole.ADMIN,
                conversation_ref=installer_ref.to_json() if installer_ref else None,
            )
            session.add(installer)
        elif installer_name and not installer.display_name:
            installer.display_name = installer_name
        installer.role = PersonRole.ADMIN
        audit.record(
            session,
            System.installation(workspace.id, platform),
            AuditAction.APP_INSTALLED,
            now,
            installer=installer_user_id,
        )


async def platform_uninstalled(ctx: Context, platform: str, external_id: str) -> bool:
    """Delete the workspace's people, memberships and deliveries. Teams, rounds and releases
    stay (releases until the retention), as does the audit trail, with people erased."""
    async with long_transaction(ctx.sessions) as session:
        workspace = await repo.workspace_by_external_id(session, external_id, platform)
        if workspace is None:
            return False
        team_ids = select(Team.id).where(Team.workspace_id == workspace.id)
        round_ids = select(Round.id).where(Round.team_id.in_(team_ids))
        people = (
            await session.execute(
                select(Person.id, Person.user_id).where(Person.workspace_id == workspace.id)
            )
        ).all()
        await session.execute(delete(Delivery).where(Delivery.round_id.in_(round_ids)))
        await session.execute(delete(Membership).where(Membership.team_id.in_(team_ids)))
        # Everyone in the workspace is erased: the trail forgets them as forget-me does.
        await audit.forget(session, workspace.id, dict(people))
        await session.execute(delete(Person).where(Person.workspace_id == workspace.id))
        workspace.installation = None
        audit.record(
            session,
            System.platform(workspace.id, platform),
            AuditAction.APP_UNINSTALLED,
            ctx.clock.now(),
        )
    return True


async def person_uninstalled(ctx: Context, platform: str, external_id: str, user_id: str) -> bool:
    """A person removed the app from their personal scope (Teams): forget how to reach them and
    skip their deliveries still waiting to go out. False for an unknown workspace or person.

    Their person, memberships and role stay (they are still in the workspace; installing the
    app again, or writing to the bot, gives the engine a new reference). A prompt already
    answered is left alone, so answered never exceeds delivered; a send already in flight is
    left to the dispatcher. The audit event names the person only: not what they answered, nor
    how many deliveries were skipped (that count would say whether they had answered)."""
    async with ctx.sessions.begin() as session:
        workspace = await repo.workspace_by_external_id(session, external_id, platform)
        if workspace is None:
            return False
        person = await repo.person_by_user_id(session, workspace.id, user_id)
        if person is None:
            return False
        person.conversation_ref = None
        await session.execute(
            update(Delivery)
            .where(
                Delivery.person_id == person.id,
                Delivery.status.notin_(_SETTLED),
                Delivery.answered.is_(False),
            )
            .values(status=DeliveryStatus.SKIPPED, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            System.platform(workspace.id, platform),
            AuditAction.PERSON_UNINSTALLED,
            ctx.clock.now(),
            user=user_id,
        )
    return True


async def known_service_url(ctx: Context, platform: str, external_id: str) -> str | None:
    """A service URL the platform gave for one of the workspace's conversations (Teams: the
    `serviceUrl` kept in a person's reference, verified when it arrived), to open a
    conversation with someone the bot has not talked to yet. None when there is none."""
    async with ctx.sessions() as session:
        workspace = await repo.workspace_by_external_id(session, external_id, platform)
        if workspace is None:
            return None
        refs = await session.scalars(
            select(Person.conversation_ref)
            .where(Person.workspace_id == workspace.id, Person.conversation_ref.is_not(None))
            .order_by(Person.id.desc())
            .limit(20)
        )
        for ref in refs:
            url = (ref or {}).get("service_url")
            if isinstance(url, str) and url:
                return url
    return None
