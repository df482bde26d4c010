"""Logging set up for privacy (design rule 4) and for reading: library loggers that print
bodies (or chatter on every tick) are clamped at WARNING whatever the project's level, a
redacting filter on the root handlers drops any record that still looks like a payload, and
the access log names remote, method, path and status only — never a size, a duration, a query
string or a header — and leaves out the routes marked `unlogged` (the playground's 1.5 s inbox
poll) and the answered requests of the platforms' endpoints (`logged_when_refused`). Request
counts and latencies are Prometheus metrics instead (bot/server/metrics.py)."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

CLAMPED_LOGGERS = (
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
    "sqlalchemy.engine",
    "aiosqlite",
    "asyncpg",
    "botbuilder",
    "botframework",
    "msrest",
    "urllib3",
    "alembic",
    # "Running job …" and "Job … executed successfully" on every tick (two lines per 30 s);
    # its warnings (a missed run, a job that raised) still come through.
    "apscheduler",
)

# Shapes of payloads: Slack/Teams JSON keys, form bodies, our own form values.
_BODY_MARKERS = re.compile(
    r"(\"|')(blocks|view|state|values|actions|private_metadata|payload|attachments|value|text)(\"|')\s*:"
    r"|payload=|&text=|\btext=|\bbody\b\s*[:=]",
    re.IGNORECASE,
)
REDACTED = "[redacted: a request or response body was withheld from the log]"
TRACEBACK_WITHHELD = " [its traceback was withheld: an exception in it quoted a body]"


def looks_like_a_body(text: str) -> bool:
    """Whether `_BODY_MARKERS` finds a payload's shape in `text`. Each of its shapes ends in a
    `:` or an `=`, so a text with neither (most lines: every access line from an IPv4 peer)
    is told apart by two scans, at a twentieth of the search's cost on every line."""
    return ("=" in text or ":" in text) and _BODY_MARKERS.search(text) is not None


class RedactingFilter(logging.Filter):
    """A line that looks like it carries a payload is replaced; so is a traceback whose
    exception messages do (a library error quoting the body it choked on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except Exception:
            rendered = str(record.msg)
        if looks_like_a_body(rendered):
            record.msg = REDACTED
            record.args = ()
        if record.exc_info and looks_like_a_body(_TRACEBACK.formatException(record.exc_info)):
            record.msg = f"{record.msg}{TRACEBACK_WITHHELD}"
            record.exc_info = None
            record.exc_text = None
        return True


_TRACEBACK = logging.Formatter()


class LineFormatter(logging.Formatter):
    """The standard formatter, whose timestamp is worked out once a second rather than for
    every line (`time.strftime` was a fifth of an access line's cost)."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._stamp = (-1, "")  # (second, its text), replaced whole: one read sees a pair

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._stamp
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (second, text)
        return f"{text},{int(record.msecs):03d}"  # as `default_msec_format` writes it


def clamp_library_loggers() -> None:
    for name in CLAMPED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(getattr(h, "_rutradar", False) for h in root.handlers):
        ours = logging.StreamHandler(sys.stderr)
        ours.setFormatter(LineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours._rutradar = True  # type: ignore[attr-defined]
        root.addHandler(ours)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    clamp_library_loggers()


# --- the access log ----------------------------------------------------------------------------

_UNLOGGED = "_rutradar_unlogged"  # a handler's attribute: which of its requests go unlogged
_ALL = "all"
_ANSWERED = "answered"
ACCESS_LINE = '%s "%s %s" %d'  # remote, method, path, status
Handler = TypeVar("Handler", bound=Callable[..., object])


def unlogged(handler: Handler) -> Handler:
    """Mark a route handler whose requests the access log leaves out: something a page polls
    every second or two, whose lines would bury everything else. Works on methods too (a bound
    method reads its function's attributes)."""
    setattr(handler, _UNLOGGED, _ALL)
    return handler


def logged_when_refused(handler: Handler) -> Handler:
    """Mark a platform's endpoint (`/slack/events`, `/api/messages`, the playground's events):
    the access log writes its requests that were refused or failed (status 400 and up), not
    the ones answered. Every press, command and submission of every member arrives there, a
    round's burst thousands of identical `"POST /slack/events" 200` lines that would bury
    everything else and say nothing that the metrics, counted by route and status, do not;
    each is also one more record of when someone used the bot. Their line was a fourteenth of
    a `/rut help`'s CPU (docs/benchmarks.md)."""
    setattr(handler, _UNLOGGED, _ANSWERED)
    return handler


class AccessLog(AbstractAccessLogger):
    """One INFO line per request: remote, method, path, status. Nothing else. (Not for a
    route marked `unlogged`, nor for a platform endpoint's answered requests:
    `logged_when_refused`.)

    Built field by field rather than from aiohttp's format string, whose default carries `%b`:
    privacy rule 4 forbids even a response's byte size in a log (a check-in dialog's size
    tells which advice it showed, and so which practices the person scored low). The time a
    request took is left out for the same reason (rendering differs with the advice), and so
    are the query string and the headers (an OAuth `code`, a person's id in the playground's
    poll). No route carries a person in its path. Counts and latencies, by route and without
    a person, are metrics (`rutradar_http_requests_total`, `…_duration_seconds`)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # A request that failed before routing has no match_info; it is logged.
        handler = getattr(getattr(request, "match_info", None), "handler", None)
        unlogged = getattr(handler, _UNLOGGED, None)
        if unlogged == _ALL or (unlogged == _ANSWERED and response.status < 400):
            return
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        # The record made directly and handed to the logger's handlers, as `logger.info`
        # would, minus its search of the stack for the caller's file and line, which no line
        # shows: a third of the line's cost, on every request.
        logger.handle(
            logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                ACCESS_LINE,
                (request.remote or "-", request.method, request.rel_url.raw_path, response.status),
                None,
                "log",
            )
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
