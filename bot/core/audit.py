"""Audit trail: every admin change and every time someone saw a team's results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actor import Actor
from storage.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    at: datetime,
    *,
    team_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            workspace_id=actor.workspace.id,
            at=at,
            actor_person_id=actor.person_id,
            actor_label=actor.label,
            action=action,
            team_id=team_id,
            detail=detail or None,
        )
    )
