"""Errors a person can read. Each maps to one CLI exit code and a polite chat reply. And one
no one reads (`RetryLater`), which an adapter answers the platform with.

An error carries a line of the interface copy (`messages/templates/copy.j2`): the macro's name
and its values, not English. It is said where the reader's language is known (`say`); `str()`
is the English, for the log and wherever no one's language is known.
"""

from __future__ import annotations

from messages.copy import Copy, Key, copy_for


class RutRadarError(Exception):
    """Base: `UsageError("unknown_user", user="U1")` says the copy's `unknown_user` line."""

    exit_code = 1

    def __init__(self, key: str, /, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def say(self, t: Copy) -> str:
        """The line in `t`'s language; a value that is itself an error or a `Key` (or a list of
        them) is said in it too."""
        return t.say(self.key, **{k: _said(v, t) for k, v in self.values.items()})

    def __str__(self) -> str:
        return self.say(copy_for("en"))


def _said(value: object, t: Copy) -> object:
    """A value in `t`'s language: an error or a `Key` is said in it, a list item by item."""
    if isinstance(value, RutRadarError):
        return value.say(t)
    if isinstance(value, Key):
        return t.say(value)
    if isinstance(value, list | tuple):
        return [_said(item, t) for item in value]
    return value


class UsageError(RutRadarError):
    """A wrong argument or an unknown name (CLI exit 2)."""

    exit_code = 2


class ConflictError(RutRadarError):
    """The request is well-formed but the state forbids it (CLI exit 1)."""

    exit_code = 1


class NotAllowed(RutRadarError):
    """The person may not do this; said plainly, never as a stack trace."""

    exit_code = 1


class RetryLater(Exception):
    """Handling a delivery the platform retries failed unexpectedly on this side, and its claim
    was released: the adapter answers 503 (no details), so the platform delivers it again and
    the retry does the work. Raised from the cause, which was logged once with its traceback
    where it was caught; the adapter adds one WARNING line, no second traceback. Its text is
    the kind of event, never anything from it."""
