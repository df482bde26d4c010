"""The outbox dispatcher: claims due deliveries with a lease and sends them at the workspace's
rate, so any number of replicas together send each message once.

- Claiming is one `UPDATE … RETURNING` (PostgreSQL adds `FOR UPDATE SKIP LOCKED` to the
  subquery), so two replicas never hold the same delivery.
- Each delivery is `sending` before the platform is called. If a process dies between the
  platform accepting a message and the commit, the lease expires and the next claim finds it;
  where the adapter can look (Slack: the delivery id in the message's metadata), recovery
  checks the platform before sending again. Elsewhere that instant is the documented window.
- The send rate and any pause a platform asked for (429 `Retry-After`) live in the database
  (`send_windows`), so they hold for all replicas together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.actor import Actor
from bot.context import Context
from bot.events import ConversationRef
from bot.ports import Adapter, Addressable, DeliveryError, Recoverable
from bot.rounds import is_paused
from bot.summary import team_summary
from bot.views import prompt_message, reminder_message, summary_message
from messages.copy import copy_for
from messages.model import Message
from storage.models import Delivery, Membership, Person, Round, SendWindow, Team, Workspace

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BATCH = 50
CONCURRENCY = (
    8  # PostgreSQL: deliveries in flight per process; the send window paces each workspace
)
MAX_ATTEMPTS = 8
BACKOFF_BASE = 5.0  # seconds, doubled per attempt, ±25 % jitter
BACKOFF_CAP = 600.0

LOST = object()  # a claim another process has retaken
Rates = Callable[[str], float]  # platform → messages per second per workspace (0 = no limit)


@dataclass(frozen=True)
class Claim:
    id: str
    token: int  # the attempt number this claim set; a retake bumps it
    suspect: bool  # retaken after a lease ran out: the platform may already have it


@dataclass(frozen=True)
class Loaded:
    delivery: Delivery
    person: Person
    round: Round
    team: Team
    workspace: Workspace
    prompt_answered: bool  # for reminders: nobody is reminded after answering
    still_manager: bool = True  # for summaries: only to someone who may still see the round


def backoff(attempts: int, rng: random.Random) -> float:
    """Jittered exponential backoff, so retries from many replicas spread out."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return base * rng.uniform(0.75, 1.25)


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (Delivery.status == "pending")
        & (Delivery.not_before <= now)
        & or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    )


class Dispatcher:
    def __init__(
        self,
        ctx: Context,
        adapters: Mapping[str, Adapter],
        *,
        interval: float = 5.0,
        rates: Rates | None = None,
        on_result: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None,
        lease: timedelta = LEASE,
        concurrency: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.adapters = adapters
        self.interval = interval
        self._rates = rates or (lambda _platform: 0.0)
        report = on_result or (lambda _platform, _result: None)
        self._results: Counter[str] = Counter()  # every outcome so far, for each pass's log line

        def _on_result(platform: str, result: str) -> None:
            self._results[result] += 1
            report(platform, result)

        self._on_result = _on_result
        self._rng = rng or random.Random()
        self._lease = lease
        if concurrency is None:  # measured (docs/benchmarks.md): SQLite is fastest one at a time
            concurrency = 1 if ctx.engine.dialect.name == "sqlite" else CONCURRENCY
        self._concurrency = max(1, concurrency)
        # This process's view of 429 pauses, for sends already past their slot.
        self._paused: dict[int, datetime] = {}
        # SQLite takes one writer at a time; queueing writers here, rather than in SQLite's
        # busy handler (which sleeps and retries), lets sends overlap without contention.
        self._write_turn = asyncio.Lock() if ctx.engine.dialect.name == "sqlite" else None
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Take no new work; a send in flight finishes, claimed-but-unsent rows are released."""
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
                await asyncio.wait_for(self._wake.wait(), timeout=await self._idle_for())

    async def _idle_for(self) -> float:
        """Until the next delivery falls due (a Retry-After ending, a member's morning), but
        never longer than the interval, which also picks up rows other replicas queue."""
        now = self.ctx.clock.now()
        async with self.ctx.sessions() as session:
            upcoming = await session.scalar(
                select(
                    func.min(func.coalesce(Delivery.next_attempt_at, Delivery.not_before))
                ).where(Delivery.status == "pending")
            )
        if upcoming is None:
            return self.interval
        return max(0.0, min(self.interval, (upcoming - now).total_seconds()))

    async def run_once(self) -> int:
        """Claim and send what is due until nothing is; returns how many were sent.

        A batch is worked by a few deliveries at a time (the send slots still pace each
        workspace), so database and network round trips overlap instead of adding up."""
        sent, before = 0, self._results.copy()
        while not self._stopping:
            retaken = await self._claim(expired=True)
            fresh = await self._claim(expired=False)
            if not retaken and not fresh:
                break
            claims = [*retaken, *fresh]
            loaded = await self._load_many([claim.id for claim in claims])
            gate = asyncio.Semaphore(self._concurrency)
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._gated(gate, claim, loaded.get(claim.id)))
                    for claim in claims
                ]
            sent += sum(task.result() for task in tasks)
        self._log_pass(sent, self._results - before)
        return sent

    @staticmethod
    def _log_pass(sent: int, results: Counter[str]) -> None:
        """One INFO line for a pass that did something, none for an idle one (every few
        seconds on every replica). Counts only: sent includes those found already sent."""
        parts = {
            "sent": sent,
            "failed": results["failed"],
            "retrying": results["retry"],
            "skipped": sum(n for result, n in results.items() if result.startswith("skipped")),
        }
        if any(parts.values()):
            log.info("dispatcher pass: %s", ", ".join(f"{k} {n}" for k, n in parts.items() if n))

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite, one at a time within this process."""
        if self._write_turn is None:
            async with self.ctx.sessions.begin() as session:
                yield session
            return
        async with self._write_turn, self.ctx.sessions.begin() as session:
            yield session

    async def _gated(self, gate: asyncio.Semaphore, claim: Claim, loaded: Loaded | None) -> int:
        """One delivery; a failure here never cancels its siblings. A row left `sending` by
        an unexpected error is retaken (and checked) when its lease runs out."""
        async with gate:
            try:
                return await self._deliver(claim, loaded)
            except Exception:
                log.exception("delivery step failed", extra={"delivery_kind": "unknown"})
                return 0

    # --- claiming --------------------------------------------------------------------------

    async def _claim(self, *, expired: bool) -> list[Claim]:
        """Lease a batch: fresh due rows, or `sending` rows whose lease ran out (a dead process).
        The attempt number returned is the claim's token: whoever retakes the row bumps it."""
        now = self.ctx.clock.now()
        condition = (
            (Delivery.status == "sending") & (Delivery.lease_until < now) if expired else _due(now)
        )
        pick = select(Delivery.id).where(condition).order_by(Delivery.not_before).limit(BATCH)
        if self.ctx.engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with self._writing() as session:
            rows = await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(pick.scalar_subquery()))
                .values(
                    status="sending", lease_until=now + self._lease, attempts=Delivery.attempts + 1
                )
                .returning(Delivery.id, Delivery.attempts)
                .execution_options(synchronize_session=False)
            )
            return [Claim(str(i), int(token), suspect=expired) for i, token in rows.all()]

    @staticmethod
    async def _extend(session: AsyncSession, claim: Claim, until: datetime) -> bool:
        """Extend the lease under the claim's token; False when another process has retaken
        the row (its token moved on), so this one must not send it."""
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == claim.id,
                Delivery.status == "sending",
                Delivery.attempts == claim.token,
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # --- one delivery ----------------------------------------------------------------------

    async def _deliver(self, claim: Claim, loaded: Loaded | None) -> int:
        if loaded is None:
            await self._finish(claim, "skipped")  # person erased or round gone
            return 0
        delivery, person, rnd, team, workspace = (
            loaded.delivery,
            loaded.person,
            loaded.round,
            loaded.team,
            loaded.workspace,
        )
        reason = self._skip_reason(delivery, person, rnd, loaded.prompt_answered)
        if delivery.kind == "summary" and not loaded.still_manager:
            reason = "not_manager"
        if reason is not None:
            await self._finish(claim, "skipped")
            self._on_result(workspace.platform, f"skipped_{reason}")
            return 0
        adapter = self.adapters.get(workspace.platform)
        to = self._address(adapter, workspace, person)
        if adapter is None or to is None:
            # No way to reach them yet (Teams: until they install the app): try again later.
            await self._finish(
                claim, "pending", retry_at=self.ctx.clock.now() + timedelta(minutes=10)
            )
            return 0
        if claim.suspect and isinstance(adapter, Recoverable):
            try:
                found = await adapter.find_sent(to, claim.id)
            except DeliveryError as exc:
                if not exc.permanent:
                    # Keep it `sending` with a short lease: the retake looks again, rather
                    # than a plain retry that would send without looking.
                    until = self.ctx.clock.now() + timedelta(
                        seconds=backoff(delivery.attempts, self._rng)
                    )
                    async with self._writing() as session:
                        await self._extend(session, claim, until)
                    return 0
                # The platform cannot tell (e.g. a missing scope): send, within the documented window.
                log.warning("recovery lookup unavailable", extra={"reason": exc.reason})
                found = None
            if found is not None:
                await self._finish(claim, "sent", message_ref=found.to_json())
                self._on_result(workspace.platform, "recovered")
                return 1
        slot = await self._take_slot(workspace.id, self._rates(workspace.platform), claim)
        if slot is LOST:
            return 0  # retaken by another process meanwhile: it is theirs to send
        paused_until = slot if isinstance(slot, datetime) else None
        seen = self._paused.get(workspace.id)
        if paused_until is None and seen is not None and seen > self.ctx.clock.now():
            paused_until = seen  # a 429 arrived while this one waited for its slot
        if paused_until is not None:
            await self._finish(claim, "pending", retry_at=paused_until, attempt_used=False)
            return 0
        if self._stopping:  # SIGTERM: what has not reached the platform is handed back
            await self._finish(claim, "pending", attempt_used=False)
            return 0
        try:
            message = await self._render(delivery, person, rnd, team, workspace)
            ref = await adapter.send(to, message, key=claim.id)
        except DeliveryError as exc:
            return await self._failed(claim, delivery, workspace, exc)
        except Exception as exc:  # a bug or an unmapped transport error: retried, then given up
            log.exception("send failed unexpectedly", extra={"delivery_kind": delivery.kind})
            error = DeliveryError(f"unexpected {type(exc).__name__}", permanent=False)
            return await self._failed(claim, delivery, workspace, error)
        await self._finish(claim, "sent", message_ref=ref.to_json())
        self._on_result(workspace.platform, "sent")
        return 1

    @staticmethod
    def _address(
        adapter: Adapter | None, workspace: Workspace, person: Person
    ) -> ConversationRef | None:
        if person.conversation_ref:
            return ConversationRef.from_json(person.conversation_ref)
        if isinstance(adapter, Addressable):
            return adapter.address(workspace.external_id, person.user_id)
        return None

    async def _load_many(self, ids: list[str]) -> dict[str, Loaded]:
        """Everything a batch needs, in three queries rather than three per delivery."""
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(Delivery, Person, Round, Team, Workspace)
                    .join(Person, Person.id == Delivery.person_id)
                    .join(Round, Round.id == Delivery.round_id)
                    .join(Team, Team.id == Round.team_id)
                    .join(Workspace, Workspace.id == Team.workspace_id)
                    .where(Delivery.id.in_(ids))
                )
            ).all()
            reminded = [(d.round_id, p.id) for d, p, *_ in rows if d.kind == "reminder"]
            answered: set[tuple[int, int]] = set()
            if reminded:
                answered = {
                    (round_id, person_id)
                    for round_id, person_id in (
                        await session.execute(
                            select(Delivery.round_id, Delivery.person_id).where(
                                Delivery.kind == "prompt",
                                Delivery.answered.is_(True),
                                Delivery.round_id.in_({r for r, _ in reminded}),
                                Delivery.person_id.in_({p for _, p in reminded}),
                            )
                        )
                    ).all()
                    if person_id is not None
                }
            summarised = [(p.id, t.id) for d, p, _, t, _ in rows if d.kind == "summary"]
            managing: dict[tuple[int, int], tuple[str, datetime | None]] = {}
            if summarised:
                managing = {
                    (person_id, team_id): (role, since)
                    for person_id, team_id, role, since in (
                        await session.execute(
                            select(
                                Membership.person_id,
                                Membership.team_id,
                                Membership.role,
                                Membership.results_from,
                            ).where(
                                Membership.person_id.in_({p for p, _ in summarised}),
                                Membership.team_id.in_({t for _, t in summarised}),
                            )
                        )
                    ).all()
                }
        out: dict[str, Loaded] = {}
        for delivery, person, rnd, team, workspace in rows:
            role, since = managing.get((person.id, team.id), ("", None))
            out[delivery.id] = Loaded(
                delivery,
                person,
                rnd,
                team,
                workspace,
                prompt_answered=(rnd.id, person.id) in answered,
                still_manager=role == "manager" and (since is None or since < rnd.opens_at),
            )
        return out

    def _skip_reason(
        self, delivery: Delivery, person: Person, rnd: Round, prompt_answered: bool
    ) -> str | None:
        if delivery.kind in ("prompt", "reminder"):
            if rnd.status != "open":
                return "closed"
            if is_paused(person.paused_until, self.ctx.clock.now()):
                return "paused"
            if delivery.kind == "reminder" and prompt_answered:
                return "answered"
        return None

    async def _render(
        self, delivery: Delivery, person: Person, rnd: Round, team: Team, workspace: Workspace
    ) -> Message:
        t = copy_for(person.locale or workspace.locale)
        if delivery.kind == "prompt":
            return prompt_message(t, team.name, rnd.period)
        if delivery.kind == "reminder":
            return reminder_message(t, team.name, rnd.period)
        async with self._writing() as session:
            summary = await team_summary(session, workspace, team, rnd.period, viewer_id=person.id)
            viewer = Actor(workspace=workspace, person=person, is_admin=person.role == "admin")
            audit.record(
                session,
                viewer,
                "summary_viewed",
                self.ctx.clock.now(),
                team_id=team.id,
                period=rnd.period,
                via="delivery",
            )
        shown = summary_message(t, t.locale, summary)
        return Message(fallback=shown.fallback, blocks=shown.blocks, tags=("summary",))

    async def _failed(
        self, claim: Claim, delivery: Delivery, workspace: Workspace, exc: DeliveryError
    ) -> int:
        now = self.ctx.clock.now()
        if exc.permanent or delivery.attempts >= MAX_ATTEMPTS:
            log.warning("delivery failed permanently", extra={"reason": exc.reason})
            await self._finish(claim, "failed")
            self._on_result(workspace.platform, "failed")
            return 0
        if exc.retry_after is not None:
            # The platform said how long: the whole workspace waits, on every replica.
            until = now + timedelta(seconds=exc.retry_after)
            self._paused[workspace.id] = until
            await self._pause_workspace(workspace.id, until)
            await self._finish(claim, "pending", retry_at=until, attempt_used=False)
        else:
            until = now + timedelta(seconds=backoff(delivery.attempts, self._rng))
            await self._finish(claim, "pending", retry_at=until)
        self._on_result(workspace.platform, "retry")
        return 0

    # --- the shared send window ------------------------------------------------------------

    async def _take_slot(
        self, workspace_id: int, rate: float, claim: Claim
    ) -> datetime | object | None:
        """Reserve the workspace's next send slot, extend the claim's lease past it (in the
        same transaction), and wait for it. None: go ahead. A datetime: the platform paused
        the workspace until then. LOST: another process holds the row now."""
        now = self.ctx.clock.now()
        async with self._writing() as session:
            window = await self._window(session, workspace_id, now)
            if window.paused_until is not None and window.paused_until > now:
                return window.paused_until
            slot = max(now, window.next_slot_at)
            lease_until = slot + self._lease
            if not await self._extend(session, claim, lease_until):
                return LOST
            window.next_slot_at = slot + (timedelta(seconds=1 / rate) if rate > 0 else timedelta(0))
        # Measured from the clock as it is now (the commit took time; other sends moved on).
        wait = (slot - self.ctx.clock.now()).total_seconds()
        if wait > 0:
            await self.ctx.clock.sleep(wait)
        if self.ctx.clock.now() >= lease_until:
            # Stalled past the lease (a blocked loop, a suspended VM): check the row is still ours.
            async with self._writing() as session:
                if not await self._extend(session, claim, self.ctx.clock.now() + self._lease):
                    return LOST
        return None

    async def _pause_workspace(self, workspace_id: int, until: datetime) -> None:
        async with self._writing() as session:
            window = await self._window(session, workspace_id, self.ctx.clock.now())
            if window.paused_until is None or window.paused_until < until:
                window.paused_until = until

    async def _window(self, session: AsyncSession, workspace_id: int, now: datetime) -> SendWindow:
        """The row, locked for this transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE)."""
        dialect = self.ctx.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(SendWindow)
            .values(workspace_id=workspace_id, next_slot_at=now)
            .on_conflict_do_nothing(index_elements=["workspace_id"])
        )
        window = await session.scalar(
            select(SendWindow)
            .where(SendWindow.workspace_id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert window is not None
        return window

    async def _finish(
        self,
        claim: Claim,
        status: str,
        *,
        retry_at: datetime | None = None,
        message_ref: dict[str, str] | None = None,
        attempt_used: bool = True,
    ) -> None:
        values: dict[str, object] = {"status": status, "lease_until": None}
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        if message_ref is not None:
            values["message_ref"] = message_ref
        if not attempt_used:
            values["attempts"] = Delivery.attempts - 1
        async with self._writing() as session:
            await session.execute(
                update(Delivery)
                .where(
                    Delivery.id == claim.id,
                    Delivery.status == "sending",
                    Delivery.attempts == claim.token,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
