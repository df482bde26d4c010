"""A stand-in for the Adaptive Card renderer (branch `cards` replaces this file): the same
three names and data contracts, nothing more. Plain TextBlocks and Action.Submit buttons."""

from __future__ import annotations

from typing import Any

from botbuilder.schema import Attachment

from messages.model import (
    Bullets,
    Buttons,
    Checkbox,
    ChoiceQuestion,
    Heading,
    Message,
    Paragraph,
    Section,
    TextInput,
)

CARD = "application/vnd.microsoft.card.adaptive"


def _body(msg: Message) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for block in msg.blocks:
        if isinstance(block, Heading | Paragraph):
            body.append({"type": "TextBlock", "text": block.text, "wrap": True})
        elif isinstance(block, Section):
            lines = [block.title, block.text, *(f"{k}: {v}" for k, v in block.fields)]
            body.append(
                {"type": "TextBlock", "text": "\n\n".join(x for x in lines if x), "wrap": True}
            )
        elif isinstance(block, Bullets):
            body.append(
                {
                    "type": "TextBlock",
                    "text": "\n".join(f"- {i}" for i in block.items),
                    "wrap": True,
                }
            )
        elif isinstance(block, Buttons):
            for b in block.buttons:
                data: dict[str, Any] = {"rr_action": b.action_id, "rr_value": b.value}
                if b.action_id == "checkin_open":
                    data["msteams"] = {"type": "task/fetch"}
                else:
                    data["rr_private"] = msg.private
                actions.append({"type": "Action.Submit", "title": b.label, "data": data})
    return body or [{"type": "TextBlock", "text": msg.fallback, "wrap": True}], actions


def card(msg: Message) -> dict[str, Any]:
    body, actions = _body(msg)
    return {"type": "AdaptiveCard", "version": "1.5", "body": body, "actions": actions}


def dialog(msg: Message) -> dict[str, Any]:
    body, actions = _body(msg)
    if msg.form is not None:
        body = [
            {"type": "TextBlock", "text": b.text, "wrap": True}
            for b in msg.form.intro
            if isinstance(b, Paragraph)
        ]
        for i in msg.form.inputs:
            if isinstance(i, ChoiceQuestion):
                choices = [{"title": o.label, "value": o.value} for o in i.options]
                body.append(
                    {
                        "type": "Input.ChoiceSet",
                        "id": i.input_id,
                        "label": i.label,
                        "choices": choices,
                    }
                )
            elif isinstance(i, TextInput):
                body.append({"type": "Input.Text", "id": i.input_id, "label": i.label})
            elif isinstance(i, Checkbox):
                body.append({"type": "Input.Toggle", "id": i.input_id, "title": i.label})
        data = {"rr_form": msg.form.form_id, "rr_private": msg.form.private or msg.private}
        actions = [{"type": "Action.Submit", "title": msg.form.submit_label, "data": data}]
    content = {"type": "AdaptiveCard", "version": "1.5", "body": body, "actions": actions}
    value = {"title": msg.title or msg.fallback, "card": {"contentType": CARD, "content": content}}
    return {"task": {"type": "continue", "value": value}}


def attachment(card: dict[str, Any]) -> Attachment:
    return Attachment(content_type=CARD, content=card)
