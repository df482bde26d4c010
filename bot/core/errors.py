"""Errors a person can read. Each maps to one CLI exit code and a polite chat reply."""

from __future__ import annotations


class RutRadarError(Exception):
    """Base: its message is shown as is, in chat and on stderr."""

    exit_code = 1


class UsageError(RutRadarError):
    """A wrong argument or an unknown name (CLI exit 2)."""

    exit_code = 2


class ConflictError(RutRadarError):
    """The request is well-formed but the state forbids it (CLI exit 1)."""

    exit_code = 1


class NotAllowed(RutRadarError):
    """The person may not do this; said plainly, never as a stack trace."""

    exit_code = 1
