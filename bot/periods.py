"""Period keys and time-zone helpers. The period key is always computed in the team's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import UsageError


def weekly_period(when: datetime, zone: str) -> str:
    year, week, _ = when.astimezone(ZoneInfo(zone)).isocalendar()
    return f"{year}-W{week:02d}"


def monthly_period(when: datetime, zone: str) -> str:
    local = when.astimezone(ZoneInfo(zone))
    return f"{local.year}-{local.month:02d}"


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
    raise UsageError(
        f"I don't know the time zone '{cleaned}'. Use an IANA name such as "
        "Europe/Berlin, America/New_York or Asia/Tokyo."
    )
