"""A simple in-process outbox dispatcher: claims due deliveries and sends them.

Claiming is a compare-and-set on the row's status, so two processes never both send the
same delivery. The rounds issue extends this with leases, rate limits and retries; the
contract (claim → send → record the platform's reference) stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy import or_, select, update

from bot.context import Context
from bot.events import ConversationRef
from bot.ports import Adapter, DeliveryError
from bot.views import prompt_message
from messages.copy import copy_for
from storage.models import Delivery, Person, Round, Team, Workspace

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BATCH = 50
MAX_ATTEMPTS = 5


class Dispatcher:
    def __init__(
        self,
        ctx: Context,
        adapters: Mapping[str, Adapter],
        *,
        interval: float = 5.0,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.adapters = adapters
        self.interval = interval
        self._on_result = on_result or (lambda _platform, _result: None)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """The loop the app's task group owns: work, then wait to be woken or for the interval."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("dispatch pass failed")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    async def run_once(self) -> int:
        """One pass over what is due; returns how many were sent (tests drive this directly)."""
        sent = 0
        for delivery_id in await self._due():
            if await self._claim(delivery_id):
                sent += await self._send(delivery_id)
        return sent

    async def _due(self) -> list[str]:
        now = self.ctx.clock.now()
        async with self.ctx.sessions() as session:
            rows = await session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.kind.in_(("prompt", "reminder")),
                    Delivery.not_before <= now,
                    or_(
                        Delivery.status == "pending",
                        (Delivery.status == "sending") & (Delivery.lease_until < now),
                    ),
                    or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
                )
                .limit(BATCH)
            )
            return list(rows.all())

    async def _claim(self, delivery_id: str) -> bool:
        now = self.ctx.clock.now()
        async with self.ctx.sessions.begin() as session:
            result = await session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    or_(
                        Delivery.status == "pending",
                        (Delivery.status == "sending") & (Delivery.lease_until < now),
                    ),
                )
                .values(status="sending", lease_until=now + LEASE, attempts=Delivery.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _send(self, delivery_id: str) -> int:
        async with self.ctx.sessions() as session:
            row = (
                await session.execute(
                    select(Delivery, Person, Round, Team, Workspace)
                    .join(Person, Person.id == Delivery.person_id)
                    .join(Round, Round.id == Delivery.round_id)
                    .join(Team, Team.id == Round.team_id)
                    .join(Workspace, Workspace.id == Team.workspace_id)
                    .where(Delivery.id == delivery_id)
                )
            ).first()
        if row is None:
            # The person was erased (or the row vanished with its round): nobody to ask.
            await self._finish(delivery_id, "skipped")
            return 0
        delivery, person, rnd, team, workspace = row
        adapter = self.adapters.get(workspace.platform)
        if adapter is None or not person.conversation_ref:
            # No way to reach them yet: leave it for when they first talk to the bot.
            await self._finish(delivery_id, "pending", retry_in=timedelta(minutes=10))
            return 0
        t = copy_for(person.locale or workspace.locale)
        message = prompt_message(t, team.name, rnd.period)
        try:
            ref = await adapter.send(ConversationRef.from_json(person.conversation_ref), message)
        except DeliveryError as exc:
            if exc.permanent or delivery.attempts >= MAX_ATTEMPTS:
                log.warning("delivery failed permanently", extra={"reason": exc.reason})
                await self._finish(delivery_id, "failed")
                self._on_result(workspace.platform, "failed")
            else:
                wait = timedelta(seconds=exc.retry_after or 30 * delivery.attempts)
                await self._finish(delivery_id, "pending", retry_in=wait)
                self._on_result(workspace.platform, "retry")
            return 0
        await self._finish(delivery_id, "sent", message_ref=ref.to_json())
        self._on_result(workspace.platform, "sent")
        return 1

    async def _finish(
        self,
        delivery_id: str,
        status: str,
        *,
        retry_in: timedelta | None = None,
        message_ref: dict[str, str] | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status, "lease_until": None}
        if retry_in is not None:
            values["next_attempt_at"] = self.ctx.clock.now() + retry_in
        if message_ref is not None:
            values["message_ref"] = message_ref
        async with self.ctx.sessions.begin() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
