"""Workspace life events that platforms report: uninstalling the app deletes what the design's
deletion table says, at once."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from bot.context import Context
from storage import repositories as repo
from storage.models import AuditEvent, Delivery, Membership, Person, Round, Team


async def platform_uninstalled(ctx: Context, platform: str, external_id: str) -> bool:
    """Delete the workspace's people, memberships and deliveries. Teams, rounds and releases
    stay (releases until the retention), as does the audit trail, with people erased."""
    async with ctx.sessions.begin() as session:
        workspace = await repo.workspace_by_external_id(session, external_id, platform)
        if workspace is None:
            return False
        team_ids = select(Team.id).where(Team.workspace_id == workspace.id)
        round_ids = select(Round.id).where(Round.team_id.in_(team_ids))
        person_ids = select(Person.id).where(Person.workspace_id == workspace.id)
        await session.execute(delete(Delivery).where(Delivery.round_id.in_(round_ids)))
        await session.execute(delete(Membership).where(Membership.team_id.in_(team_ids)))
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.actor_person_id.in_(person_ids))
            .values(actor_person_id=None, actor_label="erased person")
        )
        await session.execute(delete(Person).where(Person.workspace_id == workspace.id))
        workspace.installation = None
        session.add(
            AuditEvent(
                workspace_id=workspace.id,
                at=ctx.clock.now(),
                actor_person_id=None,
                actor_label=f"{platform} platform",
                action="app_uninstalled",
            )
        )
    return True


# --- a person's own scope (Teams) ---------------------------------------------------------------

# Delivery states past the point where a skip could still change anything: handed to the
# platform (`sending`) or decided. Everything else is still waiting and can be skipped.
_SETTLED = ("sending", "sent", "failed", "skipped")


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
            .values(status="skipped", lease_until=None)
            .execution_options(synchronize_session=False)
        )
        session.add(
            AuditEvent(
                workspace_id=workspace.id,
                at=ctx.clock.now(),
                actor_person_id=None,
                actor_label=f"{platform} platform",
                action="person_uninstalled",
                detail={"user": user_id},
            )
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
