"""The outbox dispatcher: claims due deliveries with a lease and sends them at the workspace's
rate, so any number of replicas together send each message once.

- Claiming is one `UPDATE … RETURNING` (PostgreSQL adds `FOR UPDATE SKIP LOCKED` to the
  subquery), so two replicas never hold the same delivery. A claimed row is `claimed`: leased,
  not on the wire. If its process dies, the lease runs out and it is simply taken again.
- A row becomes `sending` only in the transaction that gives it its send slot, right before
  its platform call, so a crash leaves at most the deliveries in flight (the dispatch
  concurrency) in doubt. A `sending` row whose lease ran out may have reached the platform:
  where the adapter can look (Slack: the delivery id in the message's metadata), recovery
  checks before sending again. A lookup that keeps failing is bounded: after a few tries the
  row is sent again if it is still fresh (a possible duplicate, documented) or marked failed,
  and the decision is counted. Elsewhere that instant is the documented window.
- The send rate and any pause a platform asked for (429 `Retry-After`) live in the database
  (`send_windows`), so they hold for all replicas together.
- `closed_notice` rows edit a closed round's sent prompts, `checked_in` rows a prompt just
  answered (`Adapter.update`); both are deleted once done or given up: they carry no person
  and nothing of them is meant to stay (bot/rounds/notices.py). The close queues its
  closed notices as `notice_batch` rows, which are never claimed: each pass first turns
  them into `closed_notice` rows (`expand_closed_notices`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.identities import actor_for
from bot.chat.showing import show_summary
from bot.chat.views import (
    checked_in_message,
    closed_notice_message,
    prompt_message,
    reminder_message,
)
from bot.core.context import Context
from bot.core.events import ConversationRef
from bot.core.ports import Adapter, Addressable, DeliveryError, Recoverable
from bot.rounds.lifecycle import is_paused, team_zone
from bot.rounds.notices import (
    EDITS,
    EXPANDED,
    closed_on,
    edit_of,
    expand_closed_notices,
    next_opening,
)
from messages.copy import Copy, copy_for
from messages.model import Message
from storage import repositories as repo
from storage.models import (
    Delivery,
    Membership,
    Person,
    Round,
    Schedule,
    SendWindow,
    Team,
    Workspace,
)
from storage.values import DeliveryKind, DeliveryStatus, MembershipRole, RoundStatus

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BATCH = 50
CONCURRENCY = (
    8  # PostgreSQL: deliveries in flight per process; the send window paces each workspace
)
MAX_ATTEMPTS = 8
# `notice_batch` rows expanded per step of a pass (a thousand closed notices each).
EXPAND_BATCHES = 5
BACKOFF_BASE = 5.0  # seconds, doubled per attempt, ±25 % jitter
BACKOFF_CAP = 600.0
# Recovery lookups that may fail before the dispatcher decides (about 5, then 10 s apart).
RECOVERY_LOOKUPS = 3
# How long after a delivery fell due sending it again (a possible duplicate) beats failing it.
RESEND_WINDOW = timedelta(hours=24)
HELD = (DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)  # the statuses under a lease

LOST = object()  # a claim another process has retaken
Rates = Callable[[str], float]  # platform → messages per second per workspace (0 = no limit)


class SendResult(StrEnum):
    """What became of one delivery step: the `result` label of `rutradar_deliveries_total`
    (bot/server/metrics.py), so the values are part of the metric and must not change. A sent
    or failed row ends in the `DeliveryStatus` of the same name."""

    SENT = DeliveryStatus.SENT.value
    FAILED = DeliveryStatus.FAILED.value
    RETRY = "retry"  # back to pending, for a later attempt
    RECOVERED = "recovered"  # a send in doubt found on the platform: sent after all
    NOTICE_UPDATED = "notice_updated"  # a sent prompt edited (closed notice, checked in)
    NOTICE_DROPPED = "notice_dropped"  # an edit given up: the prompt stays as it was
    # Skipped, and why: the round is no longer open, the member paused, the reminder's prompt
    # was answered, the summary's addressee no longer manages the team.
    SKIPPED_CLOSED = "skipped_closed"
    SKIPPED_PAUSED = "skipped_paused"
    SKIPPED_ANSWERED = "skipped_answered"
    SKIPPED_NOT_MANAGER = "skipped_not_manager"


SKIPPED = frozenset(
    {
        SendResult.SKIPPED_CLOSED,
        SendResult.SKIPPED_PAUSED,
        SendResult.SKIPPED_ANSWERED,
        SendResult.SKIPPED_NOT_MANAGER,
    }
)


@dataclass(frozen=True)
class Claim:
    id: str
    token: int  # the attempt number this claim set; a retake bumps it
    suspect: bool  # `sending` when its lease ran out: the platform may already have it


@dataclass(frozen=True)
class Loaded:
    delivery: Delivery
    person: Person
    round: Round
    team: Team
    workspace: Workspace
    prompt_answered: bool  # for reminders: nobody is reminded after answering
    still_manager: bool = True  # for summaries: only to someone who may still see the round


@dataclass(frozen=True)
class Notice:
    """A row that edits a sent prompt (`EDITS`: a closed notice, a checked-in edit) and what
    its text needs; there is no person to load. The days only for a closed notice."""

    delivery: Delivery
    round: Round
    workspace: Workspace
    closed_on: date | None = None
    next_opening: date | None = None


def backoff(attempts: int, rng: random.Random) -> float:
    """Jittered exponential backoff, so retries from many replicas spread out."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return base * rng.uniform(0.75, 1.25)


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (Delivery.status == DeliveryStatus.PENDING)
        & Delivery.kind.not_in(EXPANDED)  # expanded into edits, never sent themselves
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
        on_result: Callable[[str, SendResult], None] | None = None,
        rng: random.Random | None = None,
        lease: timedelta = LEASE,
        concurrency: int | None = None,
        recovery_lookups: int = RECOVERY_LOOKUPS,
        resend_window: timedelta = RESEND_WINDOW,
        on_recovery: Callable[[str, str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.adapters = adapters
        self.interval = interval
        self._rates = rates or (lambda _platform: 0.0)
        report = on_result or (lambda _platform, _result: None)
        # (platform, decision) when recovery lookups ran out: "resend" or "fail".
        self._on_recovery = on_recovery or (lambda _platform, _decision: None)
        self._results: Counter[SendResult] = Counter()  # every result so far, for the pass's log

        def _on_result(platform: str, result: SendResult) -> None:
            self._results[result] += 1
            report(platform, result)

        self._on_result = _on_result
        self._rng = rng or random.Random()
        self._lease = lease
        self._recovery_lookups = max(1, recovery_lookups)
        self._resend_window = resend_window
        if concurrency is None:  # measured (docs/benchmarks.md): SQLite is fastest one at a time
            concurrency = 1 if ctx.database.dialect.name == "sqlite" else CONCURRENCY
        self._concurrency = max(1, concurrency)
        # This process's view of 429 pauses, for sends already past their slot.
        self._paused: dict[int, datetime] = {}
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
                ).where(
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.kind.not_in(EXPANDED),
                )
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
            # A closed round's notices a few batches at a time, between the sends: the other
            # rows due (a summary, another team's prompts) do not wait for 100,000 of them.
            expanded = await expand_closed_notices(self.ctx.sessions, limit=EXPAND_BATCHES)
            retaken = await self._claim(expired=True)
            fresh = await self._claim(expired=False)
            if not retaken and not fresh:
                if expanded:
                    continue
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
    def _log_pass(sent: int, results: Counter[SendResult]) -> None:
        """One INFO line for a pass that did something, none for an idle one (every few
        seconds on every replica). Counts only: sent includes those found already sent."""
        parts = {
            "sent": sent,
            "failed": results[SendResult.FAILED],
            "retrying": results[SendResult.RETRY],
            "skipped": sum(n for result, n in results.items() if result in SKIPPED),
        }
        if any(parts.values()):
            log.info("dispatcher pass: %s", ", ".join(f"{k} {n}" for k, n in parts.items() if n))

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. On SQLite the session factory queues writers one at a time
        within this process (`storage.db.Sessions.begin`); a second queue here would only
        add a hand-over per transaction."""
        async with self.ctx.sessions.begin() as session:
            yield session

    async def _gated(
        self, gate: asyncio.Semaphore, claim: Claim, loaded: Loaded | Notice | None
    ) -> int:
        """One delivery; a failure here never cancels its siblings. A row left `claimed` or
        `sending` by an unexpected error is retaken (`sending`: and checked) when its lease
        runs out."""
        async with gate:
            try:
                return await self._deliver(claim, loaded)
            except Exception:
                log.exception("delivery step failed", extra={"delivery_kind": "unknown"})
                return 0

    # --- claiming --------------------------------------------------------------------------

    async def _claim(self, *, expired: bool) -> list[Claim]:
        """Lease a batch as `claimed`: due pending rows, and `claimed` rows whose lease ran out
        (a dead process had them, none on the wire: nothing to check). With `expired`, the
        `sending` rows whose lease ran out instead, which stay `sending`: their platform call
        may have gone through, so they are checked before a send. The attempt number returned
        is the claim's token: whoever retakes the row bumps it."""
        now = self.ctx.clock.now()
        if expired:
            condition = (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_until < now)
        else:
            condition = _due(now) | (
                (Delivery.status == DeliveryStatus.CLAIMED) & (Delivery.lease_until < now)
            )
        pick = select(Delivery.id).where(condition).order_by(Delivery.not_before).limit(BATCH)
        if self.ctx.database.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with self._writing() as session:
            rows = await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(pick.scalar_subquery()))
                .values(
                    status=DeliveryStatus.SENDING if expired else DeliveryStatus.CLAIMED,
                    lease_until=now + self._lease,
                    attempts=Delivery.attempts + 1,
                )
                .returning(Delivery.id, Delivery.attempts)
                .execution_options(synchronize_session=False)
            )
            return [Claim(str(i), int(token), suspect=expired) for i, token in rows.all()]

    @staticmethod
    async def _hold(
        session: AsyncSession,
        claim: Claim,
        until: datetime,
        *,
        on_the_wire: bool = False,
        lookups: int | None = None,
    ) -> bool:
        """Extend the lease under the claim's token; False when another process has retaken
        the row (its token moved on), so this one must not send it. `on_the_wire` marks it
        `sending`: its platform call comes next, and a crash from here on leaves it in doubt
        (its failed-lookup count starts over)."""
        values: dict[str, object] = {"lease_until": until}
        if on_the_wire:
            values.update(status=DeliveryStatus.SENDING, lookups=0)
        if lookups is not None:
            values["lookups"] = lookups
        result = await session.execute(
            update(Delivery)
            .where(*_still_held(claim))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # --- one delivery ----------------------------------------------------------------------

    async def _deliver(self, claim: Claim, loaded: Loaded | Notice | None) -> int:
        if loaded is None:
            await self._finish(claim, DeliveryStatus.SKIPPED)  # person erased or round gone
            return 0
        if isinstance(loaded, Notice):
            return await self._edit_prompt(claim, loaded)
        delivery, person, rnd, workspace = (
            loaded.delivery,
            loaded.person,
            loaded.round,
            loaded.workspace,
        )
        skipped = self._skipped(delivery, person, rnd, loaded.prompt_answered)
        if delivery.kind == DeliveryKind.SUMMARY and not loaded.still_manager:
            skipped = SendResult.SKIPPED_NOT_MANAGER
        if skipped is not None:
            await self._finish(claim, DeliveryStatus.SKIPPED)
            self._on_result(workspace.platform, skipped)
            return 0
        adapter = self.adapters.get(workspace.platform)
        to = self._address(adapter, workspace, person)
        if adapter is None or to is None:
            # No way to reach them yet (no stored conversation, and the platform cannot open
            # one from ids alone): try again later.
            await self._finish(
                claim, DeliveryStatus.PENDING, retry_at=self.ctx.clock.now() + timedelta(minutes=10)
            )
            return 0
        if claim.suspect and isinstance(adapter, Recoverable):
            settled = await self._recover(claim, adapter, to, delivery, workspace)
            if settled is not None:
                return settled
        if not await self._go_ahead(claim, workspace):
            return 0
        try:
            message = await self._render(loaded)
            ref = await adapter.send(to, message, key=claim.id)
        except DeliveryError as exc:
            return await self._failed(claim, delivery, workspace, exc)
        except Exception as exc:  # a bug or an unmapped transport error: retried, then given up
            log.exception("send failed unexpectedly", extra={"delivery_kind": delivery.kind})
            error = DeliveryError(f"unexpected {type(exc).__name__}", permanent=False)
            return await self._failed(claim, delivery, workspace, error)
        await self._finish(claim, DeliveryStatus.SENT, message_ref=ref.to_json())
        self._on_result(workspace.platform, SendResult.SENT)
        return 1

    async def _go_ahead(self, claim: Claim, workspace: Workspace) -> bool:
        """Take the workspace's next send slot, which marks the row `sending`; False when it
        must not go out now (retaken meanwhile, the workspace paused, the process stopping),
        having handed the row back where that is this process's to do."""
        slot = await self._take_slot(workspace.id, self._rates(workspace.platform), claim)
        if slot is LOST:
            return False  # retaken by another process meanwhile: it is theirs to send
        paused_until = slot if isinstance(slot, datetime) else None
        seen = self._paused.get(workspace.id)
        if paused_until is None and seen is not None and seen > self.ctx.clock.now():
            paused_until = seen  # a 429 arrived while this one waited for its slot
        if paused_until is not None:
            await self._finish(
                claim, DeliveryStatus.PENDING, retry_at=paused_until, attempt_used=False
            )
            return False
        if self._stopping:  # SIGTERM: what has not reached the platform is handed back
            await self._finish(claim, DeliveryStatus.PENDING, attempt_used=False)
            return False
        return True

    # --- recovery of a send in doubt -------------------------------------------------------

    async def _recover(
        self,
        claim: Claim,
        adapter: Recoverable,
        to: ConversationRef,
        delivery: Delivery,
        workspace: Workspace,
    ) -> int | None:
        """Ask the platform whether a `sending` row it may have accepted went out. Returns
        what `_deliver` returns when that settles the row (found: 1; waiting for another
        lookup, or failed: 0), or None when it is to be sent (not found, or sent again)."""
        lookups = delivery.lookups
        if lookups < self._recovery_lookups:
            try:
                found = await adapter.find_sent(to, claim.id)
            except DeliveryError as exc:
                if exc.permanent:
                    # The platform cannot tell (e.g. a missing scope): send, within the window.
                    log.warning("recovery lookup unavailable (%s): sending", exc.reason)
                    return None
                lookups += 1
                if lookups < self._recovery_lookups:
                    # Stay `sending` under a short lease: the retake looks again, rather than
                    # a plain retry that would send without looking.
                    wait = max(backoff(lookups, self._rng), exc.retry_after or 0.0)
                    until = self.ctx.clock.now() + timedelta(seconds=wait)
                    async with self._writing() as session:
                        await self._hold(session, claim, until, lookups=lookups)
                    return 0
            else:
                if found is None:
                    return None
                await self._finish(claim, DeliveryStatus.SENT, message_ref=found.to_json())
                self._on_result(workspace.platform, SendResult.RECOVERED)
                return 1
        return await self._decide(claim, delivery, workspace, lookups)

    async def _decide(
        self, claim: Claim, delivery: Delivery, workspace: Workspace, lookups: int
    ) -> int | None:
        """The lookups ran out and the platform never said. Within the resend window of its
        due time the row is sent again (the member may get it twice: the documented trade,
        better than never); past it, a late duplicate would only confuse, so it fails. One
        log line and one count per decision; neither names the delivery or the person."""
        late = self.ctx.clock.now() - delivery.not_before
        hours = late.total_seconds() / 3600
        if late <= self._resend_window:
            log.warning(
                "recovery lookup failed %d times for a %s on %s: sending it again "
                "(possibly a duplicate), %.1f h after it fell due",
                lookups,
                delivery.kind,
                workspace.platform,
                hours,
            )
            self._on_recovery(workspace.platform, "resend")
            return None
        log.warning(
            "recovery lookup failed %d times for a %s on %s: marked failed, %.1f h after it "
            "fell due is past the %.1f h resend window",
            lookups,
            delivery.kind,
            workspace.platform,
            hours,
            self._resend_window.total_seconds() / 3600,
        )
        await self._finish(claim, DeliveryStatus.FAILED)
        self._on_recovery(workspace.platform, "fail")
        self._on_result(workspace.platform, SendResult.FAILED)
        return 0

    # --- edits of sent prompts: closed notices, checked-in edits ------------------------

    async def _edit_prompt(self, claim: Claim, notice: Notice) -> int:
        """Edit a sent prompt to say the round closed, or that its member checked in; the row
        goes once the platform has it (or refused it for good). Editing is idempotent, so a
        retaken `sending` row is simply edited again, with no lookup. Returns 0: an edit is
        not a send."""
        delivery, workspace = notice.delivery, notice.workspace
        adapter = self.adapters.get(workspace.platform)
        target = edit_of(delivery.message_ref)
        late = delivery.kind == DeliveryKind.CHECKED_IN and notice.round.status != RoundStatus.OPEN
        if adapter is None or target is None or late:
            # `late`: the round closed meanwhile (the close deletes these rows; this one was
            # loaded before): its closed notice edits the prompt now.
            closed_notice = delivery.kind == DeliveryKind.CLOSED_NOTICE
            if adapter is None and closed_notice and delivery.attempts < MAX_ATTEMPTS:
                # Not configured on this replica (a rolling deploy?): another may have it.
                retry_at = self.ctx.clock.now() + timedelta(minutes=10)
                await self._finish(claim, DeliveryStatus.PENDING, retry_at=retry_at)
            else:
                await self._drop(claim)
                self._on_result(workspace.platform, SendResult.NOTICE_DROPPED)
            return 0
        if not await self._go_ahead(claim, workspace):
            return 0
        ref, locale = target
        message = self._edit_message(notice, locale)
        try:
            await adapter.update(ref, message)
        except DeliveryError as exc:
            return await self._failed(claim, delivery, workspace, exc)
        except Exception as exc:
            log.exception("prompt edit failed unexpectedly", extra={"delivery_kind": delivery.kind})
            error = DeliveryError(f"unexpected {type(exc).__name__}", permanent=False)
            return await self._failed(claim, delivery, workspace, error)
        await self._drop(claim)
        self._on_result(workspace.platform, SendResult.NOTICE_UPDATED)
        return 0

    @staticmethod
    def _edit_message(notice: Notice, locale: str | None) -> Message:
        """A checked-in edit in the locale its prompt was written in; a closed notice in the
        workspace's, the same text for every prompt of the round."""
        if notice.delivery.kind == DeliveryKind.CHECKED_IN:
            return checked_in_message(
                copy_for(locale or notice.workspace.locale), notice.round.period
            )
        assert notice.closed_on is not None
        return closed_notice_message(
            copy_for(notice.workspace.locale),
            notice.round.period,
            notice.closed_on,
            notice.next_opening,
        )

    @staticmethod
    def _address(
        adapter: Adapter | None, workspace: Workspace, person: Person
    ) -> ConversationRef | None:
        if person.conversation_ref:
            return ConversationRef.from_json(person.conversation_ref)
        if isinstance(adapter, Addressable):
            return adapter.address(workspace.external_id, person.user_id)
        return None

    async def _load_many(self, ids: list[str]) -> dict[str, Loaded | Notice]:
        """Everything a batch needs, in a few queries rather than a few per delivery."""
        notices = await self._load_notices(ids)
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
            reminded = [(d.round_id, p.id) for d, p, *_ in rows if d.kind == DeliveryKind.REMINDER]
            answered: set[tuple[int, int]] = set()
            if reminded:
                answered = {
                    (round_id, person_id)
                    for round_id, person_id in (
                        await session.execute(
                            select(Delivery.round_id, Delivery.person_id).where(
                                Delivery.kind == DeliveryKind.PROMPT,
                                Delivery.answered.is_(True),
                                Delivery.round_id.in_({r for r, _ in reminded}),
                                Delivery.person_id.in_({p for _, p in reminded}),
                            )
                        )
                    ).all()
                    if person_id is not None
                }
            summarised = [(p.id, t.id) for d, p, _, t, _ in rows if d.kind == DeliveryKind.SUMMARY]
            managing: dict[tuple[int, int], tuple[MembershipRole | None, datetime | None]] = {}
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
        out: dict[str, Loaded | Notice] = dict(notices)
        for delivery, person, rnd, team, workspace in rows:
            role, since = managing.get((person.id, team.id), (None, None))
            out[delivery.id] = Loaded(
                delivery,
                person,
                rnd,
                team,
                workspace,
                prompt_answered=(rnd.id, person.id) in answered,
                still_manager=role == MembershipRole.MANAGER
                and (since is None or since < rnd.closes_at),
            )
        return out

    async def _load_notices(self, ids: list[str]) -> dict[str, Notice]:
        """The batch's prompt edits with their round and workspace; a closed notice with the
        days it names."""
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(Delivery, Round, Team, Workspace)
                    .join(Round, Round.id == Delivery.round_id)
                    .join(Team, Team.id == Round.team_id)
                    .join(Workspace, Workspace.id == Team.workspace_id)
                    .where(Delivery.id.in_(ids), Delivery.kind.in_(EDITS))
                )
            ).all()
            if not rows:
                return {}
            schedules = {
                schedule.team_id: schedule
                for schedule in (
                    await session.scalars(
                        select(Schedule).where(Schedule.team_id.in_({t.id for _, _, t, _ in rows}))
                    )
                ).all()
            }
        out: dict[str, Notice] = {}
        days: dict[int, tuple[date, date | None]] = {}
        for delivery, rnd, team, workspace in rows:
            if delivery.kind == DeliveryKind.CHECKED_IN:
                out[delivery.id] = Notice(delivery, rnd, workspace)
                continue
            if rnd.id not in days:
                schedule = schedules.get(team.id)
                zone = (schedule.timezone if schedule else None) or team_zone(team, workspace)
                days[rnd.id] = (closed_on(rnd, zone), next_opening(schedule, zone, rnd))
            out[delivery.id] = Notice(delivery, rnd, workspace, *days[rnd.id])
        return out

    def _skipped(
        self, delivery: Delivery, person: Person, rnd: Round, prompt_answered: bool
    ) -> SendResult | None:
        """Why a prompt or reminder is not sent after all, as its result; None: send it."""
        if delivery.kind in (DeliveryKind.PROMPT, DeliveryKind.REMINDER):
            if rnd.status != RoundStatus.OPEN:
                return SendResult.SKIPPED_CLOSED
            if is_paused(person.paused_until, self.ctx.clock.now()):
                return SendResult.SKIPPED_PAUSED
            if delivery.kind == DeliveryKind.REMINDER and prompt_answered:
                return SendResult.SKIPPED_ANSWERED
        return None

    async def _render(self, loaded: Loaded) -> Message:
        """The message a sent row carries, by its kind (`RENDERERS`), in its reader's locale."""
        render = RENDERERS.get(loaded.delivery.kind)
        if render is None:  # the edits of sent prompts go through `_edit_prompt`
            raise ValueError(f"no message to send for a {loaded.delivery.kind}")
        t = copy_for(loaded.person.locale or loaded.workspace.locale)
        return await render(self.ctx, loaded, t)

    async def _failed(
        self, claim: Claim, delivery: Delivery, workspace: Workspace, exc: DeliveryError
    ) -> int:
        now = self.ctx.clock.now()
        if exc.retry_after is not None:
            # The platform said how long: the whole workspace waits, on every replica.
            until = now + timedelta(seconds=exc.retry_after)
            self._paused[workspace.id] = until
            await self._pause_workspace(workspace.id, until)
        # A checked-in edit gets one try: one left waiting would keep, beside the member's
        # prompt, a count of attempts and a retry time that grow from when they answered. The
        # closed notice edits the prompt at close anyway; the member saw "counted" already.
        once = delivery.kind == DeliveryKind.CHECKED_IN
        if exc.permanent or once or delivery.attempts >= MAX_ATTEMPTS:
            if delivery.kind in EDITS:  # nothing to keep: the prompt stays as it was
                log.warning("prompt edit given up (%s): %s", delivery.kind, exc.reason)
                await self._drop(claim)
                self._on_result(workspace.platform, SendResult.NOTICE_DROPPED)
                return 0
            log.warning("delivery failed permanently", extra={"reason": exc.reason})
            await self._finish(claim, DeliveryStatus.FAILED)
            self._on_result(workspace.platform, SendResult.FAILED)
            return 0
        if exc.retry_after is not None:
            until = now + timedelta(seconds=exc.retry_after)
            await self._finish(claim, DeliveryStatus.PENDING, retry_at=until, attempt_used=False)
        else:
            until = now + timedelta(seconds=backoff(delivery.attempts, self._rng))
            await self._finish(claim, DeliveryStatus.PENDING, retry_at=until)
        self._on_result(workspace.platform, SendResult.RETRY)
        return 0

    # --- the shared send window ------------------------------------------------------------

    async def _take_slot(
        self, workspace_id: int, rate: float, claim: Claim
    ) -> datetime | object | None:
        """Reserve the workspace's next send slot, mark the row `sending` with its lease past
        the slot (in the same transaction), and wait for it. None: go ahead. A datetime: the
        platform paused the workspace until then (the row is still `claimed`). LOST: another
        process holds the row now."""
        now = self.ctx.clock.now()
        async with self._writing() as session:
            window = await self._window(session, workspace_id, now)
            if window.paused_until is not None and window.paused_until > now:
                return window.paused_until
            slot = max(now, window.next_slot_at)
            lease_until = slot + self._lease
            if not await self._hold(session, claim, lease_until, on_the_wire=True):
                return LOST
            window.next_slot_at = slot + (timedelta(seconds=1 / rate) if rate > 0 else timedelta(0))
        # Measured from the clock as it is now (the commit took time; other sends moved on).
        wait = (slot - self.ctx.clock.now()).total_seconds()
        if wait > 0:
            await self.ctx.clock.sleep(wait)
        if self.ctx.clock.now() >= lease_until:
            # Stalled past the lease (a blocked loop, a suspended VM): check the row is still ours.
            async with self._writing() as session:
                if not await self._hold(session, claim, self.ctx.clock.now() + self._lease):
                    return LOST
        return None

    async def _pause_workspace(self, workspace_id: int, until: datetime) -> None:
        async with self._writing() as session:
            window = await self._window(session, workspace_id, self.ctx.clock.now())
            if window.paused_until is None or window.paused_until < until:
                window.paused_until = until

    async def _window(self, session: AsyncSession, workspace_id: int, now: datetime) -> SendWindow:
        """The row, locked for this transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE)."""
        await repo.insert_unless_present(
            session,
            SendWindow,
            {"workspace_id": workspace_id, "next_slot_at": now},
            unique=["workspace_id"],
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
        status: DeliveryStatus,
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
                .where(*_still_held(claim))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _drop(self, claim: Claim) -> None:
        """Delete a row this claim still holds: a prompt edit, done or given up."""
        async with self._writing() as session:
            await session.execute(
                delete(Delivery)
                .where(*_still_held(claim))
                .execution_options(synchronize_session=False)
            )


def _still_held(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """The row as this claim left it: a process that retook it moved its token (`attempts`)
    on, so every write under a claim names all three, and a stale claim writes nothing."""
    return (
        Delivery.id == claim.id,
        Delivery.status.in_(HELD),
        Delivery.attempts == claim.token,
    )


# --- what each kind of sent row says -------------------------------------------------------


async def _prompt(ctx: Context, loaded: Loaded, t: Copy) -> Message:
    return prompt_message(t, loaded.team.name, loaded.round.period)


async def _reminder(ctx: Context, loaded: Loaded, t: Copy) -> Message:
    return reminder_message(t, loaded.team.name, loaded.round.period)


async def _summary(ctx: Context, loaded: Loaded, t: Copy) -> Message:
    """The summary pushed after a close, shown to its manager as any showing is (audited)."""
    async with ctx.sessions() as session:
        viewer = await actor_for(session, loaded.workspace, loaded.person)
    return await show_summary(
        ctx,
        viewer,
        loaded.team,
        t,
        via="delivery",
        period=loaded.round.period,
        tag=DeliveryKind.SUMMARY.value,
    )


# The kinds the dispatcher sends as new messages; `EDITS` (bot/rounds/notices.py) are edits.
RENDERERS: Mapping[DeliveryKind, Callable[[Context, Loaded, Copy], Awaitable[Message]]] = {
    DeliveryKind.PROMPT: _prompt,
    DeliveryKind.REMINDER: _reminder,
    DeliveryKind.SUMMARY: _summary,
}
