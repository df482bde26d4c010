"""What every service needs, built once by the composition root (or a test) and passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.lookups import Lookups


def _no_wake() -> None:
    return None


@dataclass
class Context:
    database: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    wake_dispatcher: Callable[[], None] = field(default=_no_wake)
    # Who is acting, cached per process (bot/core/lookups.py); off (ttl 0) unless the composition
    # root turns it on. Emptied by every commit of this context's sessions that changes a
    # workspace, person, team or membership.
    lookups: Lookups | None = None

    def __post_init__(self) -> None:
        if self.lookups is None:
            self.lookups = Lookups(self.clock, ttl=0)
        listeners = getattr(self.sessions, "on_commit", None)
        if isinstance(listeners, list):
            listeners.append(self.lookups.written)
