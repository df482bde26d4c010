"""Neutral messages → Adaptive Cards 1.5 for Microsoft Teams, and the task-module answers.

Pure functions, no I/O: the Teams adapter sends what these return.

- `card(msg)` is the Adaptive Card for a chat message; `attachment(card)` wraps it for an
  activity.
- `dialog(msg)` is the answer to a `task/fetch` or `task/submit` invoke that shows a dialog
  (task module) with the message's card in it; `message_response(text)` is the short answer
  that closes one with a line of text.

What the bot gets back (platforms.md §7): an `Action.Submit` in a chat card arrives as a
`message` activity whose `value` is the action's `data` merged with the card's inputs by id;
inside a dialog it arrives as a `task/submit` invoke with the same `data`. Every button
carries `rr_action` (the neutral action id), `rr_value` and `rr_private` (the message's
`private`, which round-trips so the bot stores nothing); a form's submit button carries
`rr_form` (the form id) and `rr_private` (the form's `private`), and each input's value under
the neutral input id. The button that opens the check-in (`TASK_FETCH_ACTIONS`) is a
`task/fetch` Action.Submit instead, so the check-in happens in a dialog and scores and advice
never enter the chat history (design privacy rule 10).

Limits: Teams refuses a message over about 100 KB (`413 MessageSizeTooBig`); a card is kept
≤ `CARD_BYTES_MAX` (80 KB) measured as the ASCII-escaped JSON, an upper bound of what goes on
the wire, by cutting trailing blocks and saying so (prose before inputs, like the Slack
renderer). Long prose is split into several TextBlocks; Teams shows at most six buttons in a
row, so longer button rows are split into several ActionSets. Data that must round-trip
intact (button values, `private`) is never cut: if it alone cannot fit, this raises.

Escaping: Teams renders TextBlock text and FactSet titles and values as a Markdown subset
(bold, italic, lists, links), and the adaptivecards JavaScript renderer passes them to
markdown-it. The neutral model carries plain text (team names and shared comments come from
people), so every string placed there goes through `escape_markdown`: CommonMark backslash
escapes, which Teams honours on desktop, web, iOS and Android, for the characters that could
format or link, and a cut before `{{` so text cannot become a `{{DATE(…)}}` function. Labels,
choice and toggle titles, button titles and the dialog title are shown literally by Teams and
are not escaped.

Wording: the neutral copy writes commands as Slack's `/rut checkin`; on Teams people write
`checkin` to the bot, so `teams_wording` drops the `/rut ` before a command word in every
TextBlock and fact (and the adapter in a notification's summary).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.schema import Attachment

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
    Paragraph,
    Section,
    TextInput,
    TrendSeries,
)

JSON = dict[str, Any]

CARD_TYPE = "AdaptiveCard"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# Limits (platforms.md §7; the rest are this renderer's own, generous but finite).
CARD_BYTES_MAX = 80_000  # Teams allows about 100 KB per message; the activity needs the rest
TEXT_MAX = 3000  # characters of plain text per TextBlock; longer prose becomes several
DIALOG_TITLE_MAX = 60  # the task module's title bar
ACTION_TITLE_MAX = 80
CHOICE_TITLE_MAX = 200
ACTIONS_PER_SET = 6  # Teams shows six buttons in a row and hides the rest in an overflow menu
EXPANDED_CHOICES_MAX = 10  # a longer scale is a drop-down, as on Slack
ERROR_MESSAGE_MAX = 150

# The keys of the data every action carries back (see the module docstring).
RR_ACTION = "rr_action"
RR_VALUE = "rr_value"
RR_PRIVATE = "rr_private"
RR_FORM = "rr_form"
# Buttons that open the check-in dialog: Teams answers them with a `task/fetch` invoke.
TASK_FETCH_ACTIONS = frozenset({"checkin_open"})

ELLIPSIS = "…"
DEFAULT_TITLE = "Rut Radar"

_STYLES = {"primary": "positive", "danger": "destructive"}


# --- text ----------------------------------------------------------------------------------

# Characters that can start emphasis, code, strikethrough, a link or image, an autolink or
# HTML, or an entity, anywhere in a line; and the backslash itself, so a person's own `\*`
# cannot undo an escape.
_ESCAPE_ANYWHERE = frozenset("\\`*_[]()<>&~")
# Characters that only matter first on a line: an ATX heading, a list bullet, a setext
# underline (`-` and `=`).
_ESCAPE_LINE_START = frozenset("#-+=")
_ORDERED_ITEM = re.compile(r"^(\d{1,9})\.(?=[ \t]|$)")  # "1. item", not "2.2 / 5"
_WORD_JOINER = "\u2060"
# The neutral copy names commands the way Slack's slash command is typed ("/rut checkin").
# On Teams there is no `/rut`: people write the words to the bot ("checkin", or "@Rut Radar
# checkin" in a channel), and Teams' own compose box claims a leading "/" for its commands.
# So the prefix is dropped before a known command wherever a card shows text.
_SLASH_COMMAND = re.compile(
    r"(?<![^\s(\"'`\u201c\u2018\u00ab])/rut[ \t]+"
    r"(?=(?:help|checkin|advice|summary|pause|resume|privacy|forget-me|timezone|admin)\b)",
    re.IGNORECASE,
)


def teams_wording(text: str) -> str:
    """The copy as Teams people use it: `/rut pause` → `pause`. Only the prefix before a
    command word goes; any other `/rut` (a path, a word) is left alone."""
    return _SLASH_COMMAND.sub("", text)


def escape_markdown(text: str) -> str:
    """Plain text → TextBlock Markdown that shows exactly that text and formats nothing.

    Line breaks are kept as Teams documents them for TextBlocks (`\\n\\n`); leading blanks are
    dropped, since four of them would start a code block. `{{` is cut by an invisible word
    joiner, because a TextBlock turns `{{DATE(…)}}` and `{{TIME(…)}}` into formatted dates.
    """
    out = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.lstrip(" \t")
        escaped = "".join("\\" + ch if ch in _ESCAPE_ANYWHERE else ch for ch in line)
        escaped = (
            "\\" + escaped
            if escaped[:1] in _ESCAPE_LINE_START
            else _ORDERED_ITEM.sub(r"\1\\.", escaped)
        )
        out.append(escaped.replace("{{", "{" + _WORD_JOINER + "{"))
    return "\n\n".join(line for line in out if line)


def _clip(text: str, limit: int) -> str:
    """Shorten plain text to `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def _chunks(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Plain text → paragraphs (split at blank lines), each cut into pieces ≤ `limit` at a
    line break or a space where possible, so nothing is lost to a length limit."""
    out: list[str] = []
    for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        rest = paragraph.strip()
        while len(rest) > limit:
            cut = rest.rfind("\n", 0, limit + 1)
            if cut <= 0:
                cut = rest.rfind(" ", 0, limit + 1)
            if cut <= 0:
                cut = limit
            out.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
        if rest:
            out.append(rest)
    return out


def _text_block(text: str, **style: Any) -> JSON:
    """One TextBlock of plain `text` (≤ TEXT_MAX characters), escaped."""
    text = escape_markdown(_clip(teams_wording(text), TEXT_MAX))
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _text_blocks(text: str, **style: Any) -> list[JSON]:
    blocks = [_text_block(chunk, **style) for chunk in _chunks(text)]
    return [b for b in blocks if b["text"]]


# --- blocks --------------------------------------------------------------------------------


class _Render:
    """State for one card: input ids, whether the card has inputs, the message's `private`."""

    def __init__(self, msg: Message) -> None:
        self.ids = UniqueIds()
        self.private = msg.private
        # The hint under a question left unanswered, in the reader's language.
        self.required = copy_for(msg.locale).say("answer_required")
        self.has_inputs = bool(msg.form and msg.form.inputs) or any(
            isinstance(b, ChoiceQuestion | TextInput | Checkbox) for b in msg.blocks
        )

    def blocks(self, blocks: Iterable[Block]) -> list[JSON]:
        return [rendered for block in blocks for rendered in self.block(block)]

    def block(self, block: Block) -> list[JSON]:
        if isinstance(block, Heading):
            return _text_blocks(block.text, weight="bolder", size="medium")
        if isinstance(block, Paragraph):
            return _text_blocks(block.text)
        if isinstance(block, Section):
            return _section(block)
        if isinstance(block, Bullets):
            return _bullets(block)
        if isinstance(block, Buttons):
            return self.buttons(block)
        if isinstance(block, TrendSeries):
            return _trend(block)
        return self.input(block)

    # buttons

    def action(self, button: Button) -> JSON:
        data: JSON
        if button.action_id in TASK_FETCH_ACTIONS:
            data = {
                "msteams": {"type": "task/fetch"},
                RR_ACTION: button.action_id,
                RR_VALUE: button.value,
            }
        else:
            data = {RR_ACTION: button.action_id, RR_VALUE: button.value, RR_PRIVATE: self.private}
        action: JSON = {
            "type": "Action.Submit",
            "title": _clip(button.label or button.action_id, ACTION_TITLE_MAX),
            "data": data,
        }
        if button.style in _STYLES:
            action["style"] = _STYLES[button.style]
        if self.has_inputs:
            # A button beside a form is not its submit: don't send or validate the inputs.
            action["associatedInputs"] = "none"
        return action

    def buttons(self, block: Buttons) -> list[JSON]:
        actions = [self.action(b) for b in block.buttons]
        return [
            {"type": "ActionSet", "actions": actions[i : i + ACTIONS_PER_SET]}
            for i in range(0, len(actions), ACTIONS_PER_SET)
        ]

    # inputs

    def input(self, field: Input) -> list[JSON]:
        if isinstance(field, ChoiceQuestion):
            return [self.choice(field)]
        if isinstance(field, TextInput):
            return [self.text_input(field)]
        return self.checkbox(field)

    def choice(self, question: ChoiceQuestion) -> JSON:
        """A scale is a column of radio buttons ("expanded") with the end labels on the first
        and last choice; a select, or a scale too long for radio buttons, is a drop-down."""
        options = question.options
        if not options:
            raise ValueError(f"{question.input_id!r}: a choice needs at least one option")
        expanded = question.style == "scale" and len(options) <= EXPANDED_CHOICES_MAX
        choices = []
        for index, option in enumerate(options):
            title = option.label or option.value
            if expanded and index == 0 and question.low_label:
                title = f"{title} · {question.low_label}"
            elif expanded and index == len(options) - 1 and question.high_label:
                title = f"{title} · {question.high_label}"
            choices.append({"title": _clip(title, CHOICE_TITLE_MAX), "value": option.value})
        element: JSON = {
            "type": "Input.ChoiceSet",
            "id": self.ids.unique(question.input_id),
            "label": question.label or question.input_id,
            "style": "expanded" if expanded else "compact",
            "isMultiSelect": False,
            "choices": choices,
        }
        if question.initial is not None and any(o.value == question.initial for o in options):
            element["value"] = question.initial
        if not question.optional:
            element["isRequired"] = True
            element["errorMessage"] = self.required
        return element

    def text_input(self, field: TextInput) -> JSON:
        element: JSON = {
            "type": "Input.Text",
            "id": self.ids.unique(field.input_id),
            "label": field.label or field.input_id,
            "isMultiline": field.multiline,
        }
        if field.max_length > 0:
            element["maxLength"] = field.max_length
        if field.hint:
            element["placeholder"] = field.hint
        if field.initial:
            element["value"] = (
                field.initial[: field.max_length] if field.max_length > 0 else field.initial
            )
        if not field.optional:
            element["isRequired"] = True
            element["errorMessage"] = self.required
        return element

    def checkbox(self, field: Checkbox) -> list[JSON]:
        """A toggle, "true" when ticked and "false" when not; always optional, since leaving it
        unticked is a valid answer. The hint goes underneath in small print."""
        out: list[JSON] = [
            {
                "type": "Input.Toggle",
                "id": self.ids.unique(field.input_id),
                "title": field.label or field.input_id,
                "value": "false",
                "valueOn": "true",
                "valueOff": "false",
                "wrap": True,
            }
        ]
        if field.hint:
            out += _text_blocks(field.hint, isSubtle=True, size="small", spacing="small")
        return out


def _section(block: Section) -> list[JSON]:
    """A Container: the title in bold, the text, and the fields as a FactSet."""
    items: list[JSON] = []
    if block.title.strip():
        items += _text_blocks(block.title, weight="bolder")
    items += _text_blocks(block.text, spacing="small") if items else _text_blocks(block.text)
    facts = [
        {
            "title": escape_markdown(_clip(teams_wording(name), TEXT_MAX)),
            "value": escape_markdown(_clip(teams_wording(value), TEXT_MAX)),
        }
        for name, value in block.fields
        if name.strip() or value.strip()
    ]
    if facts:
        items.append({"type": "FactSet", "facts": facts})
    return [{"type": "Container", "items": items}] if items else []


def _bullets(block: Bullets) -> list[JSON]:
    out: list[JSON] = []
    for item in block.items:
        if not item.strip():
            continue
        rendered = _text_block("• " + item.strip(), spacing="small")
        if not out:
            del rendered["spacing"]
        out.append(rendered)
    return out


def _trend(block: TrendSeries) -> list[JSON]:
    """A FactSet of label → sparkline, so the lines align, and the legend in small print."""
    out: list[JSON] = []
    if block.title.strip():
        out += _text_blocks(block.title, weight="bolder")
    facts = [
        {
            "title": escape_markdown(_clip(line.label, TEXT_MAX)),
            "value": sparkline(line.points, block.low, block.high),
        }
        for line in block.lines
    ]
    if facts:
        out.append({"type": "FactSet", "facts": facts, "spacing": "small"})
    for line in trend_legend(block):
        out += _text_blocks(line, isSubtle=True, size="small", spacing="small")
    return out


# --- cards ---------------------------------------------------------------------------------


def size_of(payload: Any) -> int:
    """Bytes of `payload` as JSON with every non-ASCII character escaped: an upper bound of
    what any JSON serializer sends for it (UTF-8 needs no more bytes than `\\uXXXX`)."""
    return len(json.dumps(payload))


def _more(text: str) -> JSON:
    return _text_block(text, isSubtle=True, size="small")


def _fit(card: JSON, prose: list[JSON], inputs: list[JSON], limit: int, more: str) -> JSON:
    """Fill the card's body with the prose and then the inputs, within `limit` bytes.

    When they don't all fit, prose is cut from the end and the last kept piece is followed by
    a line saying there is more; the inputs (what a form submits) are always kept whole.
    """
    card["body"] = prose + inputs
    if size_of(card) <= limit:
        return card
    note = _more(more)
    card["body"] = [note, *inputs]
    budget = limit - size_of(card)
    if budget < 0:
        raise ValueError(
            f"the card's inputs and actions alone are {size_of(card)} bytes; "
            f"Teams cards are kept to {limit}"
        )
    kept: list[JSON] = []
    for element in prose:
        cost = size_of(element) + len(", ")
        if cost > budget:
            break
        kept.append(element)
        budget -= cost
    card["body"] = [*kept, note, *inputs]
    return card


def _build(msg: Message, *, more: str | None = None, limit: int = CARD_BYTES_MAX) -> JSON:
    """`more`: the note when the card is cut, by default the copy's in the message's language."""
    more = more or copy_for(msg.locale).say("more_than_fits")
    render = _Render(msg)
    prose = render.blocks(msg.blocks)
    inputs: list[JSON] = []
    actions: list[JSON] = []
    form = msg.form
    if form is not None:
        prose += render.blocks(form.intro)
        inputs = [element for field in form.inputs for element in render.input(field)]
        actions.append(
            {
                "type": "Action.Submit",
                "title": _clip(form.submit_label or "OK", ACTION_TITLE_MAX),
                "style": "positive",
                "data": {RR_FORM: form.form_id, RR_PRIVATE: form.private or msg.private},
            }
        )
    if not prose and not inputs and msg.fallback.strip():
        prose = _text_blocks(msg.fallback)
    card: JSON = {
        "type": CARD_TYPE,
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": [],
        "actions": actions,
    }
    return _fit(card, prose, inputs, limit, more)


def card(msg: Message) -> dict[str, Any]:
    """The Adaptive Card (version 1.5) for a message, ≤ CARD_BYTES_MAX bytes as JSON.

    Meant for chat messages, but any message renders: a form's inputs and its submit button
    are included, so a form works in a chat card too.
    """
    return _build(msg)


def dialog(msg: Message) -> dict[str, Any]:
    """The body of a `task/fetch` / `task/submit` invoke response that shows `msg` in a
    dialog (task module): its card, and a title from the message, its form or its fallback."""
    form = msg.form
    title = msg.title or (form.title if form else "") or msg.fallback or DEFAULT_TITLE
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": _clip(" ".join(title.split()), DIALOG_TITLE_MAX),
                "card": {"contentType": CARD_CONTENT_TYPE, "content": _build(msg)},
            },
        }
    }


def message_response(text: str) -> dict[str, Any]:
    """The body of a `task/submit` invoke response that closes the dialog with a short line."""
    return {"task": {"type": "message", "value": text}}


def attachment(card: dict[str, Any]) -> Attachment:
    """An activity attachment carrying `card`."""
    return Attachment(content_type=CARD_CONTENT_TYPE, content=card)


# --- submissions ---------------------------------------------------------------------------


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """An Action.Submit's `value` (or a `task/submit`'s `data`) → the neutral `{input_id:
    value}`: the `rr_*` keys and Teams' own `msteams` key are dropped, repeated ids lose their
    `#n`, and every value is a string ("" for a missing one). A toggle gives "true"/"false",
    which `bot.rounds.checkin.Scores.parse` reads."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if key.startswith("rr_") or key == "msteams":
            continue
        out[base_id(str(key))] = "" if value is None else str(value)
    return out


# The neutral input id behind a rendered one (`share#2` → `share`), for the adapter.
parse_input_id = base_id
