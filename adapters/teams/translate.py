"""Bot Framework activities → neutral events: pure functions, no I/O.

`activities.py` reads the body and checks its shape; this module says what a verified activity
means to the engine (as opsdroid's `connector/slack/create_events.py` does for Slack), so the
turn handlers in `adapter.py` only call the engine and answer. Teams' own markup stops here:
the bot's @mention in a channel and the tags a rich-text client adds are removed from what
the person typed, so bot/ never parses `<at>…</at>`.

What each activity becomes (`event_of`):
- `message` with text: a command, as `/rut <text>` would be; with a card's Action.Submit
  `value`: the button's action. The bot's own messages: nothing.
- `invoke` `task/fetch`: the button that opens a dialog (an action); `task/submit`: the
  dialog's form (`rr_form`), or a button inside it. Other invokes: nothing.
- `installationUpdate` add / add-upgrade in a personal scope, and `conversationUpdate` adding
  the bot to someone's 1:1 chat: `help`, which is how the engine stores the person's 1:1
  reference on first contact. An uninstall is a life event the adapter handles (no event).
- Anything without a tenant and an AAD user: nothing.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from bot.core.events import ActionInvoked, CommandReceived, ConversationRef, Event, FormSubmitted

from .activities import PLATFORM, ActivityShape, MalformedActivity, parse_activity
from .render import form_values

LOCAL_TENANT = "local"  # RUTRADAR_DEV without credentials: the Emulator sends no tenant
MAX_VALUE = 4000  # characters of one submitted field; the engine has its own, smaller limits
DIALOG_INVOKES = ("task/fetch", "task/submit")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_AT = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not an activity the bot can read (the adapter answers 400): what is wrong, never a
    value from the body."""

    reason: str


# --- who, where ------------------------------------------------------------------------------


class _Common(TypedDict):
    event_id: str
    where: ConversationRef
    user_id: str
    display_name: str
    timezone: str | None
    locale: str | None
    personal: bool


@dataclass(frozen=True)
class Facts:
    """What one activity says about its sender and conversation."""

    event_id: str
    tenant_id: str | None
    user_id: str | None  # the AAD object id: a person's user id on Teams
    member_id: str  # the sender's id in Bot Framework terms ("29:…")
    display_name: str
    conversation_id: str
    personal: bool
    service_url: str
    bot_id: str
    team_id: str | None
    timezone: str | None
    locale: str | None

    @property
    def where(self) -> ConversationRef:
        return ConversationRef(
            PLATFORM,
            self.tenant_id or "",
            self.conversation_id,
            self.service_url,
            bot_id=self.bot_id,
            user_id=self.user_id,
        )

    def common(self) -> _Common:
        """The Event fields every event from this activity shares."""
        return _Common(
            event_id=self.event_id,
            where=self.where,
            user_id=self.user_id or "",
            display_name=self.display_name,
            timezone=self.timezone,
            locale=self.locale,
            personal=self.personal,
        )


def _text(value: Any, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _zone(value: Any) -> str | None:
    name = _text(value, 64)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
    return name


def _client_info(entities: list[dict[str, Any]] | None) -> Mapping[str, Any]:
    for entity in entities or []:
        if str(entity.get("type", "")).lower() == "clientinfo":
            return entity
    return {}


def facts_of(shape: ActivityShape, *, anonymous: bool) -> Facts:
    """`anonymous`: RUTRADAR_DEV without credentials, where the Emulator leaves out the tenant
    and the AAD id; then the local tenant and the Bot Framework id stand in."""
    channel_data = shape.channelData or {}
    tenant = channel_data.get("tenant")
    # botbuilder 4.17 drops `conversation.tenantId` (it expects `tenantID`): read it here.
    tenant_id = _text(tenant.get("id") if isinstance(tenant, dict) else None, 100)
    tenant_id = tenant_id or shape.conversation.tenantId
    team = channel_data.get("team")
    info = _client_info(shape.entities)
    locale = _text(info.get("locale"), 64) or shape.locale
    conversation_type = (shape.conversation.conversationType or "").lower()
    personal = (
        conversation_type == "personal" if conversation_type else not shape.conversation.isGroup
    )
    user_id = shape.from_.aadObjectId or (_text(shape.from_.id, 100) if anonymous else None)
    key = f"{shape.conversation.id}|{shape.id}" if shape.id else secrets.token_hex(16)
    return Facts(
        event_id="teams:" + hashlib.sha256(key.encode()).hexdigest()[:40],
        tenant_id=tenant_id or (LOCAL_TENANT if anonymous else None),
        user_id=user_id,
        member_id=shape.from_.id,
        display_name=(shape.from_.name or "")[:200],
        conversation_id=shape.conversation.id,
        personal=personal,
        service_url=shape.serviceUrl,
        bot_id=shape.recipient.id,
        team_id=_text(team.get("id") if isinstance(team, dict) else None, 1024),
        timezone=_zone(info.get("timezone")),
        locale=locale if locale and len(locale) <= 16 and _LOCALE.match(locale) else None,
    )


# --- events ----------------------------------------------------------------------------------


def command_text(text: str | None) -> str:
    """What the person typed, as `/rut` would get it: markup a rich-text client adds (`<p>`,
    what is left of the @mention) and entities removed. Nothing of the bot's own grammar is
    rewritten: `--from-channel` with no name is the channel the command was sent in, which
    the adapter knows from the verified turn (`TeamsAdapter.channel_members`)."""
    cleaned = html.unescape(_TAG.sub(" ", text or "")).replace("\xa0", " ")
    return " ".join(cleaned.split())


def command(facts: Facts, text: str) -> CommandReceived:
    return CommandReceived(text=text, **facts.common())


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value[:MAX_VALUE]
    if isinstance(value, int | float):
        return str(value)
    return None


def action(facts: Facts, data: Any) -> ActionInvoked:
    """A button: `rr_action`, `rr_value` and the dialog's `rr_private` from the card's data.
    Anything else reaches the engine as an unknown action, which it answers politely."""
    data = data if isinstance(data, dict) else {}
    return ActionInvoked(
        action_id=_scalar(data.get("rr_action")) or "",
        value=_scalar(data.get("rr_value")) or "",
        private=_scalar(data.get("rr_private")) or "",
        **facts.common(),
    )


def form(facts: Facts, data: dict[str, Any]) -> FormSubmitted:
    """A dialog's submit: the inputs by neutral id (`render.form_values`), and what the form
    carried in `rr_private`."""
    values = {key: value[:MAX_VALUE] for key, value in form_values(data).items()}
    return FormSubmitted(
        form_id=_scalar(data.get("rr_form")) or "",
        values=values,
        private=_scalar(data.get("rr_private")) or "",
        **facts.common(),
    )


# --- what the person typed -------------------------------------------------------------------


def without_mention(shape: ActivityShape) -> str:
    """The text with the bot's own @mention taken out (a channel message names the bot first):
    each `mention` entity naming the recipient (the bot) gives the span to remove, its `text`
    (`<at>Rut Radar</at>`) or else `<at>{name}</at>`. An unreadable mention entity falls back
    to removing the first `<at>…</at>` span. Other people's mentions stay, as their names."""
    text = shape.text or ""
    unreadable = False
    for entity in shape.entities or []:
        if str(entity.get("type", "")).lower() != "mention":
            continue
        mentioned = entity.get("mentioned")
        if not isinstance(mentioned, Mapping) or not isinstance(mentioned.get("id"), str):
            unreadable = True
            continue
        if mentioned["id"] != shape.recipient.id:
            continue
        span = entity.get("text")
        if not isinstance(span, str) or not span:
            name = mentioned.get("name")
            span = f"<at>{name}</at>" if isinstance(name, str) and name else ""
        if span:
            text = text.replace(span, " ")
    if unreadable:
        text = _AT.sub(" ", text, count=1)
    return text


# --- activities → events ---------------------------------------------------------------------


def event_of(shape: ActivityShape, facts: Facts) -> Event | None:
    """The engine's event for a verified activity, or None (see the module's docstring)."""
    if not facts.tenant_id or not facts.user_id:
        return None
    kind = shape.type
    if kind == "invoke":
        if shape.name not in DIALOG_INVOKES:
            return None
        value = shape.value if isinstance(shape.value, dict) else {}
        data: dict[str, Any] = value["data"] if isinstance(value.get("data"), dict) else {}
        if shape.name == "task/submit" and data.get("rr_form"):
            return form(facts, data)
        return action(facts, data)
    if kind == "message":
        if (shape.from_.role or "").lower() == "bot":
            return None
        if isinstance(shape.value, dict):  # an Action.Submit on a chat card
            return action(facts, shape.value)
        return command(facts, command_text(without_mention(shape)))
    if kind == "installationUpdate":
        added = (shape.action or "").lower() in ("add", "add-upgrade")
        return command(facts, "help") if added and facts.personal else None
    if kind == "conversationUpdate":
        joined = shape.recipient.id in {m.id for m in shape.membersAdded or []}
        return command(facts, "help") if joined and facts.personal else None
    return None


def translate_body(body: bytes, *, anonymous: bool = False) -> Event | Rejected | None:
    """An activity as posted (already authenticated) → its event. Whatever `body` is, the
    answer is an event, a `Rejected` saying what is wrong, or None: never an exception."""
    try:
        _, shape = parse_activity(body)
    except MalformedActivity as exc:
        return Rejected(str(exc))
    return event_of(shape, facts_of(shape, anonymous=anonymous))
