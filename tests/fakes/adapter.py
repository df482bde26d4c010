"""A platform in process behind the `Adapter` port, for the tests (and benchmarks) that drive
the dispatcher and the scheduler without a wire format: every send and edit recorded in order,
and a send, an edit or a recovery lookup made to fail on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from bot.core.events import ConversationRef
from bot.core.ports import SentRef
from messages.model import Message


@dataclass(frozen=True)
class Sent:
    """One message the platform accepted."""

    user: str  # the conversation it went to: the person's user id in these tests
    message: Message
    ref: SentRef
    key: str | None = None  # the delivery id it carried


class FakeAdapter:
    """Accepts every message at once unless told otherwise. `failures`: what sending to a
    user raises, each time; `update_faults`: raised by the next edits, one each, in order."""

    platform: ClassVar[str] = "playground"

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.updates: list[tuple[SentRef, Message]] = []
        self.failures: dict[str, BaseException] = {}
        self.update_faults: list[BaseException] = []

    def install(self, app: web.Application) -> None:
        return None

    async def send(self, to: ConversationRef, msg: Message, *, key: str | None = None) -> SentRef:
        if to.channel_id in self.failures:
            raise self.failures[to.channel_id]
        ref = SentRef(self.platform, to.channel_id, f"m{len(self.sent) + 1}")
        self.sent.append(Sent(to.channel_id, msg, ref, key))
        return ref

    async def update(self, ref: SentRef, msg: Message) -> None:
        if self.update_faults:
            raise self.update_faults.pop(0)
        self.updates.append((ref, msg))

    def ref_of(self, user: str) -> SentRef:
        """The reference of the last message sent to `user`."""
        return [s.ref for s in self.sent if s.user == user][-1]

    def to(self, tag: str | None = None) -> list[str]:
        """Who was sent something (tagged `tag`), sorted, once per message."""
        return sorted(s.user for s in self.sent if tag is None or tag in s.message.tags)


class RecoverableFakeAdapter(FakeAdapter):
    """A platform that can be asked whether a delivery went out (`Recoverable`): it finds
    the ones whose key is in `has`. `looked_up`: whose conversations were searched, in order;
    `lookup_faults`: raised by the next lookups, one each."""

    def __init__(self) -> None:
        super().__init__()
        self.has: set[str] = set()
        self.looked_up: list[str] = []
        self.lookup_faults: list[BaseException] = []

    async def find_sent(self, to: ConversationRef, key: str) -> SentRef | None:
        self.looked_up.append(to.channel_id)
        if self.lookup_faults:
            raise self.lookup_faults.pop(0)
        return SentRef(self.platform, to.channel_id, "found") if key in self.has else None
