"""What the playground page posts → neutral events: pure functions, no I/O.

The page posts one JSON shape (`EventIn`); anything else is a `Rejected` (the adapter answers
400). Whether the person exists in a playground workspace is the adapter's check, made
before `event_of` is called with their display name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, TypedDict

from pydantic import BaseModel, Field, ValidationError

from bot.core.events import ActionInvoked, CommandReceived, ConversationRef, Event, FormSubmitted

PLATFORM = "playground"


class EventIn(BaseModel):
    """The one JSON shape the page posts; anything else is a 400."""

    workspace: str = Field(min_length=1, max_length=100)
    user_id: str = Field(min_length=1, max_length=100)
    kind: Literal["command", "action", "form"]
    event_id: str | None = Field(default=None, max_length=100)
    text: str = Field(default="", max_length=2000)
    action_id: str = Field(default="", max_length=255)
    value: str = Field(default="", max_length=2000)
    form_id: str = Field(default="", max_length=100)
    values: dict[str, str] = Field(default_factory=dict)
    private: str = Field(default="", max_length=3000)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not what the page posts: each problem as `field: what is wrong`."""

    reason: str


def parse(body: bytes) -> EventIn | Rejected:
    try:
        return EventIn.model_validate_json(body)
    except ValidationError as exc:
        return Rejected(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        )


class _Common(TypedDict):
    event_id: str
    where: ConversationRef
    user_id: str
    display_name: str
    platform_retries: bool


def event_of(body: EventIn, display_name: str = "") -> Event:
    """The page's event for a person the adapter found in a playground workspace."""
    common = _Common(
        event_id=f"pg-{body.event_id or secrets.token_hex(12)}",
        where=ConversationRef(PLATFORM, body.workspace, body.user_id),
        user_id=body.user_id,
        display_name=display_name,
        platform_retries=False,  # the page never sends an event twice
    )
    if body.kind == "command":
        return CommandReceived(text=body.text, **common)
    if body.kind == "action":
        return ActionInvoked(
            action_id=body.action_id, value=body.value, private=body.private, **common
        )
    return FormSubmitted(form_id=body.form_id, values=body.values, private=body.private, **common)
