"""Small builders of neutral events for engine tests."""

from __future__ import annotations

import itertools

from bot.core.events import ActionInvoked, CommandReceived, ConversationRef, FormSubmitted
from messages.model import Message, Paragraph, Section

_ids = itertools.count(1)


def where(user_id: str, platform: str = "playground", tenant: str = "T0001") -> ConversationRef:
    return ConversationRef(platform, tenant, user_id)


def command(user_id: str, text: str, *, tenant: str = "T0001") -> CommandReceived:
    return CommandReceived(
        event_id=f"e{next(_ids)}", where=where(user_id, tenant=tenant), user_id=user_id, text=text
    )


def action(user_id: str, action_id: str, value: str = "", *, private: str = "") -> ActionInvoked:
    return ActionInvoked(
        event_id=f"e{next(_ids)}",
        where=where(user_id),
        user_id=user_id,
        action_id=action_id,
        value=value,
        private=private,
    )


def checkin(
    user_id: str, *, comment: str = "", share: bool = False, **scores: int
) -> FormSubmitted:
    values = {
        k: str(scores.get(k, 3)) for k in ("assess", "routine", "training", "strengths", "path")
    }
    if comment:
        values["comment"] = comment
    if share:
        values["share"] = "1"
    return FormSubmitted(
        event_id=f"e{next(_ids)}",
        where=where(user_id),
        user_id=user_id,
        form_id="checkin",
        values=values,
    )


def text_of(message: Message) -> str:
    """Everything a person would read in a message, flattened."""
    parts = [message.fallback]
    for block in message.blocks:
        if isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Section):
            parts += [block.title, block.text, *(f"{k} {v}" for k, v in block.fields)]
        else:
            parts.append(str(block))
    return "\n".join(parts)
