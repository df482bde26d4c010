"""Prompts of a closed round say so: "The 2026-W49 check-in closed on Thu 3 Dec; the next one
opens Mon 7 Dec.", edited into each prompt that reached the platform, without its button.

The close deletes the prompt rows (design rule 3: deliveries are reduced to counts), and the
edit must survive a restart or a platform outage, so it goes through the outbox. Each notice
row is built, in the close transaction and before the raw data goes, from nothing but the
round and the prompt's message reference: no person, `answered` false, the same text for
every prompt, answered or not, so the rows say nothing about who answered. The dispatcher
deletes a notice once the platform has the edit (or refused it for good), so none remains.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rounds.cadence import Cadence, openings, period_key
from storage import repositories as repo
from storage.models import Round, Schedule

KIND = "closed_notice"
_LOOK_AHEAD = 3  # openings after the close: one may belong to the period that just closed

_shuffle = random.SystemRandom().shuffle


async def queue_closed_notices(session: AsyncSession, rnd: Round, now: datetime) -> int:
    """One pending notice per prompt of `rnd` that was sent (it has a message reference).

    Call it inside the close transaction, before `delete_round_raw_data`. The prompts are read
    for their message reference alone, and the notices are inserted in a random order with
    random ids, so not even their physical order (rowids, heap position) follows anything of
    the prompts. One INSERT … SELECT in the database: a round of 100,000 prompts is not
    loaded into the process."""
    return await repo.copy_sent_prompts(session, rnd.id, kind=KIND, now=now)


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
