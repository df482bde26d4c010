"""The neutral message model every adapter renders (Block Kit, Adaptive Cards, HTML).

Structure only: text here is plain, never pre-escaped or marked up for a platform; each
renderer escapes for its own target. A message is either chat (goes into the conversation) or
a dialog (Slack modal, Teams task module, playground <dialog>): scores and advice only ever
travel in dialogs, so they stay out of chat history (design privacy rule 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    """A titled block of text with optional key/value fields (e.g. a practice's indicators)."""

    title: str
    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class ChoiceQuestion:
    """One question answered by picking an option; `scale` renders as a 1–5 row."""

    input_id: str
    label: str
    options: tuple[Option, ...]
    style: Literal["scale", "select"] = "scale"
    low_label: str = ""
    high_label: str = ""
    initial: str | None = None
    optional: bool = False


@dataclass(frozen=True, slots=True)
class TextInput:
    input_id: str
    label: str
    hint: str = ""
    multiline: bool = False
    optional: bool = True
    initial: str = ""
    max_length: int = 280


@dataclass(frozen=True, slots=True)
class Checkbox:
    input_id: str
    label: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Button:
    action_id: str
    label: str
    value: str = ""
    style: Literal["default", "primary", "danger"] = "default"


@dataclass(frozen=True, slots=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class TrendLine:
    label: str
    points: tuple[float | None, ...]  # None = a gap (withheld round)


@dataclass(frozen=True, slots=True)
class TrendSeries:
    """Means per period, oldest first, on the 1–5 scale; gaps are withheld rounds.

    The legend travels with the data so every renderer can explain its drawing: `labels` are
    the short names under each period (the x-axis), `withheld` the indexes of withheld rounds
    (marked as such, not only left as gaps), `rut_line` the value drawn dashed, and the
    `*_label` texts say what the scale, the dashed line and a withheld mark mean."""

    title: str
    periods: tuple[str, ...]
    lines: tuple[TrendLine, ...]
    low: float = 1.0
    high: float = 5.0
    labels: tuple[str, ...] = ()
    withheld: tuple[int, ...] = ()
    rut_line: float | None = None
    scale_label: str = ""
    rut_label: str = ""
    withheld_label: str = ""
    withheld_short: str = ""

    def label(self, index: int) -> str:
        """The x-axis name of a period: its short label, else the period itself."""
        return self.labels[index] if index < len(self.labels) else self.periods[index]


Block = (
    Heading
    | Paragraph
    | Section
    | Bullets
    | ChoiceQuestion
    | TextInput
    | Checkbox
    | Buttons
    | TrendSeries
)
Input = ChoiceQuestion | TextInput | Checkbox


@dataclass(frozen=True, slots=True)
class Form:
    """A dialog that collects inputs; `private` round-trips through the platform untouched
    (Slack `private_metadata`, Teams card data) so the bot need not store state."""

    form_id: str
    title: str
    submit_label: str
    inputs: tuple[Input, ...]
    intro: tuple[Block, ...] = ()
    private: str = ""


# Where a message is shown: in the conversation (Slack: the channel, ephemerally, or the DM;
# Teams: the chat) or in a dialog (Slack: a modal; Teams: a task module).
Surface = Literal["chat", "dialog"]


@dataclass(frozen=True, slots=True)
class Message:
    """What the engine says. `fallback` is the plain text every platform shows in notifications."""

    fallback: str
    blocks: tuple[Block, ...] = ()
    surface: Surface = "chat"
    form: Form | None = None
    title: str = ""
    tags: tuple[str, ...] = field(default=())
    # State a dialog carries through the platform so the bot stores none (Slack
    # `private_metadata`): handed back with any button pressed inside the dialog.
    private: str = ""
    # The reader's language (the `Copy` it was said with): the renderers say their own few
    # words (a dialog's Close, "more than fits", "please answer") in it.
    locale: str = "en"
    # Said alike to everyone it is said to, and derived from no answer (the help, advice on a
    # topic): a renderer may keep what it made of it, keyed by the message alone, and give it
    # again (the same few are asked for again and again). Never set on a check-in's result.
    cacheable: bool = False

    @staticmethod
    def text(text: str) -> Message:
        return Message(fallback=text, blocks=(Paragraph(text),))
