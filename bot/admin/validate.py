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
    raise UsageError("not_a_weekday", value=raw, choices=", ".join(WEEKDAYS))


_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def local_time(raw: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise UsageError("not_a_time", value=raw)
    return f"{int(match[1]):02d}:{match[2]}"


def duration(raw: str, what: str) -> timedelta:
    match = _DURATION.fullmatch(raw.strip().lower())
    if not match or int(match[1]) == 0:
        raise UsageError("not_a_duration", value=raw, option=what)
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
        raise UsageError("not_a_cadence", value=raw, choices=", ".join(CadenceKind)) from None


def week_of_month(raw: str) -> int:
    value = raw.strip().lower()
    if value == "last":
        return -1
    if value in {"1", "2", "3", "4"}:
        return int(value)
    raise UsageError("not_a_week_of_month", value=raw)


def iso_date(raw: str, option: str | None = None) -> date:
    """A YYYY-MM-DD date; `option` names the argument it was given for, if any."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        if option:
            raise UsageError("not_a_date_for", value=raw, option=option) from None
        raise UsageError("not_a_date", value=raw) from None


def threshold(raw: str | int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError("threshold_not_a_number", value=raw, minimum=MIN_THRESHOLD) from None
    if value < MIN_THRESHOLD:
        raise UsageError("threshold_too_low", minimum=MIN_THRESHOLD)
    return value


def positive_int(raw: str | int, option: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError("not_a_whole_number", value=raw, option=option) from None
    if value < 1:
        raise UsageError("at_least_one", option=option)
    return value


def format_duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


MAX_RETENTION_DAYS = 36_500


def retention_days(raw: str | int) -> int:
    value = positive_int(raw, "--retention-days")
    if value > MAX_RETENTION_DAYS:
        raise UsageError("retention_too_long", days=MAX_RETENTION_DAYS)
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
        raise UsageError("support_url_too_long", limit=SUPPORT_URL_MAX)
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
        raise UsageError("not_https", value=shown)
    return value
