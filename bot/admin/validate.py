"""Argument parsing shared by chat and the CLI: each failure is one polite UsageError."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from bot.core.errors import UsageError
from storage.values import CadenceKind

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_THRESHOLD = 3
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")


def weekday(raw: str) -> int:
    value = raw.strip().lower()
    for index, short in enumerate(WEEKDAYS):
        if value == short or value == _FULL_WEEKDAYS[index]:
            return index
    raise UsageError(f"'{raw}' is not a weekday. Use one of: {', '.join(WEEKDAYS)}.")


_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def local_time(raw: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise UsageError(
            f"'{raw}' is not a time of day. Use HH:MM from 00:00 to 23:59, e.g. 09:30."
        )
    return f"{int(match[1]):02d}:{match[2]}"


def duration(raw: str, what: str) -> timedelta:
    match = _DURATION.fullmatch(raw.strip().lower())
    if not match or int(match[1]) == 0:
        raise UsageError(
            f"'{raw}' is not a duration for {what}. Use a number with m, h or d, e.g. 24h or 3d."
        )
    amount, unit = int(match[1]), match[2]
    return {
        "m": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
    }[unit]


def cadence(raw: str) -> CadenceKind:
    try:
        return CadenceKind(raw.strip().lower())
    except ValueError:
        raise UsageError(
            f"'{raw}' is not a cadence. Use one of: {', '.join(CadenceKind)}."
        ) from None


def week_of_month(raw: str) -> int:
    value = raw.strip().lower()
    if value == "last":
        return -1
    if value in {"1", "2", "3", "4"}:
        return int(value)
    raise UsageError(f"'{raw}' is not a week of the month. Use 1, 2, 3, 4 or last.")


def iso_date(raw: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise UsageError(f"'{raw}' is not a {what}. Use YYYY-MM-DD, e.g. 2026-12-31.") from None


def threshold(raw: str | int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(
            f"'{raw}' is not a number. The threshold is a whole number, at least {MIN_THRESHOLD}."
        ) from None
    if value < MIN_THRESHOLD:
        raise UsageError(
            f"The anonymity threshold cannot be below {MIN_THRESHOLD}: with fewer answers, "
            "results could point to a person."
        )
    return value


def positive_int(raw: str | int, what: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"'{raw}' is not a whole number for {what}.") from None
    if value < 1:
        raise UsageError(f"{what} must be at least 1.")
    return value


def format_duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


MAX_RETENTION_DAYS = 36_500


def retention_days(raw: str | int) -> int:
    value = positive_int(raw, "retention days")
    if value > MAX_RETENTION_DAYS:
        raise UsageError(f"Retention can be at most {MAX_RETENTION_DAYS} days (100 years).")
    return value


SUPPORT_URL_MAX = 500
_URL_FORBIDDEN = re.compile(r"[\s<>\"'`{}|\\^\x00-\x1f\x7f]")


def support_url(raw: str) -> str | None:
    """The workspace's support link: a full https address of at most 500 characters, or
    `none` to clear it. Nothing a chat renderer would read as markup gets through."""
    value = raw.strip()
    if value.lower() == "none":
        return None
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(value) > SUPPORT_URL_MAX:
        raise UsageError(f"The support link can be at most {SUPPORT_URL_MAX} characters.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a port
    except ValueError:
        host = None
        parts = None
    if (
        parts is None
        or parts.scheme.lower() != "https"
        or not host
        or "@" in parts.netloc
        or _URL_FORBIDDEN.search(value)
    ):
        raise UsageError(
            f"'{shown}' is not an https link. Use a full address such as "
            "https://support.example.com, or none to remove the link."
        )
    return value
