"""Storing a check-in, exactly as the design's "When a check-in is stored" table says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.errors import UsageError
from bot.core.ports import SentRef
from bot.rounds.lifecycle import is_paused
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.db import Sessions, short_write
from storage.repositories import CheckedInEdit, OpenRound
from storage.values import DeliveryStatus

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
    "checked in" edit is queued in the same transaction (`checked_in_edit`).

    On PostgreSQL a check-in that can be stored is stored by one statement, which is its own
    transaction (`repositories.store_checkin_at_once`: one round trip, where a transaction
    takes five); one that cannot changes nothing there, and the transaction below says why.
    Elsewhere, four statements when it is stored (the round and prompt, the compare-and-set,
    the answer, the edit), each built once (storage/repositories.py), read as plain values,
    on a driver's connection (`Sessions.writing`): no ORM on a burst's hot path."""
    now = ctx.clock.now()
    if actor.person is None or actor.home_team is None:
        return CheckinResult(Outcome.NO_TEAM, None)
    person_id, team_id = actor.person.id, actor.home_team.id
    if isinstance(ctx.sessions, Sessions) and repo.stores_at_once(ctx.database):
        async with ctx.sessions.single_statement() as conn:
            stored = await repo.store_checkin_at_once(
                conn,
                team_id,
                person_id,
                now.date(),
                scores.values,
                scores.comment,
                actor.person.locale or actor.workspace.locale,
            )
        if stored is not None:
            return CheckinResult(Outcome.STORED, stored.period, edit_queued=stored.edit_queued)
    async with short_write(ctx.sessions) as session:
        rnd, prompt = await repo.open_round_and_prompt(session, team_id, person_id, lock="share")
        if rnd is None:
            return CheckinResult(Outcome.PRIVATE, None)
        if prompt is None:
            counted_from = await repo.counted_from(session, person_id, team_id)
            if counted_from is not None and counted_from > rnd.opens_at:
                return CheckinResult(Outcome.MOVED, rnd.period, counted_from=counted_from)
        paused = prompt is not None and is_paused(prompt.paused_until, now)
        if (
            prompt is None
            or prompt.status in (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED)
            or paused
        ):
            return CheckinResult(Outcome.PRIVATE, rnd.period)
        if prompt.answered or not await repo.mark_answered(session, prompt.id):
            return CheckinResult(Outcome.ALREADY, rnd.period)
        edit = None
        if prompt.message_ref:  # the prompt reached the platform: it is edited to say so
            locale = actor.person.locale or actor.workspace.locale
            edit = checked_in_edit(rnd, prompt.message_ref, locale)
        await repo.add_answer(session, rnd.id, scores.values, scores.comment, edit=edit)
        return CheckinResult(Outcome.STORED, rnd.period, edit_queued=bool(prompt.message_ref))


def checked_in_edit(rnd: OpenRound, prompt_ref: Mapping[str, Any], locale: str) -> CheckedInEdit:
    """The "You checked in" edit of the prompt at `prompt_ref`, written in `locale`: an outbox
    row with no person and no time of answering (bot/rounds/notices.py says why it adds
    nothing to what the prompt's `answered` flag says, and when it goes).

    Queued (`repositories.add_answer`) in the transaction that stores the answer and marks
    the prompt answered. The row holds the platform's reference and the locale only
    (`edit_of` reads them back)."""
    return CheckedInEdit(
        rnd.opens_at,  # due at once, and no time of answering kept
        {**SentRef.from_json(prompt_ref).to_json(), "locale": locale},
    )
