"""Edits of sent prompts, through the outbox: rows with no person, deleted once sent.

**Closed notices.** Prompts of a closed round say so: "The 2026-W49 check-in closed on Thu 3
Dec; the next one opens Mon 7 Dec.", edited into each prompt that reached the platform,
without its button. The close deletes the prompt rows (design rule 3: deliveries are reduced
to counts), and the edit must survive a restart or a platform outage, so it goes through the
outbox. In the close transaction, before the raw data goes, the close queues the notices as
`notice_batch` rows: the round and the message references of the sent prompts, a thousand to
a row, and nothing else of them: no person, `answered` false, the references of answered and
unanswered prompts alike, in the order of the prompts' random ids, so the rows say nothing
about who answered. A hundred rows for a round of 100,000 rather than 100,000 (each with its
foreign-key check and index entries, then copied again by the scrub's `VACUUM FULL`): the
close stays short. The dispatcher then turns each batch into one `closed_notice` row per
reference, built from nothing but the batch (the same shape: no person, `answered` false,
the same text for every prompt), in one transaction that deletes the batch, so a crash at
any point loses no notice and makes none twice. It deletes a notice once the platform has
the edit (or refused it for good), so none remains.

**Checked-in edits.** A prompt just answered becomes "You checked in for 2026-W48. Thank
you!". The row is queued in the check-in's own transaction (`bot/rounds/checkin.py`) (so the edit is made if and only if
the answer is stored, and survives a restart), from the prompt's message reference and the
locale the prompt was written in: no person, `answered` false, and no time of answering (its
`not_before` is the round's opening). While the round is open it says what the prompt row's
`answered` flag says already, that this member answered, and nothing more: not when, not what.
It gets one try (a retried row would count attempts from the answer), and is deleted once
the platform has the edit or refused it, for any reason, when the member erases
themselves, and at the latest with the round's raw data at close
(`storage.repositories.delete_round_raw_data`), so the close's scrub leaves nothing of it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.ports import SentRef
from bot.rounds.cadence import Cadence, openings, period_key
from storage import repositories as repo
from storage.models import Delivery, Round, Schedule
from storage.values import DeliveryKind

# The kinds that edit a sent prompt: no person, deleted once done.
EDITS = (DeliveryKind.CLOSED_NOTICE, DeliveryKind.CHECKED_IN)
# The kinds the dispatcher neither sends nor edits but expands into edits (never claimed).
EXPANDED = (DeliveryKind.NOTICE_BATCH,)
_LOOK_AHEAD = 3  # openings after the close: one may belong to the period that just closed

_shuffle = random.SystemRandom().shuffle


async def queue_closed_notices(session: AsyncSession, rnd: Round, now: datetime) -> int:
    """Queue the closed notices of `rnd`'s sent prompts (those with a message reference) as
    `notice_batch` rows; returns how many rows.

    Call it inside the close transaction, before `delete_round_raw_data`: the batches are
    durable with the close, and `expand_closed_notices` (the dispatcher) makes the notices.
    The prompts are read for their message reference alone, in the order of their random
    ids (not their physical order). One INSERT … SELECT in the database: a round of 100,000
    prompts is not loaded into the process."""
    return await repo.batch_sent_prompts(session, rnd.id, now=now)


async def expand_closed_notices(
    sessions: async_sessionmaker[AsyncSession], limit: int | None = None
) -> int:
    """Turn every waiting `notice_batch` (at most `limit` of them) into its `closed_notice`
    rows, a batch per transaction (the batch deleted in it); returns how many notices. Safe
    in several processes at once: a batch is expanded once."""
    async with sessions() as session:
        batches = await repo.notice_batches(session, limit)
    made = 0
    for batch_id in batches:
        async with sessions.begin() as session:
            made += await repo.expand_notice_batch(session, batch_id)
    return made


def edit_of(message_ref: Mapping[str, Any] | None) -> tuple[SentRef, str | None] | None:
    """The prompt an edit row is for, and the locale to write in (checked-in edits carry it);
    None for a row without a readable reference."""
    if not message_ref:
        return None
    try:
        ref = SentRef.from_json(message_ref)
    except KeyError:
        return None
    locale = message_ref.get("locale")
    return ref, locale if isinstance(locale, str) and locale else None


async def drop_checked_in(session: AsyncSession, prompts: Iterable[Delivery]) -> int:
    """Delete the checked-in edits waiting for these prompts (a member erasing themselves):
    their reference names the member's conversation. Returns how many went."""
    wanted: dict[int, set[SentRef]] = {}
    for prompt in prompts:
        found = edit_of(prompt.message_ref)
        if found is not None:
            wanted.setdefault(prompt.round_id, set()).add(found[0])
    if not wanted:
        return 0
    rows = await session.execute(
        select(Delivery.id, Delivery.round_id, Delivery.message_ref).where(
            Delivery.kind == DeliveryKind.CHECKED_IN, Delivery.round_id.in_(wanted)
        )
    )
    doomed = [
        row_id
        for row_id, round_id, ref in rows.all()
        if (found := edit_of(ref)) is not None and found[0] in wanted[round_id]
    ]
    if doomed:
        await session.execute(delete(Delivery).where(Delivery.id.in_(doomed)))
    return len(doomed)


def closed_on(rnd: Round, zone: str) -> date:
    """The day the round closed, in the team's zone (close sets `closes_at` to the moment)."""
    return rnd.closes_at.astimezone(ZoneInfo(zone)).date()


def next_opening(schedule: Schedule | None, zone: str, rnd: Round) -> date | None:
    """The day the team's next round opens, by its schedule; None without an enabled one.

    The first scheduled opening after the close whose period is not the closed round's: a
    round opened and closed by hand ahead of its scheduled time takes that occurrence's
    period, so the occurrence itself will not open another round."""
    if schedule is None or not schedule.enabled:
        return None
    cadence = Cadence.from_row(schedule)
    after = rnd.closes_at
    for _ in range(_LOOK_AHEAD):
        (moment,) = openings(cadence, zone, after, count=1)
        day = moment.astimezone(ZoneInfo(zone)).date()
        if period_key(cadence, day) != rnd.period:
            return day
        after = moment + timedelta(seconds=1)
    return None
