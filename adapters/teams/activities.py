"""Inbound Bot Framework activities: checked for shape, then turned into neutral events.

Pure functions over the parsed JSON, no I/O. The shape check runs before authentication (the
token's `serviceurl` claim is compared with the body's `serviceUrl`, so the body has to be
read first): a body that is not an activity gets 400 and nothing else happens to it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.events import ActionInvoked, CommandReceived, ConversationRef, FormSubmitted

from .render import form_values

PLATFORM = "teams"
CHANNEL = "msteams"
LOCAL_TENANT = "local"  # RUTRADAR_DEV without credentials: the Emulator sends no tenant
MAX_DEPTH = 32
MAX_VALUE = 4000  # characters of one submitted field; the engine has its own, smaller limits
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_FROM_CHANNEL = re.compile(r"--from-channel(?:\s+(?:here|this))?(?=\s|$)", re.IGNORECASE)


class MalformedActivity(ValueError):
    """The body is not a Bot Framework activity we can read (HTTP 400)."""


class _Account(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=512)
    name: str | None = Field(default=None, max_length=512)
    aadObjectId: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=64)


class _Conversation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=1024)
    conversationType: str | None = Field(default=None, max_length=64)
    tenantId: str | None = Field(default=None, max_length=100)
    isGroup: bool | None = None


class ActivityShape(BaseModel):
    """The fields the adapter relies on; anything else passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    id: str | None = Field(default=None, max_length=1024)
    replyToId: str | None = Field(default=None, max_length=1024)
    serviceUrl: str = Field(max_length=2048, pattern=r"^https?://[^\s/?#]+")
    channelId: str = Field(min_length=1, max_length=64)
    from_: _Account = Field(alias="from")
    recipient: _Account
    conversation: _Conversation
    text: str | None = Field(default=None, max_length=28_000)
    name: str | None = Field(default=None, max_length=256)
    action: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=64)
    value: Any = None
    channelData: dict[str, Any] | None = None
    entities: list[dict[str, Any]] | None = None
    membersAdded: list[_Account] | None = None
    membersRemoved: list[_Account] | None = None


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (a hostile body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is refused: the token's `serviceurl` check, botbuilder and we must
    all read the same value, and `json.loads` would silently keep the last one."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _RepeatedKey(key)
        data[key] = value
    return data


def parse_activity(body: bytes) -> tuple[dict[str, Any], ActivityShape]:
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _RepeatedKey:
        raise MalformedActivity("a key given twice") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedActivity("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedActivity("not a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise MalformedActivity("nested too deeply")
    try:
        shape = ActivityShape.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})
        raise MalformedActivity("bad or missing " + ", ".join(fields[:5])) from None
    return data, shape


# --- who, where ------------------------------------------------------------------------------


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

    def common(self) -> dict[str, Any]:
        """The Event fields every event from this activity shares."""
        return {
            "event_id": self.event_id,
            "where": self.where,
            "user_id": self.user_id or "",
            "display_name": self.display_name,
            "timezone": self.timezone,
            "locale": self.locale,
            "personal": self.personal,
        }


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


def command_text(text: str | None, *, personal: bool) -> str:
    """What the person typed, as `/rut` would get it: markup a rich-text client adds (`<p>`,
    what is left of the @mention) and entities removed. In a channel, `--from-channel` names
    the channel the command is sent in (`here`): the Directory port lists that team's members."""
    cleaned = html.unescape(_TAG.sub(" ", text or "")).replace("\xa0", " ")
    cleaned = " ".join(cleaned.split())
    if not personal:
        cleaned = _FROM_CHANNEL.sub("--from-channel here", cleaned)
    return cleaned


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
