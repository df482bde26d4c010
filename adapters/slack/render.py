"""Neutral messages → Slack Block Kit payloads, and view submissions back into plain values.

Pure functions, no I/O: the Slack adapter sends what these return. Every limit of Block Kit
(from Slack's Block Kit reference: the constants below) is enforced here rather than left to
the API, because Slack answers an oversized payload with `invalid_blocks` and the person sees nothing at all. Text is
clipped or split where losing a tail is harmless (prose); data that must round-trip intact
(button values, option values, private_metadata) raises instead of being silently cut.

Escaping: the neutral model carries plain text, so every string placed in a `mrkdwn` text
object goes through `escape_mrkdwn` (`&`, `<`, `>` only, as Slack documents). `plain_text`
objects are shown literally by Slack and are never escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from messages.chat_text import UniqueIds, base_id, sparkline, trend_legend
from messages.copy import copy_for
from messages.model import (
    Block,
    Bullets,
    Button,
    Buttons,
    Checkbox,
    ChoiceQuestion,
    Heading,
    Input,
    Message,
    Option,
    Paragraph,
    Section,
    TextInput,
    TrendSeries,
)

JSON = dict[str, Any]

# Block Kit limits (platforms.md §5 and the Block Kit reference).
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
FALLBACK_TEXT_MAX = 3000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
PRIVATE_METADATA_MAX = 3000
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
PLACEHOLDER_MAX = 150
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTION_DESCRIPTION_MAX = 75
RADIO_OPTIONS_MAX = 10
SELECT_OPTIONS_MAX = 100
TEXT_INPUT_MAX = 3000

ELLIPSIS = "…"
DEFAULT_CALLBACK_ID = "rutradar_dialog"


# --- text ----------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in mrkdwn.

    `&` goes first so the entities produced for `<` and `>` are not escaped twice. Nothing else
    is touched: Slack's formatting guide says only these three must be escaped, and escaping
    more (e.g. `*`) would show backslashes to people.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text}


def _mrkdwn(text: str) -> JSON:
    return {"type": "mrkdwn", "text": text}


def _clip(text: str, limit: int) -> str:
    """Shorten plain text to `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def _entity_safe_cut(text: str, limit: int) -> int:
    """The largest cut ≤ `limit` that does not split an `&amp;`/`&lt;`/`&gt;` entity, which
    Slack would otherwise show as a stray `&am`."""
    cut = min(limit, len(text))
    amp = text.rfind("&", max(cut - 4, 0), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        return amp
    return cut


def _clip_mrkdwn(escaped: str, limit: int) -> str:
    """Like `_clip`, for text that is already escaped."""
    if len(escaped) <= limit:
        return escaped
    return escaped[: _entity_safe_cut(escaped, limit - 1)].rstrip() + ELLIPSIS


def _split_mrkdwn(escaped: str, limit: int = SECTION_TEXT_MAX) -> list[str]:
    """Split escaped text into chunks ≤ `limit`, preferring line breaks, then spaces, and
    never cutting an entity, so long prose becomes several sections instead of an error."""
    chunks: list[str] = []
    rest = escaped
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = _entity_safe_cut(rest, limit) or limit
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if rest.strip():
        chunks.append(rest)
    return chunks


# --- action ids ----------------------------------------------------------------------------


# --- blocks --------------------------------------------------------------------------------


def _sections(escaped: str) -> list[JSON]:
    return [{"type": "section", "text": _mrkdwn(chunk)} for chunk in _split_mrkdwn(escaped)]


def _heading(block: Heading) -> list[JSON]:
    text = block.text.strip()
    if not text:
        return []
    return [{"type": "header", "text": _plain(_clip(text, HEADER_TEXT_MAX))}]


def _field(name: str, value: str) -> JSON | None:
    parts = [f"*{escape_mrkdwn(name)}*" if name else "", escape_mrkdwn(value)]
    text = "\n".join(p for p in parts if p)
    return _mrkdwn(_clip_mrkdwn(text, FIELD_TEXT_MAX)) if text else None


def _section(block: Section) -> list[JSON]:
    """Title in bold over the text; fields (≤10 per section) ride on the last text chunk,
    and any beyond ten continue in further field-only sections."""
    head = f"*{escape_mrkdwn(block.title)}*" if block.title else ""
    body = escape_mrkdwn(block.text) if block.text else ""
    chunks = _split_mrkdwn("\n".join(p for p in (head, body) if p))
    fields = [f for f in (_field(n, v) for n, v in block.fields) if f is not None]
    groups = [fields[i : i + SECTION_FIELDS_MAX] for i in range(0, len(fields), SECTION_FIELDS_MAX)]
    out: list[JSON] = [{"type": "section", "text": _mrkdwn(c)} for c in chunks]
    if groups:
        if out:
            out[-1]["fields"] = groups.pop(0)
        out.extend({"type": "section", "fields": g} for g in groups)
    return out


def _bullets(block: Bullets) -> list[JSON]:
    lines = [f"• {escape_mrkdwn(item)}" for item in block.items if item.strip()]
    return _sections("\n".join(lines)) if lines else []


def _button(button: Button, ids: UniqueIds) -> JSON:
    if len(button.value) > BUTTON_VALUE_MAX:
        raise ValueError(
            f"button {button.action_id!r}: value is {len(button.value)} characters, "
            f"Slack allows {BUTTON_VALUE_MAX}; a cut value would be misread"
        )
    element: JSON = {
        "type": "button",
        "text": _plain(_clip(button.label or button.action_id, BUTTON_TEXT_MAX)),
        "action_id": ids.unique(button.action_id),
    }
    if button.value:
        element["value"] = button.value
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def _buttons(block: Buttons, ids: UniqueIds) -> list[JSON]:
    elements = [_button(b, ids) for b in block.buttons]
    return [
        {"type": "actions", "elements": elements[i : i + ACTIONS_ELEMENTS_MAX]}
        for i in range(0, len(elements), ACTIONS_ELEMENTS_MAX)
    ]


def _trend(block: TrendSeries) -> list[JSON]:
    """Labels padded inside inline code so the sparklines line up in Slack's proportional font;
    the legend underneath in a context block."""
    width = max((len(line.label) for line in block.lines), default=0)
    rows = [f"*{escape_mrkdwn(block.title)}*"] if block.title else []
    rows += [
        f"`{escape_mrkdwn(line.label.ljust(width))}` "
        f"{sparkline(line.points, block.low, block.high)}"
        for line in block.lines
    ]
    out = _sections("\n".join(rows)) if rows else []
    legend = trend_legend(block)
    if legend:
        out.append(
            {
                "type": "context",
                "elements": [
                    _mrkdwn(_clip_mrkdwn(escape_mrkdwn(line), SECTION_TEXT_MAX))
                    for line in legend[:CONTEXT_ELEMENTS_MAX]
                ],
            }
        )
    return out


def _context(text: str) -> JSON:
    return {
        "type": "context",
        "elements": [_mrkdwn(_clip_mrkdwn(escape_mrkdwn(text), SECTION_TEXT_MAX))],
    }


def _option(option: Option, description: str = "") -> JSON:
    if len(option.value) > OPTION_VALUE_MAX:
        raise ValueError(
            f"option value {option.value[:20]!r}… is over {OPTION_VALUE_MAX} characters"
        )
    out: JSON = {
        "text": _plain(_clip(option.label or option.value, OPTION_TEXT_MAX)),
        "value": option.value,
    }
    if description:
        out["description"] = _plain(_clip(description, OPTION_DESCRIPTION_MAX))
    return out


def _input_block(block_id: str, label: str, element: JSON, optional: bool) -> JSON:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(_clip(label or block_id, INPUT_LABEL_MAX)),
        "element": element,
        "optional": optional,
    }


def _choice(question: ChoiceQuestion, ids: UniqueIds) -> JSON:
    """A scale is a row of radio buttons with the end labels as option descriptions (Slack has
    no slider); a select, or a scale too long for radio buttons, is a static select."""
    action_id = ids.unique(question.input_id)
    options = question.options
    if len(options) > SELECT_OPTIONS_MAX:
        raise ValueError(f"{question.input_id!r}: {len(options)} options, Slack allows 100")
    radio = question.style == "scale" and len(options) <= RADIO_OPTIONS_MAX
    rendered = []
    for index, option in enumerate(options):
        description = ""
        if radio and index == 0:
            description = question.low_label
        elif radio and index == len(options) - 1:
            description = question.high_label
        rendered.append(_option(option, description))
    element: JSON = {
        "type": "radio_buttons" if radio else "static_select",
        "action_id": action_id,
        "options": rendered,
    }
    initial = next(
        (r for r, o in zip(rendered, options, strict=True) if o.value == question.initial),
        None,
    )
    if initial is not None:
        element["initial_option"] = initial
    block = _input_block(action_id, question.label, element, question.optional)
    if question.style == "scale" and options and (question.low_label or question.high_label):
        ends = [
            f"{options[0].label} = {question.low_label}" if question.low_label else "",
            f"{options[-1].label} = {question.high_label}" if question.high_label else "",
        ]
        block["hint"] = _plain(_clip(" · ".join(e for e in ends if e), INPUT_HINT_MAX))
    return block


def _text_input(field: TextInput, ids: UniqueIds) -> JSON:
    action_id = ids.unique(field.input_id)
    max_length = min(field.max_length, TEXT_INPUT_MAX)
    element: JSON = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": field.multiline,
    }
    if max_length > 0:
        element["max_length"] = max_length
    if field.initial:
        element["initial_value"] = field.initial[:max_length] if max_length > 0 else field.initial
    if field.hint:
        element["placeholder"] = _plain(_clip(field.hint, PLACEHOLDER_MAX))
    return _input_block(action_id, field.label, element, field.optional)


def _checkbox(field: Checkbox, ids: UniqueIds) -> JSON:
    """One box, value "1"; always optional, since leaving it unticked is a valid answer."""
    action_id = ids.unique(field.input_id)
    element: JSON = {
        "type": "checkboxes",
        "action_id": action_id,
        "options": [_option(Option("1", field.label), field.hint)],
    }
    return _input_block(action_id, field.label, element, True)


def _input(field: Input, ids: UniqueIds) -> JSON:
    if isinstance(field, ChoiceQuestion):
        return _choice(field, ids)
    if isinstance(field, TextInput):
        return _text_input(field, ids)
    return _checkbox(field, ids)


def _block(block: Block, ids: UniqueIds) -> list[JSON]:
    if isinstance(block, Heading):
        return _heading(block)
    if isinstance(block, Paragraph):
        return _sections(escape_mrkdwn(block.text))
    if isinstance(block, Section):
        return _section(block)
    if isinstance(block, Bullets):
        return _bullets(block)
    if isinstance(block, Buttons):
        return _buttons(block, ids)
    if isinstance(block, TrendSeries):
        return _trend(block)
    return [_input(block, ids)]


def _blocks(blocks: Sequence[Block], ids: UniqueIds) -> list[JSON]:
    return [rendered for block in blocks for rendered in _block(block, ids)]


def _message_blocks(msg: Message, ids: UniqueIds) -> list[JSON]:
    """Everything a message shows, form included; the fallback stands in for an empty one,
    because Slack refuses a view with no blocks."""
    out = _blocks(msg.blocks, ids)
    if msg.form is not None:
        out += _blocks(msg.form.intro, ids)
        out += [_input(field, ids) for field in msg.form.inputs]
    if not out and msg.fallback.strip():
        out = _sections(escape_mrkdwn(msg.fallback))
    return out


def _fit(blocks: list[JSON], limit: int, more: str) -> list[JSON]:
    """Keep at most `limit` blocks; when cutting, the last slot says there is more."""
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], _context(more)]


# --- payloads ------------------------------------------------------------------------------


# Renderings of `cacheable` messages (the help, advice on a topic), kept by the message:
# they are the same few asked for again and again. Given out shared: callers read them (the
# Web API client and Bolt copy what they send) and never change them.
KEPT_RENDERINGS = 256


def message_payload(msg: Message, *, more: str | None = None) -> JSON:
    """Arguments for chat.postMessage / chat.update / a response_url: blocks plus `text`.

    `text` is what notifications and screen readers show. Slack parses it as mrkdwn too, so it
    is escaped like any other mrkdwn. `more` is the note that replaces blocks past the 50th
    (by default the copy's, in the message's language). Read-only for a `cacheable` message.
    """
    if msg.cacheable and more is None:
        return _kept_payload(msg)
    return _payload(msg, more)


def ephemeral_reply(msg: Message) -> str:
    """A slash command's answer as the JSON text of its HTTP response: seen only by the person
    who typed it, as Bolt's `ack(response_type="ephemeral", …)` writes it."""
    if msg.cacheable:
        return _kept_reply(msg)
    return _reply(_payload(msg, None))


@lru_cache(maxsize=KEPT_RENDERINGS)
def _kept_payload(msg: Message) -> JSON:
    return _payload(msg, None)


@lru_cache(maxsize=KEPT_RENDERINGS)
def _kept_reply(msg: Message) -> str:
    return _reply(_kept_payload(msg))


def _reply(payload: JSON) -> str:
    body: JSON = {"text": payload["text"], "response_type": "ephemeral"}
    if payload["blocks"]:  # as Bolt leaves out an empty list
        body["blocks"] = payload["blocks"]
    return json.dumps(body)


def _payload(msg: Message, more: str | None) -> JSON:
    more = more or copy_for(msg.locale).say("more_than_fits")
    return {
        "text": _clip_mrkdwn(escape_mrkdwn(msg.fallback), FALLBACK_TEXT_MAX),
        "blocks": _fit(_message_blocks(msg, UniqueIds()), MESSAGE_BLOCKS_MAX, more),
    }


def modal_view(
    msg: Message,
    *,
    callback_id: str | None = None,
    close: str | None = None,
    more: str | None = None,
) -> JSON:
    """A `views.open` / `views.update` modal for a dialog message, with its form if it has one.

    The form's `private` text becomes `private_metadata` so a submission carries its own
    context (e.g. the round's period) and the bot stores no per-dialog state; it raises rather
    than truncates, because a cut value would be silently wrong. When the 100-block limit is
    hit, prose is cut before inputs, so the form still submits everything it asks for.
    `close` and `more` are the copy's, in the message's language, unless given. Read-only for
    a `cacheable` message.
    """
    if msg.cacheable and callback_id is None and close is None and more is None:
        return _kept_modal(msg)
    return _modal(msg, callback_id, close, more)


@lru_cache(maxsize=KEPT_RENDERINGS)
def _kept_modal(msg: Message) -> JSON:
    return _modal(msg, None, None, None)


def modal_json(msg: Message) -> str:
    """`modal_view` as the JSON text `views.open` and `views.update` take (Slack documents
    their `view` argument as a JSON-encoded string): encoded once for a `cacheable` message,
    such as the check-in form a round's burst of button presses opens again and again."""
    if msg.cacheable:
        return _kept_modal_json(msg)
    return json.dumps(_modal(msg, None, None, None))


@lru_cache(maxsize=KEPT_RENDERINGS)
def _kept_modal_json(msg: Message) -> str:
    return json.dumps(_kept_modal(msg))


def _modal(msg: Message, callback_id: str | None, close: str | None, more: str | None) -> JSON:
    t = copy_for(msg.locale)
    close = close or t.say("dialog_close")
    more = more or t.say("more_than_fits")
    ids = UniqueIds()
    form = msg.form
    title = msg.title or (form.title if form else "") or msg.fallback or "Rut Radar"
    view: JSON = {
        "type": "modal",
        "callback_id": callback_id or (form.form_id if form else DEFAULT_CALLBACK_ID),
        "title": _plain(_clip(title, VIEW_TITLE_MAX)),
        "close": _plain(_clip(close, VIEW_BUTTON_MAX)),
    }
    if form is None:
        if msg.private:
            if len(msg.private) > PRIVATE_METADATA_MAX:
                raise ValueError(
                    f"dialog private is {len(msg.private)} characters; Slack allows {PRIVATE_METADATA_MAX}"
                )
            view["private_metadata"] = msg.private
        view["blocks"] = _fit(_message_blocks(msg, ids), VIEW_BLOCKS_MAX, more)
        return view
    if len(form.private) > PRIVATE_METADATA_MAX:
        raise ValueError(
            f"form {form.form_id!r}: private is {len(form.private)} characters, "
            f"Slack's private_metadata allows {PRIVATE_METADATA_MAX}"
        )
    prose = _blocks(msg.blocks, ids) + _blocks(form.intro, ids)
    inputs = [_input(field, ids) for field in form.inputs]
    if len(inputs) >= VIEW_BLOCKS_MAX:
        raise ValueError(f"form {form.form_id!r} has {len(inputs)} inputs; a modal holds 99")
    room = VIEW_BLOCKS_MAX - len(inputs)
    if len(prose) > room:
        prose = [*prose[: room - 1], _context(more)]
    view["submit"] = _plain(_clip(form.submit_label or "OK", VIEW_BUTTON_MAX))
    if form.private:
        view["private_metadata"] = form.private
    view["blocks"] = prose + inputs
    return view


def home_view(sections: Sequence[Message], *, more: str | None = None) -> JSON:
    """The App Home tab: the given messages one after another, a divider between each.

    Action ids are made unique across the whole tab, since the same button (e.g. "Check in")
    may appear in more than one of the messages.
    """
    locale = sections[0].locale if sections else "en"
    more = more or copy_for(locale).say("more_than_fits")
    ids = UniqueIds()
    blocks: list[JSON] = []
    for index, msg in enumerate(sections):
        if index:
            blocks.append({"type": "divider"})
        blocks += _message_blocks(msg, ids)
    return {"type": "home", "blocks": _fit(blocks, VIEW_BLOCKS_MAX, more)}


# --- submissions ---------------------------------------------------------------------------


def form_values(state_values: Mapping[str, Any]) -> dict[str, str]:
    """`view.state.values` of a view_submission → the neutral `{input_id: value}` form.

    The inverse of the inputs `modal_view` renders: a choice gives its option value, a text
    input its text, the share checkbox "1" when ticked. An untouched input comes back as ""
    (Slack sends `null` for it), so callers see one shape. Unknown element types are ignored:
    they cannot have come from this renderer.
    """
    out: dict[str, str] = {}
    for actions in state_values.values():
        if not isinstance(actions, Mapping):
            continue
        for action_id, state in actions.items():
            if not isinstance(state, Mapping):
                continue
            kind = state.get("type")
            if kind in ("radio_buttons", "static_select"):
                selected = state.get("selected_option") or {}
                value = str(selected.get("value") or "")
            elif kind == "plain_text_input":
                value = str(state.get("value") or "")
            elif kind == "checkboxes":
                value = "1" if state.get("selected_options") else ""
            else:
                continue
            out[base_id(str(action_id))] = value
    return out


# The neutral action id behind a rendered one (`advice#3` → `advice`), for the adapter.
parse_action_id = base_id
