"""Neutral inbound events: what adapters hand the engine. No raw payloads travel here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Where to talk to someone; persisted so the bot can message them proactively."""

    platform: str
    tenant_id: str  # the workspace's external id (Slack team id, Teams tenant id)
    channel_id: str  # Slack DM/user id, Teams conversation id, playground user id
    service_url: str | None = None
    # Where a platform needs them to talk proactively (Teams): the bot's own account in the
    # conversation, and the person it reaches (their AAD object id), so a conversation can be
    # opened again. Left out of the JSON when unset, so older stored references read the same.
    bot_id: str | None = None
    user_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        data = {
            "platform": self.platform,
            "tenant_id": self.tenant_id,
            "channel_id": self.channel_id,
            "service_url": self.service_url,
        }
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.user_id:
            data["user_id"] = self.user_id
        return data

    @staticmethod
    def from_json(data: Mapping[str, object]) -> ConversationRef:
        service_url = data.get("service_url")
        bot_id = data.get("bot_id")
        user_id = data.get("user_id")
        return ConversationRef(
            platform=str(data["platform"]),
            tenant_id=str(data["tenant_id"]),
            channel_id=str(data["channel_id"]),
            service_url=str(service_url) if service_url else None,
            bot_id=str(bot_id) if bot_id else None,
            user_id=str(user_id) if user_id else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    event_id: str  # the platform's id: the idempotency key
    where: ConversationRef
    user_id: str
    display_name: str = ""
    timezone: str | None = None  # what the platform says about the person, if anything
    locale: str | None = None
    # The platform vouches that this person administers the workspace (Slack `is_admin` in
    # single-token mode): they become a Rut Radar admin on first contact.
    grants_admin: bool = False
    # Said in the person's own 1:1 conversation with the bot. Only then is `where` kept as
    # how to reach them: a command in a channel (Teams) must not replace their 1:1 reference.
    personal: bool = True
    # The platform may deliver this event again (Slack's Events API retries, Teams
    # redeliveries): the engine claims its id, for as long as such a retry can come, so a
    # retry has no second effect. False for what a platform never retries (Slack slash
    # commands and interactivity): nothing is recorded about it (privacy rule 12).
    platform_retries: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReceived(Event):
    """`/rut <text>` on Slack, a message to the bot on Teams, a typed line in the playground."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionInvoked(Event):
    """A button press."""

    action_id: str
    value: str = ""
    private: str = ""  # what the dialog the button sits in carried (its `Message.private`)


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeOpened(Event):
    """The person opened the app's home surface (Slack App Home)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FormSubmitted(Event):
    """A dialog's inputs; `private` is what the form carried through the platform."""

    form_id: str
    values: Mapping[str, str] = field(default_factory=dict)
    private: str = ""
