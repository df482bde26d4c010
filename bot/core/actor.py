"""Who is acting, and what they may do: decided once per event, never per adapter."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import NotAllowed
from storage.models import Person, Team, Workspace


@dataclass(frozen=True)
class Actor:
    """A person in chat, or the operator at the command line (person None, all powers)."""

    workspace: Workspace
    person: Person | None
    is_admin: bool
    home_team: Team | None = None
    managed: tuple[Team, ...] = ()

    @property
    def label(self) -> str:
        """How audit events name the actor."""
        if self.person is None:
            return "command line"
        return self.person.display_name or self.person.user_id

    @property
    def person_id(self) -> int | None:
        return self.person.id if self.person else None

    def manages(self, team: Team) -> bool:
        return any(t.id == team.id for t in self.managed)

    def require_admin(self) -> None:
        if not self.is_admin:
            raise NotAllowed("not_admin")

    def require_manager_of(self, team: Team) -> None:
        if self.person is None:
            return
        if not self.manages(team):
            raise NotAllowed("not_manager_of", team=team.name)


def cli_actor(workspace: Workspace) -> Actor:
    return Actor(workspace=workspace, person=None, is_admin=True)
