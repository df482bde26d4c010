"""Logging set up for privacy (design rule 4): library loggers that print bodies are clamped
at WARNING whatever the project's level, and a redacting filter on the root handlers drops
any record that still looks like a payload."""

from __future__ import annotations

import logging
import re
import sys

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
)

# Shapes of payloads: Slack/Teams JSON keys, form bodies, our own form values.
_BODY_MARKERS = re.compile(
    r"(\"|')(blocks|view|state|values|actions|private_metadata|payload|attachments|value|text)(\"|')\s*:"
    r"|payload=|&text=|\btext=|\bbody\b\s*[:=]",
    re.IGNORECASE,
)
REDACTED = "[redacted: a request or response body was withheld from the log]"


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except Exception:
            rendered = str(record.msg)
        if _BODY_MARKERS.search(rendered):
            record.msg = REDACTED
            record.args = ()
        return True


def clamp_library_loggers() -> None:
    for name in CLAMPED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(getattr(h, "_rutradar", False) for h in root.handlers):
        ours = logging.StreamHandler(sys.stderr)
        ours.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours._rutradar = True  # type: ignore[attr-defined]
        root.addHandler(ours)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    clamp_library_loggers()
