"""Background work owned by one task group, so nothing is dropped or garbage-collected mid-run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervisor:
    """Wraps an asyncio.TaskGroup: a failing task is logged, never cancels its siblings."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> Supervisor:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._group is not None
        group, self._group = self._group, None
        await group.__aexit__(*exc)  # type: ignore[arg-type]

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any] | None:
        if self._group is None:
            coro.close()
            log.warning("task %s refused: shutting down", name)
            return None
        task = self._group.create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for what is running now, including what it spawns meanwhile (the stop's
        drain; tests use it instead of sleeping)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        """Cut what is running short (a second stop signal): the stop then waits for nothing.
        A delivery cut off mid-send stays leased and is retaken, and checked, later."""
        for task in list(self._tasks):
            task.cancel()

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s failed", name)
