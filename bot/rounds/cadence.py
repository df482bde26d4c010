"""Schedule arithmetic: when a team's rounds happen, in which period, and at which instants.

The Schedule table is the source of truth and this module is the project's own arithmetic over
it (APScheduler only ticks; it never decides when a round is due). Everything here is pure: no
clock, no database, no I/O. Callers pass "now" in, which keeps the worker testable with an
injected clock and makes every answer reproducible across replicas.

Dates are calendar dates in the team's zone; instants are aware UTC datetimes, because the
database stores UTC and comparing aware UTC values is the only comparison that survives DST.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.values import CadenceKind

_KIND_NAMES = sorted(kind.value for kind in CadenceKind)
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)

# Close-after must be shorter than this so that a round always closes before the next one
# opens. Monthly uses 28 days: the shortest gap between the Nth (or last) weekday of one month
# and that of the next is four weeks, so 28 days is the worst case rather than the average.
_CADENCE_LENGTH: dict[CadenceKind, timedelta] = {
    CadenceKind.WEEKLY: timedelta(days=7),
    CadenceKind.BIWEEKLY: timedelta(days=14),
    CadenceKind.MONTHLY: timedelta(days=28),
}

# Member-local rounds close after the *last* member's not-before, which can be up to ~26 hours
# after the first one (UTC+14 to UTC-12). A day of margin keeps that round clear of the next.
_MEMBER_LOCAL_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Cadence:
    """The recurrence part of a Schedule, detached from the ORM so it can be reasoned about alone.

    Fields that do not apply to `kind` (an anchor on a weekly cadence, say) are ignored rather
    than rejected, so a schedule edited from one cadence to another with stale columns still
    works; `from_row` drops them so equal schedules compare equal.
    """

    kind: CadenceKind
    weekday: int  # 0 = Monday
    local_time: time
    week_of_month: int | None = None  # 1..4, or -1 = last; monthly only
    anchor: date | None = None  # biweekly: any date in a week when it runs

    def __post_init__(self) -> None:
        # Fail at construction, not weeks later inside the worker's tick.
        try:
            kind = CadenceKind(self.kind)
        except ValueError:
            raise ValueError(
                f"unknown cadence {self.kind!r}; expected one of {_KIND_NAMES}"
            ) from None
        object.__setattr__(self, "kind", kind)  # a string with a cadence's value: its member
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), not {self.weekday}")
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time is a wall-clock time and must be naive")
        if self.kind == CadenceKind.MONTHLY and self.week_of_month not in (1, 2, 3, 4, -1):
            raise ValueError(
                f"a monthly cadence needs week_of_month 1..4 or -1 (last), not {self.week_of_month}"
            )
        if self.kind == CadenceKind.BIWEEKLY and self.anchor is None:
            raise ValueError("a biweekly cadence needs an anchor date to fix which weeks it runs")

    @staticmethod
    def from_row(row: Any) -> Cadence:
        """Build from a storage.models.Schedule (duck-typed so this layer needs no ORM import).

        Only the fields the cadence uses are carried over, so stale columns left behind by an
        edit (a week_of_month on what is now a weekly schedule) cannot change its meaning.
        """
        kind = row.cadence
        return Cadence(
            kind=kind,
            weekday=int(row.weekday),
            local_time=_parse_hhmm(row.local_time),
            week_of_month=row.week_of_month if kind == CadenceKind.MONTHLY else None,
            anchor=row.anchor if kind == CadenceKind.BIWEEKLY else None,
        )


def _parse_hhmm(value: str | time) -> time:
    """Strict "HH:MM": the column is String(5), and anything else there is a bug to surface."""
    if isinstance(value, time):
        return value
    hours, sep, minutes = value.partition(":")
    if not (
        sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
    ):
        raise ValueError(f"local_time must be HH:MM, not {value!r}")
    return time(int(hours), int(minutes))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _on_biweekly_parity(cadence: Cadence, day: date) -> bool:
    """Whether `day`'s week is an even number of weeks from the anchor's week.

    Python's floor modulo keeps this right for weeks before the anchor too.
    """
    assert cadence.anchor is not None  # guaranteed by Cadence.__post_init__
    weeks = (_monday(day) - _monday(cadence.anchor)).days // 7
    return weeks % 2 == 0


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _monthly_date(cadence: Cadence, year: int, month: int) -> date:
    """The Nth (or last) `weekday` of a month; always exists because N is at most 4."""
    if cadence.week_of_month == -1:
        next_year, next_month = _add_months(year, month, 1)
        last = date(next_year, next_month, 1) - _DAY
        return last - timedelta(days=(last.weekday() - cadence.weekday) % 7)
    assert cadence.week_of_month is not None  # guaranteed by Cadence.__post_init__
    first = date(year, month, 1)
    first_match = first + timedelta(days=(cadence.weekday - first.weekday()) % 7)
    return first_match + timedelta(weeks=cadence.week_of_month - 1)


def occurs_on(cadence: Cadence, day: date) -> bool:
    """Whether a round of this cadence belongs to the calendar date `day` (team-zone date)."""
    if day.weekday() != cadence.weekday:
        return False
    if cadence.kind == CadenceKind.WEEKLY:
        return True
    if cadence.kind == CadenceKind.BIWEEKLY:
        return _on_biweekly_parity(cadence, day)
    return _monthly_date(cadence, day.year, day.month) == day


def occurrence_dates(cadence: Cadence, start: date, end: date) -> list[date]:
    """Every occurrence in [start, end], ascending.

    Steps by week or by month rather than by day, so listing years of a schedule (for a
    preview, or a property test) stays cheap.
    """
    if start > end:
        return []
    if cadence.kind == CadenceKind.MONTHLY:
        found: list[date] = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            candidate = _monthly_date(cadence, year, month)
            if start <= candidate <= end:
                found.append(candidate)
            year, month = _add_months(year, month, 1)
        return found
    first = start + timedelta(days=(cadence.weekday - start.weekday()) % 7)
    step = _WEEK
    if cadence.kind == CadenceKind.BIWEEKLY:
        if not _on_biweekly_parity(cadence, first):
            first += _WEEK
        step = 2 * _WEEK
    count = 0 if first > end else (end - first) // step + 1
    return [first + i * step for i in range(count)]


def previous_occurrence(cadence: Cadence, on_or_before: date) -> date:
    """The latest occurrence on or before the date: the round that is (or was last) current.

    The worker uses this on restart to find the one period worth catching up; older missed
    periods are skipped, not back-filled.
    """
    if cadence.kind == CadenceKind.MONTHLY:
        candidate = _monthly_date(cadence, on_or_before.year, on_or_before.month)
        if candidate <= on_or_before:
            return candidate
        year, month = _add_months(on_or_before.year, on_or_before.month, -1)
        return _monthly_date(cadence, year, month)
    candidate = on_or_before - timedelta(days=(on_or_before.weekday() - cadence.weekday) % 7)
    if cadence.kind == CadenceKind.BIWEEKLY and not _on_biweekly_parity(cadence, candidate):
        candidate -= _WEEK
    return candidate


def next_occurrence(cadence: Cadence, on_or_after: date) -> date:
    """The earliest occurrence on or after the date: the round to announce or open next."""
    if cadence.kind == CadenceKind.MONTHLY:
        candidate = _monthly_date(cadence, on_or_after.year, on_or_after.month)
        if candidate >= on_or_after:
            return candidate
        year, month = _add_months(on_or_after.year, on_or_after.month, 1)
        return _monthly_date(cadence, year, month)
    candidate = on_or_after + timedelta(days=(cadence.weekday - on_or_after.weekday()) % 7)
    if cadence.kind == CadenceKind.BIWEEKLY and not _on_biweekly_parity(cadence, candidate):
        candidate += _WEEK
    return candidate


def local_moment(day: date, at: time, zone: str) -> datetime:
    """The UTC instant at which wall-clock `at` on `day` happens in `zone`.

    People set "10:00 on Monday" and expect 10:00 on their clock all year, so the UTC instant
    moves with DST. Two wall times need a rule (design: Scheduling and delivery):
    - nonexistent (the spring-forward gap): moved forward by the gap, so 02:30 on a 02:00→03:00
      day becomes 03:30 - the prompt is late by the gap rather than skipped or sent early;
    - ambiguous (the fall-back overlap): the first occurrence (fold=0), so nothing waits an
      extra hour and the instant is the same on every replica.
    Nonexistence is detected by round-tripping through UTC, which works for any gap size
    (30-minute Lord Howe, whole skipped days) without consulting transition tables.
    """
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    local = wall.replace(tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # In a gap fold=0 uses the offset from before the transition and fold=1 the one after; the
    # difference is the size of the gap.
    before = local.utcoffset()
    after = local.replace(fold=1).utcoffset()
    assert before is not None and after is not None
    gap = after - before
    return (wall + gap).replace(tzinfo=tz).astimezone(UTC)


def period_key(cadence: Cadence, day: date) -> str:
    """The round's period key for the occurrence on `day` (a team-zone date).

    Weekly and biweekly use the ISO week of the day it opens (ISO year, so 2027-01-01 is
    "2026-W53"), matching bot.rounds.periods.weekly_period; monthly uses the month. The key is what
    makes a round unique per team, so it must never depend on a member's zone.
    """
    if cadence.kind == CadenceKind.MONTHLY:
        return f"{day.year}-{day.month:02d}"
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def openings(cadence: Cadence, zone: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` opening instants strictly after `after`, in UTC, in team-zone mode.

    Strictly after, so feeding the last opening back in walks forward without repeating it.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be an aware datetime")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    found: list[datetime] = []
    # Start a day early: a gap-shifted or late-evening opening can fall on the previous local
    # date of `after`, and the strict comparison below discards anything not after it.
    day = next_occurrence(cadence, after.astimezone(ZoneInfo(zone)).date() - _DAY)
    while len(found) < count:
        moment = local_moment(day, cadence.local_time, zone)
        if moment > after:
            found.append(moment)
        day = next_occurrence(cadence, day + _DAY)
    return found


def member_opening(cadence: Cadence, day: date, member_zone: str) -> datetime:
    """One member's not-before in member-local mode: the cadence's time on their own clock."""
    return local_moment(day, cadence.local_time, member_zone)


def round_window(
    cadence: Cadence, day: date, zones: Sequence[str], close_after: timedelta
) -> tuple[datetime, datetime]:
    """(opens_at, closes_at) for the round of occurrence `day`.

    The round opens with its earliest not-before (so the first member's prompt is not held
    back by the round) and closes close_after past the latest one (so the last member gets the
    full window too). Team mode passes the team's zone alone; member-local mode passes every
    member's zone, or the team's if there are none.
    """
    if not zones:
        raise ValueError("round_window needs at least one zone (the team's, if no members)")
    moments = [local_moment(day, cadence.local_time, zone) for zone in zones]
    return min(moments), max(moments) + close_after


def cadence_length(kind: CadenceKind) -> timedelta:
    """The shortest time between two consecutive occurrences of a cadence kind."""
    try:
        return _CADENCE_LENGTH[kind]
    except KeyError:
        raise ValueError(f"unknown cadence {kind!r}; expected one of {_KIND_NAMES}") from None


def validate_close_after(kind: CadenceKind, close_after: timedelta, member_local: bool) -> None:
    """Reject a close-after that would let a round still be open when the next one opens.

    Rounds are unique per period and the worker assumes at most one open round per team, so
    overlap must be impossible by construction. Member-local mode keeps a day of margin because
    its close counts from the last member's not-before, up to a day after the first. A
    non-positive close-after is rejected too: a round that closes as it opens collects nothing.
    """
    length = cadence_length(kind)
    if close_after <= timedelta(0):
        raise ValueError("close-after must be positive")
    if member_local:
        if close_after + _MEMBER_LOCAL_MARGIN >= length:
            raise ValueError(
                f"in member-local mode close-after must be under {length - _MEMBER_LOCAL_MARGIN} "
                f"for a {kind} cadence (a day of margin before the next round)"
            )
    elif close_after >= length:
        raise ValueError(f"close-after must be under {length} for a {kind} cadence")
