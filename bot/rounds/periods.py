"""Period keys and time-zone helpers. The period key is always computed in the team's zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.errors import UsageError


def weekly_period(when: datetime, zone: str) -> str:
    year, week, _ = when.astimezone(ZoneInfo(zone)).isocalendar()
    return f"{year}-W{week:02d}"


def monthly_period(when: datetime, zone: str) -> str:
    local = when.astimezone(ZoneInfo(zone))
    return f"{local.year}-{local.month:02d}"


def period_end(period: str, zone: str) -> datetime:
    """The first moment after a period, in `zone`: the Monday after an ISO week
    (`2026-W49`), the first of the next month (`2026-11`)."""
    if "-W" in period:
        iso_year, week = period.split("-W")
        first = date.fromisocalendar(int(iso_year), int(week), 1) + timedelta(days=7)
    else:
        year, month = (int(part) for part in period.split("-"))
        first = date(year + month // 12, month % 12 + 1, 1)
    return datetime.combine(first, time(0), tzinfo=ZoneInfo(zone))


def resolve_zone(name: str) -> str:
    """An IANA zone name, matched case-insensitively; a polite UsageError otherwise."""
    cleaned = name.strip()
    try:
        ZoneInfo(cleaned)
        if cleaned in available_timezones() or cleaned == "UTC":
            return cleaned
    except (ZoneInfoNotFoundError, ValueError):
        pass
    lowered = {z.lower(): z for z in available_timezones()}
    if cleaned.lower() in lowered:
        return lowered[cleaned.lower()]
    raise UsageError("unknown_zone", zone=cleaned)
