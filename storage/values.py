"""The closed vocabularies kept in enum columns: roles, cadences, the statuses of rounds,
releases and deliveries, and the kinds of deliveries.

Why here: the models map their columns to these types, and storage/ may import neither bot/ nor
messages/, so storage is the lowest floor that needs them and the one place both the models
and the bot (which stands on storage) can import them from. Nothing here touches the ORM or a
database: they are plain values, which is why bot/rounds/cadence.py, pure arithmetic, may use
them too. messages/ never needs them (it renders neutral messages, not domain states), and
adapters see none of them (they render those messages).

Each is a `StrEnum` whose values are exactly the strings stored in the database and printed in
JSON: a member equals, hashes and formats as its string, `json.dumps` writes it unchanged, and
the database enums keep their names and values, so no migration was needed (the columns map
to these with `storage.models.db_enum`, which stores values, not member names).
"""

from __future__ import annotations

from enum import StrEnum


class PersonRole(StrEnum):
    """A person's role in their workspace."""

    MEMBER = "member"
    ADMIN = "admin"


class MembershipRole(StrEnum):
    """A person's place in a team: a member (their home team, at most one) or a manager."""

    MEMBER = "member"
    MANAGER = "manager"


class CadenceKind(StrEnum):
    """How often a schedule runs: weekly, every other week from an anchor, or monthly."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"


class RoundStatus(StrEnum):
    """open → closed → released | withheld; or skipped."""

    OPEN = "open"
    CLOSED = "closed"
    RELEASED = "released"
    WITHHELD = "withheld"
    SKIPPED = "skipped"


class ReleaseStatus(StrEnum):
    """What a close decided: released (at least the frozen threshold answered) or withheld.
    The same strings as the round statuses it becomes (`RoundStatus(release.status)`)."""

    RELEASED = "released"
    WITHHELD = "withheld"


class DeliveryKind(StrEnum):
    """What an outbox row sends. closed_notice: "this round closed", edited into a sent prompt;
    checked_in: "you checked in", edited into a prompt just answered. notice_batch: a closed
    round's closed notices as queued by the close, a thousand prompts' references to a row;
    the dispatcher turns it into closed_notice rows and never sends it itself."""

    PROMPT = "prompt"
    REMINDER = "reminder"
    SUMMARY = "summary"
    CLOSED_NOTICE = "closed_notice"
    CHECKED_IN = "checked_in"
    NOTICE_BATCH = "notice_batch"


class DeliveryStatus(StrEnum):
    """An outbox row's state. claimed: leased by a dispatcher, not yet on the wire. sending: its
    platform call is in flight (or was, when a process died)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
