"""The ports adapters implement. bot/ never imports adapters/: they are found by entry point."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from aiohttp import web

from bot.core.errors import UsageError
from bot.core.events import ConversationRef
from messages.model import Message

# Each entry point names a class built as `cls(runtime)` that satisfies `Adapter`.
ENTRY_POINT_GROUP = "rutradar.adapters"


@dataclass(frozen=True, slots=True)
class SentRef:
    """The platform's reference to a message we sent, kept on the delivery to edit it later."""

    platform: str
    channel_id: str
    message_id: str

    def to_json(self) -> dict[str, str]:
        return {
            "platform": self.platform,
            "channel_id": self.channel_id,
            "message_id": self.message_id,
        }

    @staticmethod
    def from_json(data: Mapping[str, object]) -> SentRef:
        return SentRef(str(data["platform"]), str(data["channel_id"]), str(data["message_id"]))


@dataclass(frozen=True, slots=True)
class FormOpener:
    """The button that opens a form: its action id, and whether its value is the form's
    `private` (else empty)."""

    action_id: str
    carries_private: bool = False


@dataclass(frozen=True, slots=True)
class ButtonTraits:
    """What the engine's tables say of its buttons, for an adapter that must shape a card
    before anyone clicks (Teams), so that it need keep no list of action ids of its own.

    `dialogs`: the actions answered with a dialog. `refreshes`: action → the tag of the
    message in its answer that replaces the card clicked. `openers`: form id → the button
    that opens it."""

    dialogs: frozenset[str] = frozenset()
    refreshes: Mapping[str, str] = field(default_factory=dict)
    openers: Mapping[str, FormOpener] = field(default_factory=dict)


class DeliveryError(Exception):
    """A send failed. `permanent` ones (user gone, bot removed) are never retried."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Adapter(Protocol):
    platform: ClassVar[str]

    def install(self, app: web.Application) -> None:
        """Add this platform's routes to the one aiohttp app."""

    async def send(self, to: ConversationRef, msg: Message, *, key: str | None = None) -> SentRef:
        """Send proactively. `key` (the delivery id) travels with the message where the
        platform allows (Slack metadata), so recovery can find a send it did not record."""

    async def update(self, ref: SentRef, msg: Message) -> None: ...


@runtime_checkable
class Addressable(Protocol):
    """Platforms that can reach a person from ids alone (Slack: a DM to the user id), so a
    person named by an admin gets prompts before they ever talk to the bot."""

    def address(self, tenant_id: str, user_id: str) -> ConversationRef: ...


@runtime_checkable
class Recoverable(Protocol):
    """Platforms where a sent message can be found again by the key it carried."""

    async def find_sent(self, to: ConversationRef, key: str) -> SentRef | None: ...


# The channel a command was sent in, as `--from-channel` with no name (or `here`) asks for
# it: the bot's own word, handed to `Directory.channel_members` as it is. A platform that
# knows where the command it is answering came from (Teams: the verified turn) lists that
# conversation; one that does not refuses, as for any channel it cannot read.
THIS_CHANNEL = "here"


@runtime_checkable
class Directory(Protocol):
    """What some platforms can tell about their workspace (Slack: conversations.members)."""

    async def channel_members(self, tenant_id: str, channel_id: str) -> list[str]:
        """The user ids in a channel, named by the platform's plain id or `THIS_CHANNEL`."""


class UnknownPerson(UsageError):
    """The platform does not know this person (or this e-mail address); the line says why."""


@runtime_checkable
class PeopleLookup(Protocol):
    """Platforms that can say who a person is (Slack: users.info, users.lookupByEmail), so an
    admin may name people by e-mail and an id the platform does not know is never stored."""

    async def resolve_person(self, tenant_id: str, name: str) -> str:
        """The platform's user id for a user id or an e-mail address; `UnknownPerson` when the
        platform does not know them, `DeliveryError` when it could not be asked."""


# The two questions the engine may ask a platform, as plain callables: whatever answers them
# (an adapter's bound method, a test's function) gives the engine nothing else to call.
ResolvePerson = Callable[[str, str], Awaitable[str]]  # (tenant id, user id or e-mail) → user id
ChannelMembers = Callable[[str, str], Awaitable[list[str]]]  # (tenant id, channel id) → ids


@dataclass(frozen=True, slots=True)
class Directories:
    """What the engine may ask the platforms while it answers, by platform: who a person is
    (`PeopleLookup.resolve_person`), who is in a channel (`Directory.channel_members`).
    Questions only: it holds the answering functions, never an adapter, so the engine has no
    way to send or edit; what the bot says later goes through the outbox
    (bot/delivery/dispatcher.py).

    The composition root fills the mappings as it registers adapters (after the engine is
    built): see `answering`."""

    people: Mapping[str, ResolvePerson] = field(default_factory=dict)
    channels: Mapping[str, ChannelMembers] = field(default_factory=dict)


def answering(
    source: object,
) -> tuple[ResolvePerson | None, ChannelMembers | None]:
    """The questions an adapter can answer, taken out of it: its `resolve_person` if it is a
    `PeopleLookup`, its `channel_members` if it is a `Directory`."""
    people = source.resolve_person if isinstance(source, PeopleLookup) else None
    channels = source.channel_members if isinstance(source, Directory) else None
    return people, channels
