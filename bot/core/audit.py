"""Audit trail: every admin change and every time someone saw a team's results.

One way in (`record`), one way out for an erased person (`forget`). Who acted is an `Actor`
(a person, or the command line) or, where no person acted, a `System` (the platform, an
installation, retention). What happened is an `AuditAction`; its values are the stored
strings, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actor import Actor
from messages.copy import Copy
from storage.models import AuditEvent

# What an erased person is called in the audit trail: as the actor of their events, and
# wherever a detail named them by their platform user id.
ERASED = "erased person"


class AuditAction(StrEnum):
    WORKSPACE_ADDED = "workspace_added"
    WORKSPACE_UPDATED = "workspace_updated"
    WORKSPACE_SET = "workspace_set"
    APP_INSTALLED = "app_installed"
    APP_UNINSTALLED = "app_uninstalled"
    PERSON_UNINSTALLED = "person_uninstalled"
    ADMIN_ADDED = "admin_added"
    ADMIN_REMOVED = "admin_removed"
    ADMIN_GRANTED_BY_PLATFORM = "admin_granted_by_platform"
    PERSON_ERASED = "person_erased"
    TEAM_ADDED = "team_added"
    TEAM_REMOVED = "team_removed"
    TEAM_MEMBERS_ADDED = "team_members_added"
    TEAM_MEMBERS_REMOVED = "team_members_removed"
    TEAM_MANAGERS_ADDED = "team_managers_added"
    TEAM_MANAGERS_REMOVED = "team_managers_removed"
    SCHEDULE_SET = "schedule_set"
    SCHEDULE_ENABLED = "schedule_enabled"
    SCHEDULE_DISABLED = "schedule_disabled"
    ROUND_OPENED = "round_opened"
    ROUND_CLOSED = "round_closed"
    ROUND_SKIPPED = "round_skipped"
    SUMMARY_VIEWED = "summary_viewed"
    RESULTS_EXPORTED = "results_exported"
    RELEASES_PURGED = "releases_purged"


@dataclass(frozen=True, slots=True)
class System:
    """An actor that is no person, in one workspace: `label` is what the trail stores."""

    workspace_id: int
    label: str

    @staticmethod
    def platform(workspace_id: int, platform: str) -> System:
        """The platform reporting a life event (an uninstall)."""
        return System(workspace_id, f"{platform} platform")

    @staticmethod
    def installation(workspace_id: int, platform: str) -> System:
        return System(workspace_id, f"{platform} installation")

    @staticmethod
    def platform_admin(workspace_id: int, platform: str) -> System:
        """The platform vouching that someone administers the workspace (Slack `is_admin`)."""
        return System(workspace_id, f"{platform} workspace admin")

    @staticmethod
    def retention(workspace_id: int) -> System:
        return System(workspace_id, "retention")


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
    actor: Actor | System,
    action: AuditAction,
    at: datetime,
    *,
    team_id: int | None = None,
    **detail: Any,
) -> None:
    """Add one audit event to the caller's transaction: committed with the change or not at
    all."""
    if isinstance(actor, System):
        workspace_id, person_id = actor.workspace_id, None
    else:
        workspace_id, person_id = actor.workspace.id, actor.person_id
    session.add(
        AuditEvent(
            workspace_id=workspace_id,
            at=at,
            actor_person_id=person_id,
            actor_label=actor.label,
            action=AuditAction(action),
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


async def forget(session: AsyncSession, workspace_id: int, people: Mapping[int, str]) -> None:
    """The trail forgets erased people (`{person id: platform user id}`): the events they made
    are relabelled `ERASED` and unlinked, and every detail naming one of them by user id says
    `ERASED` instead. Used by every erasure: forget-me, an admin removing someone, a platform
    uninstall."""
    if not people:
        return
    await session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_person_id.in_(list(people)))
        .values(actor_person_id=None, actor_label=ERASED)
    )
    user_ids = set(people.values())
    events = await session.scalars(
        select(AuditEvent).where(
            AuditEvent.workspace_id == workspace_id, AuditEvent.detail.is_not(None)
        )
    )
    for event in events.all():
        scrubbed = _scrub(event.detail, user_ids)
        if scrubbed != event.detail:
            event.detail = scrubbed


def _scrub(value: Any, user_ids: Collection[str]) -> Any:
    if isinstance(value, str):
        return ERASED if value in user_ids else value
    if isinstance(value, list):
        return [_scrub(v, user_ids) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, user_ids) for k, v in value.items()}
    return value
