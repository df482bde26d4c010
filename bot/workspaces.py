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
