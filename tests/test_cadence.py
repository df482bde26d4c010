"""Schedule arithmetic: DST, biweekly parity, monthly Nth/last weekday, ISO weeks, member-local
fan-out and the no-overlap rule. Reference answers are computed independently of bot.rounds.cadence
(by brute force over days, or written out by hand) so a wrong implementation fails here."""

from __future__ import annotations

import calendar
import random
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rounds.cadence import (
    Cadence,
    cadence_length,
    local_moment,
    member_opening,
    next_occurrence,
    occurrence_dates,
    occurs_on,
    openings,
    period_key,
    previous_occurrence,
    round_window,
    validate_close_after,
)
from bot.rounds.periods import weekly_period
from storage.models import Schedule
from storage.values import CadenceKind

MONDAY, WEDNESDAY, FRIDAY = 0, 2, 4
TEN = time(10, 0)
DAY = timedelta(days=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def reference_occurs(cadence: Cadence, day: date) -> bool:
    """Brute-force definition, written without any of bot.rounds.cadence's helpers."""
    if day.weekday() != cadence.weekday:
        return False
    if cadence.kind == "weekly":
        return True
    if cadence.kind == "biweekly":
        assert cadence.anchor is not None
        anchor_monday = cadence.anchor - timedelta(days=cadence.anchor.weekday())
        day_monday = day - timedelta(days=day.weekday())
        return (day_monday - anchor_monday).days % 14 == 0
    matches = [
        week[cadence.weekday]
        for week in calendar.monthcalendar(day.year, day.month)
        if week[cadence.weekday]
    ]
    index = -1 if cadence.week_of_month == -1 else (cadence.week_of_month or 0) - 1
    return matches[index] == day.day


# --- DST: the wall clock holds, the UTC instant moves ----------------------------------------


@pytest.mark.parametrize(
    ("zone", "after", "change", "utc_hours"),
    [
        # Berlin spring forward on Sunday 2026-03-29: CET (UTC+1) → CEST (UTC+2).
        ("Europe/Berlin", utc(2026, 3, 20), date(2026, 3, 29), [9, 8, 8]),
        # Berlin fall back on Sunday 2026-10-25: CEST → CET.
        ("Europe/Berlin", utc(2026, 10, 16), date(2026, 10, 25), [8, 9, 9]),
        # New York spring forward on Sunday 2026-03-08: EST (UTC-5) → EDT (UTC-4).
        ("America/New_York", utc(2026, 2, 27), date(2026, 3, 8), [15, 14, 14]),
        # New York fall back on Sunday 2026-11-01: EDT → EST.
        ("America/New_York", utc(2026, 10, 23), date(2026, 11, 1), [14, 15, 15]),
    ],
)
def test_weekly_ten_oclock_stays_local_across_dst(
    zone: str, after: datetime, change: date, utc_hours: list[int]
) -> None:
    cadence = Cadence(CadenceKind.WEEKLY, MONDAY, TEN)
    found = openings(cadence, zone, after, count=3)

    assert [m.astimezone(ZoneInfo(zone)).hour for m in found] == [10, 10, 10]
    assert all(m.astimezone(ZoneInfo(zone)).minute == 0 for m in found)
    assert [m.hour for m in found] == utc_hours
    assert found[0].date() < change < found[1].date()
    # Across the change the week is an hour shorter or longer; otherwise exactly seven days.
    shift = timedelta(hours=utc_hours[1] - utc_hours[0])
    assert found[1] - found[0] == timedelta(days=7) + shift
    assert found[2] - found[1] == timedelta(days=7)


# --- Nonexistent and ambiguous wall times ------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "at", "zone", "expected_utc", "expected_local", "expected_offset_hours"),
    [
        # Spring-forward gaps: moved forward by the hour.
        (
            date(2026, 3, 8),
            time(2, 30),
            "America/New_York",
            utc(2026, 3, 8, 7, 30),
            time(3, 30),
            -4,
        ),
        (date(2026, 3, 29), time(2, 30), "Europe/Berlin", utc(2026, 3, 29, 1, 30), time(3, 30), 2),
        # Fall-back overlaps: the first occurrence, still on summer time.
        (
            date(2026, 11, 1),
            time(1, 30),
            "America/New_York",
            utc(2026, 11, 1, 5, 30),
            time(1, 30),
            -4,
        ),
        (
            date(2026, 10, 25),
            time(2, 30),
            "Europe/Berlin",
            utc(2026, 10, 25, 0, 30),
            time(2, 30),
            2,
        ),
        # Ordinary days either side, for contrast.
        (
            date(2026, 3, 7),
            time(2, 30),
            "America/New_York",
            utc(2026, 3, 7, 7, 30),
            time(2, 30),
            -5,
        ),
        (
            date(2026, 10, 26),
            time(2, 30),
            "Europe/Berlin",
            utc(2026, 10, 26, 1, 30),
            time(2, 30),
            1,
        ),
    ],
)
def test_local_moment_gap_moves_forward_and_overlap_takes_first(
    day: date,
    at: time,
    zone: str,
    expected_utc: datetime,
    expected_local: time,
    expected_offset_hours: int,
) -> None:
    moment = local_moment(day, at, zone)
    assert moment == expected_utc
    assert moment.tzinfo is UTC
    local = moment.astimezone(ZoneInfo(zone))
    assert local.date() == day
    assert local.time() == expected_local
    assert local.utcoffset() == timedelta(hours=expected_offset_hours)


def test_local_moment_handles_half_hour_gap() -> None:
    # Lord Howe springs forward by 30 minutes at 02:00 on 2026-10-04.
    moment = local_moment(date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe")
    local = moment.astimezone(ZoneInfo("Australia/Lord_Howe"))
    assert local.time() == time(2, 45)
    assert moment == utc(2026, 10, 3, 15, 45)


# --- Biweekly ----------------------------------------------------------------------------------


BIWEEKLY = Cadence(
    CadenceKind.BIWEEKLY, MONDAY, TEN, anchor=date(2026, 1, 7)
)  # anchor is a Wednesday


def test_biweekly_two_years_are_fourteen_days_apart() -> None:
    both = occurrence_dates(BIWEEKLY, date(2026, 1, 1), date(2027, 12, 31))
    assert all(b - a == timedelta(days=14) for a, b in pairwise(both))
    assert both[0] == date(2026, 1, 5)  # Monday of the anchor's week, before the anchor itself
    for year in (2026, 2027):
        in_year = [d for d in both if d.year == year]
        assert 26 <= len(in_year) <= 27
        assert in_year == occurrence_dates(BIWEEKLY, date(year, 1, 1), date(year, 12, 31))
    assert len([d for d in both if d.year == 2026]) == 26
    assert both == [d for d in days(date(2026, 1, 1), date(2027, 12, 31)) if occurs_on(BIWEEKLY, d)]
    assert both == [
        d for d in days(date(2026, 1, 1), date(2027, 12, 31)) if reference_occurs(BIWEEKLY, d)
    ]


def test_biweekly_anchor_week_in_next_week_out() -> None:
    assert occurs_on(BIWEEKLY, date(2026, 1, 5))
    assert not occurs_on(BIWEEKLY, date(2026, 1, 12))
    assert occurs_on(BIWEEKLY, date(2026, 1, 19))
    assert not occurs_on(BIWEEKLY, date(2026, 1, 7))  # the anchor day itself is a Wednesday


def test_biweekly_before_the_anchor_keeps_parity() -> None:
    assert occurs_on(BIWEEKLY, date(2025, 12, 22))
    assert not occurs_on(BIWEEKLY, date(2025, 12, 29))
    before = occurrence_dates(BIWEEKLY, date(2024, 1, 1), date(2025, 12, 31))
    assert before[-1] == date(2025, 12, 22)
    assert all((date(2026, 1, 5) - d).days % 14 == 0 for d in before)
    assert all(b - a == timedelta(days=14) for a, b in pairwise(before))
    assert previous_occurrence(BIWEEKLY, date(2026, 1, 4)) == date(2025, 12, 22)
    assert next_occurrence(BIWEEKLY, date(2025, 12, 23)) == date(2026, 1, 5)


def test_biweekly_period_key_is_the_opening_week() -> None:
    assert [
        period_key(BIWEEKLY, d)
        for d in occurrence_dates(BIWEEKLY, date(2026, 1, 1), date(2026, 2, 28))
    ] == [
        "2026-W02",
        "2026-W04",
        "2026-W06",
        "2026-W08",
    ]


# --- Monthly -----------------------------------------------------------------------------------


FIRST_MONDAY = Cadence(CadenceKind.MONTHLY, MONDAY, TEN, week_of_month=1)
THIRD_WEDNESDAY = Cadence(CadenceKind.MONTHLY, WEDNESDAY, TEN, week_of_month=3)
LAST_FRIDAY = Cadence(CadenceKind.MONTHLY, FRIDAY, TEN, week_of_month=-1)


@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        (
            FIRST_MONDAY,
            ["01-05", "02-02", "03-02", "04-06", "05-04", "06-01",
             "07-06", "08-03", "09-07", "10-05", "11-02", "12-07"],
        ),
        (
            THIRD_WEDNESDAY,
            ["01-21", "02-18", "03-18", "04-15", "05-20", "06-17",
             "07-15", "08-19", "09-16", "10-21", "11-18", "12-16"],
        ),
        (
            LAST_FRIDAY,
            ["01-30", "02-27", "03-27", "04-24", "05-29", "06-26",
             "07-31", "08-28", "09-25", "10-30", "11-27", "12-25"],
        ),
    ],
)  # fmt: skip
def test_monthly_every_month_of_2026(cadence: Cadence, expected: list[str]) -> None:
    found = occurrence_dates(cadence, date(2026, 1, 1), date(2026, 12, 31))
    assert [d.strftime("%m-%d") for d in found] == expected
    assert len(found) == 12
    assert [period_key(cadence, d) for d in found] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert found == [d for d in days(date(2026, 1, 1), date(2026, 12, 31)) if occurs_on(cadence, d)]


def test_monthly_known_dates() -> None:
    assert occurrence_dates(LAST_FRIDAY, date(2026, 2, 1), date(2026, 2, 28)) == [date(2026, 2, 27)]
    assert occurrence_dates(FIRST_MONDAY, date(2026, 6, 1), date(2026, 6, 30)) == [date(2026, 6, 1)]
    assert occurrence_dates(THIRD_WEDNESDAY, date(2026, 12, 1), date(2026, 12, 31)) == [
        date(2026, 12, 16)
    ]
    # The last Friday is the fifth one when a month has five, not the fourth.
    assert occurs_on(LAST_FRIDAY, date(2026, 1, 30))
    assert not occurs_on(LAST_FRIDAY, date(2026, 1, 23))
    fourth_friday = Cadence(CadenceKind.MONTHLY, FRIDAY, TEN, week_of_month=4)
    assert occurs_on(fourth_friday, date(2026, 1, 23))
    assert not occurs_on(fourth_friday, date(2026, 1, 30))


def test_occurrence_dates_over_centuries_is_cheap_and_exact() -> None:
    start, end = date(1900, 1, 1), date(2099, 12, 31)
    assert len(occurrence_dates(LAST_FRIDAY, start, end)) == 200 * 12
    weekly = occurrence_dates(Cadence(CadenceKind.WEEKLY, MONDAY, TEN), start, end)
    assert len(weekly) == sum(1 for d in days(start, end) if d.weekday() == MONDAY)
    assert occurrence_dates(LAST_FRIDAY, end, start) == []


# --- Period keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "key"),
    [
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 1), "2026-W53"),
        (date(2024, 12, 30), "2025-W01"),
        (date(2026, 1, 5), "2026-W02"),
        (date(2026, 11, 25), "2026-W48"),
    ],
)
def test_period_key_iso_weeks(day: date, key: str) -> None:
    weekly = Cadence(CadenceKind.WEEKLY, day.weekday(), TEN)
    assert period_key(weekly, day) == key
    assert period_key(Cadence(CadenceKind.BIWEEKLY, day.weekday(), TEN, anchor=day), day) == key
    # Same answer as the key the rest of the bot computes from an instant in the team's zone.
    zone = "Pacific/Auckland"
    assert weekly_period(local_moment(day, TEN, zone), zone) == key


def test_period_key_monthly() -> None:
    assert period_key(LAST_FRIDAY, date(2026, 11, 27)) == "2026-11"
    assert period_key(FIRST_MONDAY, date(2027, 1, 4)) == "2027-01"


# --- Member-local fan-out ----------------------------------------------------------------------


FIVE_ZONES = [
    "Pacific/Auckland",
    "Asia/Tokyo",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
]


def test_member_local_fan_out_across_five_zones() -> None:
    cadence = Cadence(CadenceKind.WEEKLY, MONDAY, time(9, 0))
    day = date(2026, 6, 1)
    close_after = timedelta(hours=72)

    not_befores = {zone: member_opening(cadence, day, zone) for zone in FIVE_ZONES}
    for zone, moment in not_befores.items():
        local = moment.astimezone(ZoneInfo(zone))
        assert (local.date(), local.hour, local.minute) == (day, 9, 0), zone
        assert moment.tzinfo is UTC

    # Auckland (NZST, UTC+12) first, Los Angeles (PDT, UTC-7) last: 19 hours apart.
    assert not_befores["Pacific/Auckland"] == utc(2026, 5, 31, 21, 0)
    assert not_befores["America/Los_Angeles"] == utc(2026, 6, 1, 16, 0)
    assert sorted(not_befores, key=not_befores.__getitem__) == FIVE_ZONES

    shuffled = FIVE_ZONES[:]
    random.Random(7).shuffle(shuffled)
    opens_at, closes_at = round_window(cadence, day, shuffled, close_after)
    assert opens_at == not_befores["Pacific/Auckland"]
    assert closes_at == not_befores["America/Los_Angeles"] + close_after
    assert closes_at == utc(2026, 6, 4, 16, 0)


def test_round_window_team_mode_is_one_zone() -> None:
    cadence = Cadence(CadenceKind.WEEKLY, MONDAY, time(9, 0))
    opens_at, closes_at = round_window(
        cadence, date(2026, 6, 1), ["Europe/Berlin"], timedelta(hours=72)
    )
    assert opens_at == utc(2026, 6, 1, 7, 0)
    assert closes_at == utc(2026, 6, 4, 7, 0)
    with pytest.raises(ValueError):
        round_window(cadence, date(2026, 6, 1), [], timedelta(hours=72))


# --- previous / next occurrence ----------------------------------------------------------------


WEEK_OF_MONTH = st.sampled_from([1, 2, 3, 4, -1])
DATES = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))
TIMES = st.times()


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    kind = draw(st.sampled_from(["weekly", "biweekly", "monthly"]))
    weekday = draw(st.integers(0, 6))
    at = draw(st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])))
    if kind == "weekly":
        return Cadence(CadenceKind.WEEKLY, weekday, at)
    if kind == "biweekly":
        return Cadence(CadenceKind.BIWEEKLY, weekday, at, anchor=draw(DATES))
    return Cadence(CadenceKind.MONTHLY, weekday, at, week_of_month=draw(WEEK_OF_MONTH))


@settings(max_examples=400, deadline=None)
@given(cadences(), DATES)
def test_previous_occurrence_is_the_latest_on_or_before(cadence: Cadence, day: date) -> None:
    previous = previous_occurrence(cadence, day)
    assert previous <= day
    assert occurs_on(cadence, previous)
    assert reference_occurs(cadence, previous)
    assert occurrence_dates(cadence, previous + DAY, day) == []
    assert not any(reference_occurs(cadence, d) for d in days(previous + DAY, day))
    assert (previous == day) == occurs_on(cadence, day)


@settings(max_examples=400, deadline=None)
@given(cadences(), DATES)
def test_next_occurrence_is_the_earliest_on_or_after(cadence: Cadence, day: date) -> None:
    following = next_occurrence(cadence, day)
    assert following >= day
    assert occurs_on(cadence, following)
    assert reference_occurs(cadence, following)
    assert occurrence_dates(cadence, day, following - DAY) == []
    assert not any(reference_occurs(cadence, d) for d in days(day, following - DAY))
    assert (following == day) == occurs_on(cadence, day)
    # The two agree: stepping back from the next one lands on it, and the gap to the one
    # before is exactly one cadence step or more, never less than the cadence's minimum.
    assert previous_occurrence(cadence, following) == following
    earlier = previous_occurrence(cadence, following - DAY)
    assert following - earlier >= cadence_length(cadence.kind)


@settings(max_examples=200, deadline=None)
@given(cadences(), DATES, st.integers(0, 120))
def test_occurrence_dates_match_brute_force(cadence: Cadence, start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = [d for d in days(start, end) if reference_occurs(cadence, d)]
    assert occurrence_dates(cadence, start, end) == expected
    assert [d for d in days(start, end) if occurs_on(cadence, d)] == expected


# --- openings ----------------------------------------------------------------------------------


ZONES = st.sampled_from(
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
        "Pacific/Auckland",
        "Asia/Tokyo",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/Santiago",
    ]
)
AFTER = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)


def wall_time_exists(day: date, at: time, zone: str) -> bool:
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


@settings(max_examples=300, deadline=None)
@given(cadences(), ZONES, AFTER)
def test_openings_are_increasing_after_and_on_the_local_time(
    cadence: Cadence, zone: str, after: datetime
) -> None:
    found = openings(cadence, zone, after, count=3)
    assert len(found) == 3
    assert all(m.tzinfo is UTC for m in found)
    assert all(m > after for m in found)
    assert all(a < b for a, b in pairwise(found))
    tz = ZoneInfo(zone)
    local_after = after.astimezone(tz).date()
    expected_days = occurrence_dates(cadence, local_after - DAY, local_after + timedelta(days=130))
    expected = [
        m for m in (local_moment(d, cadence.local_time, zone) for d in expected_days) if m > after
    ]
    assert found == expected[:3]
    for moment in found:
        local = moment.astimezone(tz)
        day = next(d for d in expected_days if local_moment(d, cadence.local_time, zone) == moment)
        if wall_time_exists(day, cadence.local_time, zone):
            assert local.replace(tzinfo=None) == datetime.combine(day, cadence.local_time)
        else:
            assert local.replace(tzinfo=None) > datetime.combine(day, cadence.local_time)


def test_openings_strictly_after_and_walks_forward() -> None:
    cadence = Cadence(CadenceKind.WEEKLY, MONDAY, TEN)
    first_three = openings(cadence, "Europe/Berlin", utc(2026, 6, 1, 7, 59))
    assert first_three == [utc(2026, 6, 1, 8), utc(2026, 6, 8, 8), utc(2026, 6, 15, 8)]
    # An `after` equal to an opening excludes it.
    assert openings(cadence, "Europe/Berlin", first_three[0], count=2) == first_three[1:]
    assert openings(cadence, "Europe/Berlin", first_three[0], count=0) == []
    # Local date differs from the UTC date: Monday 08:00 in Tokyo is Sunday 23:00 UTC.
    tokyo = openings(
        Cadence(CadenceKind.WEEKLY, MONDAY, time(8)), "Asia/Tokyo", utc(2026, 6, 7, 22), count=1
    )
    assert tokyo == [utc(2026, 6, 7, 23)]
    with pytest.raises(ValueError):
        openings(cadence, "Europe/Berlin", datetime(2026, 6, 1, 7), count=1)


# --- from_row, validation ----------------------------------------------------------------------


def test_from_row_reads_a_storage_schedule() -> None:
    row = Schedule(
        team_id=1,
        cadence="monthly",
        weekday=FRIDAY,
        local_time="09:30",
        week_of_month=-1,
        anchor=date(2026, 1, 1),  # stale: a monthly cadence has no anchor
        timezone="Europe/Berlin",
        member_local=False,
    )
    assert Cadence.from_row(row) == Cadence(
        CadenceKind.MONTHLY, FRIDAY, time(9, 30), week_of_month=-1
    )
    biweekly = SimpleNamespace(
        cadence="biweekly", weekday=0, local_time="17:05", week_of_month=2, anchor=date(2026, 1, 7)
    )
    assert Cadence.from_row(biweekly) == Cadence(
        CadenceKind.BIWEEKLY, MONDAY, time(17, 5), anchor=date(2026, 1, 7)
    )
    for bad in ("9:30", "09:3", "0930", "24:00", "ab:cd"):
        with pytest.raises(ValueError):
            Cadence.from_row(
                SimpleNamespace(
                    cadence="weekly", weekday=0, local_time=bad, week_of_month=None, anchor=None
                )
            )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "daily", "weekday": 0},
        {"kind": "weekly", "weekday": 7},
        {"kind": "weekly", "weekday": -1},
        {"kind": "monthly", "weekday": 0},
        {"kind": "monthly", "weekday": 0, "week_of_month": 5},
        {"kind": "monthly", "weekday": 0, "week_of_month": 0},
        {"kind": "biweekly", "weekday": 0},
    ],
)
def test_cadence_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Cadence(local_time=TEN, **kwargs)  # type: ignore[arg-type]


def test_cadence_length() -> None:
    assert cadence_length(CadenceKind.WEEKLY) == timedelta(days=7)
    assert cadence_length(CadenceKind.BIWEEKLY) == timedelta(days=14)
    assert cadence_length(CadenceKind.MONTHLY) == timedelta(days=28)
    with pytest.raises(ValueError):
        cadence_length("daily")  # type: ignore[arg-type]


def test_validate_close_after() -> None:
    validate_close_after(CadenceKind.WEEKLY, timedelta(hours=72), member_local=False)
    validate_close_after(
        CadenceKind.WEEKLY, timedelta(days=7) - timedelta(seconds=1), member_local=False
    )
    with pytest.raises(ValueError):
        validate_close_after(CadenceKind.WEEKLY, timedelta(days=7), member_local=False)

    validate_close_after(CadenceKind.WEEKLY, timedelta(days=5), member_local=True)
    validate_close_after(
        CadenceKind.WEEKLY, timedelta(days=6) - timedelta(minutes=1), member_local=True
    )
    with pytest.raises(ValueError):
        validate_close_after(
            CadenceKind.WEEKLY, timedelta(days=6), member_local=True
        )  # 6d + 1d margin = 7d
    with pytest.raises(ValueError):
        validate_close_after(CadenceKind.WEEKLY, timedelta(days=6, hours=1), member_local=True)

    validate_close_after(CadenceKind.BIWEEKLY, timedelta(days=13), member_local=False)
    with pytest.raises(ValueError):
        validate_close_after(CadenceKind.BIWEEKLY, timedelta(days=13), member_local=True)
    validate_close_after(CadenceKind.MONTHLY, timedelta(days=27), member_local=False)
    with pytest.raises(ValueError):
        validate_close_after(CadenceKind.MONTHLY, timedelta(days=28), member_local=False)

    for nonpositive in (timedelta(0), timedelta(hours=-1)):
        with pytest.raises(ValueError):
            validate_close_after(CadenceKind.WEEKLY, nonpositive, member_local=False)


def test_openings_keep_an_occurrence_pushed_into_the_next_day() -> None:
    # Samoa skipped Friday 2011-12-30 entirely (a 24-hour gap). A Friday 10:00 opening moves
    # forward by the gap to Saturday 10:00, so asking from early Saturday must still find it.
    # (Samoa was then on UTC+14, daylight time.)
    cadence = Cadence(CadenceKind.WEEKLY, FRIDAY, TEN)
    moment = local_moment(date(2011, 12, 30), TEN, "Pacific/Apia")
    assert moment == utc(2011, 12, 30, 20)
    assert moment.astimezone(ZoneInfo("Pacific/Apia")).date() == date(2011, 12, 31)
    after = datetime(2011, 12, 31, 5, tzinfo=ZoneInfo("Pacific/Apia"))
    assert openings(cadence, "Pacific/Apia", after, count=2) == [moment, utc(2012, 1, 5, 20)]
