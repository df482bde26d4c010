"""What every service needs, built once by the composition root (or a test) and passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock


def _no_wake() -> None:
    return None


@dataclass
class Context:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    wake_dispatcher: Callable[[], None] = field(default=_no_wake)
