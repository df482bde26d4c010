"""The Slack renderer: golden payloads of the real messages, each checked against
slack_sdk's Block Kit models, plus escaping, limits, action ids and the submission inverse.

Rewrite the goldens after an intended change with `RUTRADAR_UPDATE_GOLDEN=1 pytest ...`, then
read the diff: it is exactly what Slack users will see change.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack.render import (
    ephemeral_reply,
    escape_mrkdwn,
    form_values,
    home_view,
    message_payload,
    modal_json,
    modal_view,
    parse_action_id,
    sparkline,
)
from bot.chat import views
from bot.chat.engine import CHAT_COMMANDS
from bot.core.actor import Actor
from bot.rounds.checkin import Scores
from bot.rounds.summary import Summary
from messages.content import Level
from messages.copy import copy_for
from messages.model import (
    Button,
    Buttons,
    Checkbox,
    ChoiceQuestion,
    Form,
    Heading,
    Message,
    Option,
    Paragraph,
    Section,
    TextInput,
    TrendLine,
    TrendSeries,
)
from storage.models import Workspace
from storage.values import ReleaseStatus
from tests import teams_messages

GOLDEN = Path(__file__).parent / "golden" / "slack"
UPDATE = os.environ.get("RUTRADAR_UPDATE_GOLDEN") == "1"
JSON = dict[str, Any]
T = copy_for("en")

# What a cut message ends with, in the message's language (English here).
DEFAULT_MORE = copy_for("en").say("more_than_fits")


# --- validation ----------------------------------------------------------------------------


def validate_blocks(blocks: list[JSON], limit: int) -> None:
    """slack_sdk's models, plus the Block Kit limits they do not check.

    `validate_json()` only checks a block's own attributes; `to_dict()` validates every nested
    element too, and comparing it with the input proves no key was unknown (the SDK drops and
    merely logs those).
    """
    assert 0 < len(blocks) <= limit
    action_ids: list[str] = []
    block_ids: list[str] = []
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, raw
        parsed.validate_json()
        assert parsed.to_dict() == raw
        if "block_id" in raw:
            block_ids.append(raw["block_id"])
        kind = raw["type"]
        if kind == "section":
            if "text" in raw:
                assert 0 < len(raw["text"]["text"]) <= 3000
            assert all(0 < len(f["text"]) <= 2000 for f in raw.get("fields", []))
        elif kind == "header":
            assert 0 < len(raw["text"]["text"]) <= 150
        elif kind == "context":
            assert 0 < len(raw["elements"]) <= 10
        elif kind == "actions":
            assert 0 < len(raw["elements"]) <= 25
            for element in raw["elements"]:
                action_ids.append(element["action_id"])
                assert len(element.get("value", "")) <= 2000
        elif kind == "input":
            element = raw["element"]
            action_ids.append(element["action_id"])
            for option in element.get("options", []):
                assert len(option["text"]["text"]) <= 75
                assert len(option.get("description", {}).get("text", "")) <= 75
    assert len(action_ids) == len(set(action_ids)), action_ids
    assert len(block_ids) == len(set(block_ids)), block_ids


def validate_message(payload: JSON) -> None:
    assert set(payload) == {"text", "blocks"}
    assert len(payload["text"]) <= 3000
    validate_blocks(payload["blocks"], 50)


def validate_view(view: JSON) -> None:
    model = View(**view)
    model.validate_json()
    assert model.to_dict() == view
    validate_blocks(view["blocks"], 100)


def validate(payload: JSON) -> None:
    if payload.get("type") in ("modal", "home"):
        validate_view(payload)
    else:
        validate_message(payload)


def texts(value: Any) -> Iterator[str]:
    """Every `text` string anywhere in a payload."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def all_action_ids(blocks: list[JSON]) -> list[str]:
    out = []
    for block in blocks:
        if block["type"] == "actions":
            out += [e["action_id"] for e in block["elements"]]
        elif block["type"] == "input":
            out.append(block["element"]["action_id"])
    return out


# --- the real messages ---------------------------------------------------------------------


def actor() -> Actor:
    workspace = Workspace(
        platform="slack",
        external_id="T1",
        name="Acme",
        timezone="UTC",
        locale="en",
        threshold=5,
        comment_threshold=5,
    )
    return Actor(workspace=workspace, person=None, is_admin=True)


def released_summary() -> Summary:
    """What bot.rounds.summary.team_summary returns: W47 released, W46 withheld, W48 open (the
    same summary the Teams renderer's tests draw)."""
    return teams_messages.released_summary()


def overview_summaries() -> list[Summary]:
    """A manager of three teams: one released (with an open round), one withheld, one new."""
    released = released_summary()
    assert released.latest is not None
    withheld = replace(
        released,
        team="Design",
        latest=replace(
            released.latest,
            status=ReleaseStatus.WITHHELD,
            respondents=3,
            participation=0.38,
            findings=None,
        ),
        open=None,
    )
    return [released_summary(), withheld, teams_messages.none_summary("Mobile")]


def admin_teams() -> list[dict[str, Any]]:
    return [
        {
            "name": "Platform",
            "open": True,
            "state": T.say("admin_round_open", period="2026-W48", answered=3, delivered=8),
            "schedule": T.say("admin_schedule", schedule="weekly on mon at 09:30"),
        },
        {
            "name": "Design",
            "open": False,
            "state": T.say("admin_round_none"),
            "schedule": T.say("admin_schedule", schedule="monthly, last fri at 14:00"),
        },
    ]


def checkin_result() -> Message:
    targets: list[tuple[str, Level]] = [("routine", "rut"), ("path", "rut")]
    status = T.say("checkin_stored", period="2026-W48")
    return views.checkin_result(T, "en", status, targets, "U1|2026-W48", "2026-W48")


CASES: dict[str, Callable[[], JSON]] = {
    "help": lambda: message_payload(views.help_message(T, actor(), CHAT_COMMANDS)),
    "checkin_form": lambda: modal_view(views.checkin_form(copy_for("en"), "en", "2026-W48")),
    "checkin_result": lambda: modal_view(checkin_result()),
    "prompt": lambda: message_payload(views.prompt_message(T, "Platform", "2026-W48")),
    "summary": lambda: modal_view(views.summary_message(T, "en", released_summary())),
    "summary_overview": lambda: modal_view(views.summary_overview(T, "en", overview_summaries())),
    "admin_panel": lambda: message_payload(views.admin_panel(T, admin_teams())),
    "schedule_form": lambda: modal_view(
        views.schedule_form(
            T, "Platform", {"cadence": "biweekly", "weekday": "tue", "time": "10:00"}
        )
    ),
    "home": lambda: home_view(
        [
            views.help_message(T, actor(), CHAT_COMMANDS),
            views.summary_message(T, "en", released_summary()),
        ]
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    payload = CASES[name]()
    validate(payload)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with RUTRADAR_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text(encoding="utf-8")) == payload


def test_checkin_modal_shape() -> None:
    view = CASES["checkin_form"]()
    assert view["callback_id"] == "checkin"
    assert view["private_metadata"] == "2026-W48"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [
        "assess",
        "routine",
        "training",
        "strengths",
        "path",
        "comment",
        "share",
    ]
    assess = inputs[0]
    options = assess["element"]["options"]
    assert assess["element"]["type"] == "radio_buttons"
    assert [o["value"] for o in options] == ["1", "2", "3", "4", "5"]
    assert options[0]["description"]["text"] == "Uneasy"
    assert options[-1]["description"]["text"] == "At ease"
    assert "description" not in options[2]
    assert assess["hint"]["text"] == "1 = Uneasy · 5 = At ease"
    comment = inputs[5]["element"]
    assert comment["type"] == "plain_text_input" and comment["multiline"] is True
    assert comment["max_length"] == 280
    assert inputs[6]["element"]["options"][0]["value"] == "1"
    assert inputs[6]["optional"] is True


def test_schedule_modal_selects_and_initials() -> None:
    view = CASES["schedule_form"]()
    by_id = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert view["private_metadata"] == "Platform"
    assert by_id["cadence"]["element"]["type"] == "static_select"
    assert by_id["cadence"]["element"]["initial_option"]["value"] == "biweekly"
    assert by_id["weekday"]["element"]["initial_option"]["value"] == "tue"
    assert by_id["time"]["element"]["initial_value"] == "10:00"
    assert by_id["time"]["optional"] is False
    assert by_id["time"]["element"]["placeholder"]["text"] == "HH:MM"
    assert "initial_value" not in by_id["anchor"]["element"]


def test_summary_trend_and_escaping() -> None:
    view = CASES["summary"]()
    joined = "\n".join(texts(view["blocks"]))
    assert "`Routine  ` ▄·▃" in joined  # W45 2.6, W46 withheld, W47 2.2
    assert "2026-W45 → 2026-W47" in joined
    assert "Time for a course &amp; a &lt;mentor&gt;" in joined
    assert "Platform <R&D>: team check-in" in joined  # the header is plain_text
    assert "2026-W48" in joined  # the open round's participation line


def test_summary_names_and_defines_its_two_measures_and_its_legend() -> None:
    summary = released_summary()
    assert summary.latest is not None and summary.latest.findings is not None
    practices = dict(summary.latest.findings.practices)
    practices["assess"] = replace(practices["assess"], change=0.0)
    practices["path"] = replace(practices["path"], change=None)
    findings = replace(summary.latest.findings, practices=practices)
    summary = replace(summary, latest=replace(summary.latest, findings=findings))
    joined = "\n".join(texts(modal_view(views.summary_message(T, "en", summary))["blocks"]))
    # Per practice: the share of answers of 1–2; overall: the share of people. Both defined.
    assert "*Scored 1–2*\n17%" in joined and "In a rut" not in joined
    assert "Scored 1–2: the share of answers that were 1 or 2" in joined
    assert "Stuck overall: 33% of respondents, counting the people whose five answers" in joined
    assert "*Change*\nno change" in joined and "+0.0" not in joined
    assert "*Change*\n–" in joined  # nothing earlier to compare with
    # The sparklines' legend: the rounds in order, the scale, the withheld round by name.
    assert "2026-W45 → 2026-W47: W45 W46 W47" in joined
    assert "▁ … █ Scale 1 (stuck) to 5 (thriving)" in joined
    assert "· Withheld: too few answered (W46)" in joined


def test_admin_panel_repeated_buttons_get_unique_ids() -> None:
    payload = CASES["admin_panel"]()
    ids = all_action_ids(payload["blocks"])
    assert ids == ["admin_round", "admin_schedule", "admin_round#2", "admin_schedule#2"]
    assert [parse_action_id(i) for i in ids] == [
        "admin_round",
        "admin_schedule",
        "admin_round",
        "admin_schedule",
    ]


def test_home_view_dividers_and_unique_ids() -> None:
    view = CASES["home"]()
    assert view["type"] == "home"
    assert sum(1 for b in view["blocks"] if b["type"] == "divider") == 1
    assert "submit" not in view and "close" not in view


def test_dialog_without_form() -> None:
    view = modal_view(checkin_result(), callback_id="advice_dialog")
    assert view["callback_id"] == "advice_dialog"
    assert "submit" not in view
    # The advice dialog carries what its "send me this advice" button needs.
    assert view["private_metadata"] == "routine:rut;path:rut|2026-W48"
    assert "private_metadata" not in modal_view(Message(fallback="Plain", surface="dialog"))
    assert modal_view(checkin_result())["callback_id"] == "rutradar_dialog"
    empty = modal_view(Message(fallback="Nothing & more", surface="dialog"))
    validate_view(empty)
    assert empty["blocks"][0]["text"]["text"] == "Nothing &amp; more"


# --- the validator itself ------------------------------------------------------------------


def test_validator_rejects_long_header() -> None:
    bad = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    parsed = Block.parse(bad)
    assert parsed is not None
    with pytest.raises(SlackObjectFormationError):
        parsed.validate_json()


def test_validator_rejects_long_modal_title() -> None:
    view: JSON = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "x" * 26},
        "blocks": [{"type": "divider"}],
    }
    with pytest.raises(SlackObjectFormationError):
        View(**view).validate_json()
    with pytest.raises(SlackObjectFormationError):
        validate_view(view)
    view["title"] = {"type": "plain_text", "text": "x" * 24}
    validate_view(view)


def test_validator_reaches_nested_elements() -> None:
    """A block's validate_json() skips its elements; validate_blocks' to_dict() does not."""
    bad = {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}
        ],
    }
    with pytest.raises(SlackObjectFormationError):
        validate_blocks([bad], 50)


def test_validator_rejects_duplicate_action_ids() -> None:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "A"}}
    with pytest.raises(AssertionError):
        validate_blocks([{"type": "actions", "elements": [button, dict(button)]}], 50)


# --- escaping ------------------------------------------------------------------------------


def test_escape_mrkdwn_only_three_characters() -> None:
    assert escape_mrkdwn("a & b < c > d *e* _f_ ~g~ `h`") == (
        "a &amp; b &lt; c &gt; d *e* _f_ ~g~ `h`"
    )
    assert escape_mrkdwn("&amp;") == "&amp;amp;"


def test_mrkdwn_escaped_plain_text_untouched() -> None:
    msg = Message(
        fallback="<b> & co",
        blocks=(
            Heading("<script> & <@U123>"),
            Paragraph("<script> & <@U123>"),
            Section("<T>", "a & b", fields=(("<k>", "v & w"),)),
            Buttons((Button("go", "<Go> & run", value="<v>&"),)),
        ),
    )
    payload = message_payload(msg)
    validate_message(payload)
    header, paragraph, section, actions = payload["blocks"]
    assert payload["text"] == "&lt;b&gt; &amp; co"
    assert header["text"] == {"type": "plain_text", "text": "<script> & <@U123>"}
    assert paragraph["text"] == {"type": "mrkdwn", "text": "&lt;script&gt; &amp; &lt;@U123&gt;"}
    assert section["text"]["text"] == "*&lt;T&gt;*\na &amp; b"
    assert section["fields"] == [{"type": "mrkdwn", "text": "*&lt;k&gt;*\nv &amp; w"}]
    button = actions["elements"][0]
    assert button["text"]["text"] == "<Go> & run"
    assert button["value"] == "<v>&"  # data, returned to us verbatim


# --- limits --------------------------------------------------------------------------------


def test_eighty_paragraphs() -> None:
    msg = Message(fallback="many", blocks=tuple(Paragraph(f"p{i}") for i in range(80)))
    payload = message_payload(msg)
    validate_message(payload)
    assert len(payload["blocks"]) == 50
    assert payload["blocks"][48]["text"]["text"] == "p48"
    assert payload["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(DEFAULT_MORE)}],
    }
    view = modal_view(msg)
    validate_view(view)
    assert len(view["blocks"]) == 80

    longer = Message(fallback="more", blocks=tuple(Paragraph(f"p{i}") for i in range(150)))
    view = modal_view(longer)
    validate_view(view)
    assert len(view["blocks"]) == 100 and view["blocks"][-1]["type"] == "context"
    home = home_view([longer, longer])
    validate_view(home)
    assert len(home["blocks"]) == 100


def test_long_form_keeps_every_input() -> None:
    inputs = tuple(TextInput(f"q{i}", f"Question {i}") for i in range(10))
    form = Form("big", "Big", "Send", inputs, intro=tuple(Paragraph(f"p{i}") for i in range(120)))
    view = modal_view(Message(fallback="big", surface="dialog", form=form))
    validate_view(view)
    assert len(view["blocks"]) == 100
    assert [b["block_id"] for b in view["blocks"][-10:]] == [f"q{i}" for i in range(10)]
    assert view["blocks"][89]["type"] == "context"


def test_long_texts_split_or_clipped() -> None:
    long_words = " ".join(f"word{i}" for i in range(1500))  # ~13k characters
    ampersands = "&" * 4000
    msg = Message(
        fallback="x" * 5000,
        title="A title far longer than twenty-four characters",
        surface="dialog",
        blocks=(
            Heading("H" * 200),
            Paragraph(long_words),
            Paragraph(ampersands),
            Section("Fields", fields=tuple((f"k{i}", "v" * 2500) for i in range(12))),
            Buttons((Button("b", "L" * 100),)),
        ),
    )
    payload = message_payload(msg)
    validate_message(payload)
    assert len(payload["text"]) <= 3000 and payload["text"].endswith("…")
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == "H" * 149 + "…"
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert len([s for s in sections if s.startswith("word")]) >= 5
    assert " ".join(w for w in sections if "word" in w).split() == long_words.split()
    amps = [s for s in sections if s.startswith("&")]
    assert len(amps) >= 7 and "".join(amps) == escape_mrkdwn(ampersands)
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 2]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    button = blocks[-1]["elements"][0]
    assert len(button["text"]["text"]) == 75
    view = modal_view(msg)
    validate_view(view)
    assert view["title"]["text"] == "A title far longer than…"
    assert len(view["title"]["text"]) == 24


def test_twenty_six_buttons_make_two_actions_blocks() -> None:
    msg = Message(fallback="b", blocks=(Buttons(tuple(Button(f"b{i}", "B") for i in range(26))),))
    payload = message_payload(msg)
    validate_message(payload)
    assert [len(b["elements"]) for b in payload["blocks"]] == [25, 1]


def test_data_that_cannot_be_cut_raises() -> None:
    with pytest.raises(ValueError, match="value"):
        message_payload(Message(fallback="x", blocks=(Buttons((Button("b", "B", "v" * 2001),)),)))
    form = Form("f", "F", "Send", (TextInput("t", "T"),), private="p" * 3001)
    with pytest.raises(ValueError, match="private"):
        modal_view(Message(fallback="x", surface="dialog", form=form))
    ok = Form("f", "F", "Send", (TextInput("t", "T"),), private="p" * 3000)
    validate_view(modal_view(Message(fallback="x", surface="dialog", form=ok)))


def test_duplicate_action_ids_unique_and_parse_round_trips() -> None:
    msg = Message(
        fallback="advice",
        blocks=(
            Buttons(tuple(Button("advice", k, value=k) for k in ("assess", "routine", "path"))),
            Buttons((Button("advice", "again"), Button("checkin_open", "Check in"))),
        ),
    )
    payload = message_payload(msg)
    validate_message(payload)
    ids = all_action_ids(payload["blocks"])
    assert ids == ["advice", "advice#2", "advice#3", "advice#4", "checkin_open"]
    assert {parse_action_id(i) for i in ids} == {"advice", "checkin_open"}
    assert parse_action_id("advice") == "advice"
    assert parse_action_id("team#blue") == "team#blue"
    assert parse_action_id("#3") == "#3"

    # Inputs repeating an id (e.g. the same form shown twice on a Home tab) get suffixes too.
    form = Form("f", "F", "Send", (Checkbox("share", "Share"),))
    home = home_view([Message("a", form=form), Message("b", form=form)])
    validate_view(home)
    assert all_action_ids(home["blocks"]) == ["share", "share#2"]


# --- submissions ---------------------------------------------------------------------------


def slack_state(view: JSON, answers: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it for a rendered view: an untouched radio or select
    is `selected_option: null`, an empty text input `value: null`, an unticked box `[]`."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        kind, answer = element["type"], answers.get(parse_action_id(element["action_id"]))
        state: dict[str, Any] = {"type": kind}
        if kind in ("radio_buttons", "static_select"):
            state["selected_option"] = next(
                (o for o in element["options"] if o["value"] == answer), None
            )
        elif kind == "plain_text_input":
            state["value"] = answer or None
        elif kind == "checkboxes":
            state["selected_options"] = element["options"] if answer else []
        values[block["block_id"]] = {element["action_id"]: state}
    return values


def test_form_values_round_trip() -> None:
    view = CASES["checkin_form"]()
    answers = {
        "assess": "4",
        "routine": "2",
        "training": "3",
        "strengths": "5",
        "path": "1",
        "comment": "More pairing & <fewer> meetings",
        "share": True,
    }
    values = form_values(slack_state(view, answers))
    assert values == {
        "assess": "4",
        "routine": "2",
        "training": "3",
        "strengths": "5",
        "path": "1",
        "comment": "More pairing & <fewer> meetings",
        "share": "1",
    }
    scores = Scores.parse(values)
    assert scores.values["strengths"] == 5
    assert scores.comment == "More pairing & <fewer> meetings"


def test_form_values_unshared_and_empty() -> None:
    view = CASES["checkin_form"]()
    unshared = form_values(slack_state(view, {"assess": "3", "comment": "kept to myself"}))
    assert unshared == {
        "assess": "3",
        "routine": "",
        "training": "",
        "strengths": "",
        "path": "",
        "comment": "kept to myself",
        "share": "",
    }
    nothing = form_values(slack_state(view, {}))
    assert set(nothing.values()) == {""} and len(nothing) == 7
    full = {k: "3" for k in ("assess", "routine", "training", "strengths", "path")}
    assert Scores.parse(form_values(slack_state(view, full))).comment is None


def test_form_values_schedule_and_odd_input() -> None:
    view = CASES["schedule_form"]()
    answers = {"cadence": "monthly", "weekday": "fri", "time": "14:00", "week_of_month": "last"}
    assert form_values(slack_state(view, answers)) == {
        "cadence": "monthly",
        "weekday": "fri",
        "time": "14:00",
        "week_of_month": "last",
        "anchor": "",
    }
    odd = {
        "b1": {"when": {"type": "datepicker", "selected_date": "2026-12-01"}},
        "b2": {"share#2": {"type": "checkboxes", "selected_options": [{"value": "1"}]}},
        "b3": None,
    }
    assert form_values(odd) == {"share": "1"}


# --- sparkline -----------------------------------------------------------------------------


def test_sparkline_gap_and_extremes() -> None:
    assert sparkline([1.0, None, 5.0, 3.0]) == "▁·█▅"
    assert sparkline([0.0, 9.0]) == "▁█"  # out of range is clamped, never an error
    series = TrendSeries(
        "Trend",
        periods=("2026-W44", "2026-W45", "2026-W46"),
        lines=(TrendLine("Routine", (1.0, None, 5.0)), TrendLine("Path", (None, 3.0, 2.0))),
    )
    payload = message_payload(Message(fallback="t", blocks=(series,)))
    validate_message(payload)
    section, context = payload["blocks"]
    assert section["text"]["text"] == "*Trend*\n`Routine` ▁·█\n`Path   ` ·▅▃"
    assert context["elements"][0]["text"] == "2026-W44 → 2026-W46"


def test_choice_scale_beyond_ten_becomes_select() -> None:
    question = ChoiceQuestion(
        "nps", "How likely?", tuple(Option(str(i), str(i)) for i in range(11)), initial="7"
    )
    form = Form("nps", "NPS", "Send", (question,))
    view = modal_view(Message(fallback="nps", surface="dialog", form=form))
    validate_view(view)
    element = view["blocks"][0]["element"]
    assert element["type"] == "static_select"
    assert element["initial_option"]["value"] == "7"


# --- kept renderings ---------------------------------------------------------------------------


def test_a_slash_commands_reply_is_what_bolts_ack_writes() -> None:
    """`ephemeral_reply` stands in for `ack(response_type="ephemeral", **message_payload(m))`:
    the same JSON text, for a kept message (the help) and one rendered afresh."""
    fresh = Message.text("Counted for 2026-W48.")
    for msg in (views.help_message(T, actor(), CHAT_COMMANDS), fresh):
        acked = asyncio.run(AsyncAck()(response_type="ephemeral", **message_payload(msg)))
        assert ephemeral_reply(msg) == acked.body


def test_a_cacheable_message_renders_as_a_fresh_one_does() -> None:
    """What is kept for a `cacheable` message is what rendering it afresh gives; a message
    not marked (a check-in's result) is never kept."""
    for kept in (views.advice_topic(T, "en", "routine", "seed"), views.checkin_form(T, "en", "P")):
        assert kept.cacheable
        fresh = replace(kept, cacheable=False)
        assert modal_view(kept) == modal_view(fresh)
        assert modal_view(kept) is modal_view(kept)
        assert modal_json(kept) is modal_json(kept)
        assert json.loads(modal_json(kept)) == json.loads(modal_json(fresh)) == modal_view(fresh)
        assert message_payload(kept) == message_payload(fresh)
        assert modal_view(fresh) is not modal_view(fresh)
    assert not teams_messages.checkin_result().cacheable
