"""Storing a check-in, exactly as the design's "When a check-in is stored" table says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.errors import UsageError
from bot.core.ports import SentRef
from bot.rounds.lifecycle import is_paused
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.models import Answer, Delivery, Membership, Round
from storage.values import DeliveryKind, DeliveryStatus

COMMENT_MAX = 280


class Outcome(Enum):
    STORED = "stored"  # counted for the round
    ALREADY = "already"  # already counted this round: nothing stored
    PRIVATE = "private"  # no round for this person right now: a private reflection
    MOVED = "moved"  # moved teams mid-period: counted in the new team from `counted_from`
    NO_TEAM = "no_team"  # not in any team: nothing stored


@dataclass(frozen=True)
class CheckinResult:
    outcome: Outcome
    period: str | None
    edit_queued: bool = False  # the prompt's "checked in" edit waits in the outbox
    counted_from: datetime | None = None  # for MOVED


@dataclass(frozen=True)
class Scores:
    values: Mapping[str, int]
    comment: str | None  # only when the member ticked "share"; otherwise never kept

    @staticmethod
    def parse(form: Mapping[str, str]) -> Scores:
        """Validate a submitted check-in form; a missing or odd score is a polite error."""
        values: dict[str, int] = {}
        for key in PRACTICE_KEYS:
            raw = (form.get(key) or "").strip()
            if raw not in {"1", "2", "3", "4", "5"}:
                raise UsageError("answer_all_five")
            values[key] = int(raw)
        comment = (form.get("comment") or "").strip()
        shared = (form.get("share") or "").lower() in {"1", "true", "on", "yes", "share"}
        if len(comment) > COMMENT_MAX:
            raise UsageError("comment_too_long", limit=COMMENT_MAX)
        return Scores(values, comment if (comment and shared) else None)


async def record_checkin(ctx: Context, actor: Actor, scores: Scores) -> CheckinResult:
    """Answer and delivery-answered in one transaction, or nothing at all; the prompt's
    "checked in" edit is queued in the same transaction (`queue_checked_in`)."""
    now = ctx.clock.now()
    if actor.person is None or actor.home_team is None:
        return CheckinResult(Outcome.NO_TEAM, None)
    async with ctx.sessions.begin() as session:
        rnd, delivery = await repo.open_round_and_prompt(
            session, actor.home_team.id, actor.person.id, lock="share"
        )
        if rnd is None:
            return CheckinResult(Outcome.PRIVATE, None)
        if delivery is None:
            counted_from = await session.scalar(
                select(Membership.counted_from).where(
                    Membership.person_id == actor.person.id,
                    Membership.team_id == actor.home_team.id,
                )
            )
            if counted_from is not None and counted_from > rnd.opens_at:
                return CheckinResult(Outcome.MOVED, rnd.period, counted_from=counted_from)
        paused = is_paused(actor.person.paused_until, now)
        if (
            delivery is None
            or delivery.status in (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED)
            or paused
        ):
            return CheckinResult(Outcome.PRIVATE, rnd.period)
        if delivery.answered or not await repo.mark_answered(session, delivery.id):
            return CheckinResult(Outcome.ALREADY, rnd.period)
        # Core inserts: a burst of check-ins pays for two statements, not the ORM's flush.
        await session.execute(
            insert(Answer).values(round_id=rnd.id, comment=scores.comment, **dict(scores.values))
        )
        if delivery.message_ref:  # the prompt reached the platform: it is edited to say so
            locale = actor.person.locale or actor.workspace.locale
            await queue_checked_in(session, rnd, delivery.message_ref, locale)
        return CheckinResult(Outcome.STORED, rnd.period, edit_queued=bool(delivery.message_ref))


async def queue_checked_in(
    session: AsyncSession, rnd: Round, prompt_ref: Mapping[str, Any], locale: str
) -> None:
    """Queue the "You checked in" edit of the prompt at `prompt_ref`, written in `locale`: an
    outbox row with no person and no time of answering (bot/rounds/notices.py says why it
    adds nothing to what the prompt's `answered` flag says, and when it goes).

    Call it in the transaction that stores the answer and marks the prompt answered. The row
    holds the platform's reference and the locale only (`edit_of` reads them back)."""
    await session.execute(
        insert(Delivery).values(
            round_id=rnd.id,
            person_id=None,
            kind=DeliveryKind.CHECKED_IN,
            not_before=rnd.opens_at,  # due at once, and no time of answering kept
            status=DeliveryStatus.PENDING,
            message_ref={**SentRef.from_json(prompt_ref).to_json(), "locale": locale},
            answered=False,
        )
    )
