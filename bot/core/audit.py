"""Audit trail: every admin change and every time someone saw a team's results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actor import Actor
from messages.copy import Copy
from storage.models import AuditEvent

# The actors audit rows store where no person acted (`Actor.label`, the installs and the
# platform's own grants): stable English words, kept as they are in the row and in exports
# (`rutradar audit list --json`), and said in the reader's language only when shown.
_SYSTEM_ACTORS = {"command line": "actor_command_line", "erased person": "actor_erased"}
_PLATFORM_ACTOR = re.compile(r"^(slack|teams|playground) (installation|platform|workspace admin)$")
_PLATFORM_KEYS = {
    "installation": "actor_installation",
    "platform": "actor_platform",
    "workspace admin": "actor_platform_admin",
}


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


def said_actor(t: Copy, label: str) -> str:
    """An audit row's stored actor as the reader reads it: a system actor in `t`'s language,
    a person's name as it is."""
    if label in _SYSTEM_ACTORS:
        return t.say(_SYSTEM_ACTORS[label])
    if m := _PLATFORM_ACTOR.match(label):
        return t.say(_PLATFORM_KEYS[m[2]], platform=m[1])
    return label
