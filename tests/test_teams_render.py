"""The Teams renderer: golden cards of the real messages, the data each action carries back,
dialogs, escaping, and the size and length limits.

The real `adaptivecards` package checks every card in tests/test_teams_cards.py; the checks
here need no Node. Rewrite the goldens after an intended change with
`RUTRADAR_UPDATE_GOLDEN=1 pytest tests/test_teams_render.py`, then read the diff: it is exactly
what Teams users will see change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botbuilder.schema import Attachment

from adapters.teams.render import (
    CARD_BYTES_MAX,
    CARD_CONTENT_TYPE,
    TASK_FETCH_ACTIONS,
    TEXT_MAX,
    attachment,
    card,
    dialog,
    escape_markdown,
    form_values,
    message_response,
    parse_input_id,
    size_of,
    sparkline,
    teams_wording,
)
from bot.chat import views
from bot.chat.engine import CHAT_COMMANDS
from bot.rounds.checkin import Scores
from messages.copy import copy_for
from messages.model import (
    Bullets,
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
from tests.teams_messages import (
    HOSTILE,
    PERIOD,
    T,
    actor,
    admin_teams,
    checkin_result,
    released_summary,
    view_messages,
    with_comments,
)

GOLDEN = Path(__file__).parent / "golden" / "teams"
UPDATE = os.environ.get("RUTRADAR_UPDATE_GOLDEN") == "1"
JSON = dict[str, Any]

ELEMENTS = {
    "TextBlock",
    "Container",
    "FactSet",
    "ActionSet",
    "Input.ChoiceSet",
    "Input.Text",
    "Input.Toggle",
}
INPUTS = {"Input.ChoiceSet", "Input.Text", "Input.Toggle"}
ENUMS = {
    "weight": {"default", "lighter", "bolder"},
    "size": {"default", "small", "medium", "large", "extraLarge"},
    "spacing": {"none", "small", "default", "medium", "large", "extraLarge", "padding"},
}

# What a cut message ends with, in the message's language (English here).
DEFAULT_MORE = copy_for("en").say("more_than_fits")


# --- a structural check that needs no Node -------------------------------------------------


def elements(body: list[JSON]) -> Iterator[JSON]:
    for element in body:
        yield element
        if element["type"] == "Container":
            yield from elements(element["items"])


def actions_of(content: JSON) -> list[JSON]:
    out = list(content["actions"])
    for element in elements(content["body"]):
        if element["type"] == "ActionSet":
            out += element["actions"]
    return out


def check_card(content: JSON) -> None:
    """What every card must be, whatever the message: the shape the adapter and Teams expect,
    known element types and enum values, unique input ids, data on every action, ≤ 80 KB."""
    assert list(content) == ["type", "$schema", "version", "body", "actions"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.5"
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert size_of(content) <= CARD_BYTES_MAX
    ids = []
    for element in elements(content["body"]):
        assert element["type"] in ELEMENTS, element
        for key, allowed in ENUMS.items():
            assert element.get(key, "default") in allowed, element
        if element["type"] == "TextBlock":
            assert element["text"] and element["wrap"] is True
            assert len(element["text"]) <= 2 * TEXT_MAX + 100
        if element["type"] in INPUTS:
            ids.append(element["id"])
        if element["type"] == "ActionSet":
            assert 0 < len(element["actions"]) <= 6
        if element["type"] == "Input.ChoiceSet":
            assert element["style"] in ("compact", "expanded") and element["choices"]
    assert len(ids) == len(set(ids)), ids
    for action in actions_of(content):
        assert action["type"] == "Action.Submit" and action["title"]
        assert action.get("style", "default") in ("default", "positive", "destructive")
        data = action["data"]
        assert ("rr_action" in data) != ("rr_form" in data), data
        assert all(isinstance(v, str) for k, v in data.items() if k.startswith("rr_"))


def texts(value: Any) -> Iterator[str]:
    """Every TextBlock text and Fact title and value in a card."""
    if isinstance(value, dict):
        if value.get("type") == "TextBlock":
            yield value["text"]
        if value.get("type") == "FactSet":
            for fact in value["facts"]:
                yield fact["title"]
                yield fact["value"]
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def inner(response: JSON) -> JSON:
    """The card inside a dialog response."""
    attached = response["task"]["value"]["card"]
    assert attached["contentType"] == CARD_CONTENT_TYPE
    content: JSON = attached["content"]
    return content


def by_id(content: JSON) -> dict[str, JSON]:
    return {e["id"]: e for e in elements(content["body"]) if e["type"] in INPUTS}


# --- goldens -------------------------------------------------------------------------------

MESSAGES = view_messages()
CASES: dict[str, Callable[[], JSON]] = {
    "prompt": lambda: card(MESSAGES["prompt"]),
    "help": lambda: card(MESSAGES["help_admin"]),
    "checkin_form": lambda: dialog(MESSAGES["checkin_form"]),
    "checkin_result": lambda: dialog(MESSAGES["checkin_result"]),
    "summary": lambda: dialog(MESSAGES["summary"]),
    "summary_overview": lambda: dialog(MESSAGES["summary_overview"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    payload = CASES[name]()
    check_card(inner(payload) if "task" in payload else payload)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with RUTRADAR_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text(encoding="utf-8")) == payload


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_view_renders_as_card_and_dialog(name: str) -> None:
    msg = MESSAGES[name]
    check_card(card(msg))
    response = dialog(msg)
    assert list(response["task"]) == ["type", "value"]
    assert response["task"]["type"] == "continue"
    assert 0 < len(response["task"]["value"]["title"]) <= 60
    check_card(inner(response))


# --- actions -------------------------------------------------------------------------------


def test_prompt_button_opens_the_checkin_dialog_with_task_fetch() -> None:
    content = card(MESSAGES["prompt"])
    (button,) = actions_of(content)
    assert button["data"] == {
        "msteams": {"type": "task/fetch"},
        "rr_action": "checkin_open",
        "rr_value": PERIOD,
    }
    assert button["style"] == "positive" and button["title"] == T.say("button_checkin")
    assert "checkin_open" in TASK_FETCH_ACTIONS
    assert "associatedInputs" not in button  # no inputs on a prompt


def test_other_buttons_submit_action_value_and_private() -> None:
    content = card(views.help_message(T, actor(admin=True, manages=("Platform",)), CHAT_COMMANDS))
    data = {a["data"]["rr_action"]: a["data"] for a in actions_of(content)}
    assert data["checkin_open"]["msteams"] == {"type": "task/fetch"}
    assert data["advice"] == {"rr_action": "advice", "rr_value": "", "rr_private": ""}
    assert data["summary"] == {"rr_action": "summary", "rr_value": "Platform", "rr_private": ""}
    assert data["admin_panel"]["rr_value"] == ""
    forget = card(views.confirm_forget(T))
    styles = {a["data"]["rr_action"]: a.get("style") for a in actions_of(forget)}
    assert styles == {"forget_me_confirm": "destructive", "forget_me_cancel": None}


def test_dialog_button_carries_the_dialogs_private() -> None:
    """The advice dialog's "send me this advice" carries what it needs; nothing is stored."""
    response = dialog(checkin_result())
    assert response["task"]["value"]["title"] == T.say("advice_title")
    content = inner(response)
    (send,) = actions_of(content)
    assert send["data"] == {
        "rr_action": "advice_send",
        "rr_value": "",
        "rr_private": f"routine:rut;path:rut|{PERIOD}",
    }
    assert content["actions"] == []


def test_admin_panel_buttons_stay_beside_their_team() -> None:
    content = card(views.admin_panel(T, admin_teams()))
    kinds = [e["type"] for e in content["body"]]
    assert kinds == ["TextBlock", "TextBlock", "Container", "ActionSet", "Container", "ActionSet"]
    first, second = (e for e in content["body"] if e["type"] == "ActionSet")
    assert first["actions"][0]["data"]["rr_value"] == "ask-close|Platform"
    assert second["actions"][0]["data"]["rr_value"] == "open|Design"
    assert first["actions"][1]["data"] == {
        "rr_action": "admin_schedule",
        "rr_value": "Platform",
        "rr_private": "",
    }


def test_thirteen_buttons_make_three_rows() -> None:
    msg = Message(fallback="b", blocks=(Buttons(tuple(Button(f"b{i}", "B") for i in range(13))),))
    content = card(msg)
    check_card(content)
    assert [len(e["actions"]) for e in content["body"]] == [6, 6, 1]


# --- forms ---------------------------------------------------------------------------------


def test_checkin_dialog_inputs_and_submit() -> None:
    content = inner(dialog(MESSAGES["checkin_form"]))
    inputs = by_id(content)
    assert list(inputs) == [
        "assess",
        "routine",
        "training",
        "strengths",
        "path",
        "comment",
        "share",
    ]
    assess = inputs["assess"]
    assert assess["type"] == "Input.ChoiceSet" and assess["style"] == "expanded"
    assert assess["isMultiSelect"] is False
    assert [c["value"] for c in assess["choices"]] == ["1", "2", "3", "4", "5"]
    assert [c["title"] for c in assess["choices"]] == ["1 · Uneasy", "2", "3", "4", "5 · At ease"]
    assert assess["isRequired"] is True and assess["errorMessage"]
    assert assess["label"] == load_question("assess")
    comment = inputs["comment"]
    assert comment["type"] == "Input.Text" and comment["isMultiline"] is True
    assert comment["maxLength"] == 280 and "isRequired" not in comment
    assert comment["placeholder"] == T.say("comment_hint")
    share = inputs["share"]
    assert (share["type"], share["valueOn"], share["valueOff"], share["value"]) == (
        "Input.Toggle",
        "true",
        "false",
        "false",
    )
    assert share["title"] == T.say("share_label")
    assert content["actions"] == [
        {
            "type": "Action.Submit",
            "title": T.say("checkin_submit"),
            "style": "positive",
            "data": {"rr_form": "checkin", "rr_private": PERIOD},
        }
    ]
    hint = next(e for e in content["body"] if e.get("text") == escape_markdown(T.say("share_hint")))
    assert hint["isSubtle"] is True


def load_question(key: str) -> str:
    from messages.content import load_content

    return load_content("en").practice(key).question


def test_checkin_without_round_carries_empty_private() -> None:
    content = inner(dialog(MESSAGES["checkin_form_no_round"]))
    assert content["actions"][0]["data"] == {"rr_form": "checkin", "rr_private": ""}


def test_schedule_form_selects_initials_and_required_text() -> None:
    content = inner(dialog(MESSAGES["schedule_form"]))
    inputs = by_id(content)
    assert inputs["cadence"]["style"] == "compact" and inputs["cadence"]["value"] == "biweekly"
    # The copy's labels; the values stay the words typed
    assert [c["title"] for c in inputs["cadence"]["choices"]] == [
        "weekly",
        "every two weeks",
        "monthly",
    ]
    assert [c["value"] for c in inputs["cadence"]["choices"]] == ["weekly", "biweekly", "monthly"]
    assert inputs["weekday"]["value"] == "tue"
    assert inputs["time"]["value"] == "10:00" and inputs["time"]["isRequired"] is True
    assert inputs["time"]["maxLength"] == 5 and inputs["time"]["placeholder"] == "HH:MM"
    assert "value" not in inputs["anchor"]
    assert content["actions"][0]["data"] == {"rr_form": "schedule", "rr_private": "Platform"}


def test_form_in_a_chat_card_and_buttons_beside_inputs() -> None:
    form = Form("f", "F", "Send", (TextInput("t", "T", optional=False),), private="ctx")
    msg = Message(
        fallback="f", form=form, blocks=(Buttons((Button("cancel", "Cancel"),)),), private="p"
    )
    content = card(msg)
    check_card(content)
    cancel = content["body"][0]["actions"][0]
    assert cancel["associatedInputs"] == "none"
    assert cancel["data"] == {"rr_action": "cancel", "rr_value": "", "rr_private": "p"}
    assert content["actions"][0]["data"] == {"rr_form": "f", "rr_private": "ctx"}
    no_private = Form("f", "F", "Send", (TextInput("t", "T"),))
    carried = card(Message(fallback="f", form=no_private, private="from-message"))
    assert carried["actions"][0]["data"]["rr_private"] == "from-message"


def test_repeated_input_ids_get_suffixes_and_round_trip() -> None:
    form = Form("f", "F", "Send", (Checkbox("share", "Share"),))
    msg = Message(fallback="x", blocks=(Checkbox("share", "Share"),), form=form)
    content = card(msg)
    check_card(content)
    assert list(by_id(content)) == ["share", "share#2"]
    assert parse_input_id("share#2") == "share"
    assert parse_input_id("team#blue") == "team#blue" and parse_input_id("#3") == "#3"


def test_long_scale_becomes_compact_and_empty_choice_raises() -> None:
    question = ChoiceQuestion(
        "nps", "How likely?", tuple(Option(str(i), str(i)) for i in range(11)), initial="7"
    )
    content = card(Message(fallback="n", form=Form("nps", "NPS", "Send", (question,))))
    check_card(content)
    element = by_id(content)["nps"]
    assert element["style"] == "compact" and element["value"] == "7"
    with pytest.raises(ValueError, match="at least one option"):
        card(Message(fallback="n", blocks=(ChoiceQuestion("x", "X", ()),)))


def test_form_values_back_to_neutral() -> None:
    submitted = {
        "rr_form": "checkin",
        "rr_private": PERIOD,
        "msteams": {"x": 1},
        "assess": "4",
        "routine": "2",
        "training": "3",
        "strengths": "5",
        "path": "1",
        "comment": "More pairing & <fewer> meetings",
        "share": "true",
        "note#2": None,
    }
    values = form_values(submitted)
    assert values == {
        "assess": "4",
        "routine": "2",
        "training": "3",
        "strengths": "5",
        "path": "1",
        "comment": "More pairing & <fewer> meetings",
        "share": "true",
        "note": "",
    }
    assert Scores.parse(values).comment == "More pairing & <fewer> meetings"
    assert Scores.parse({**values, "share": "false"}).comment is None


# --- dialogs and the small helpers ---------------------------------------------------------


def test_dialog_titles() -> None:
    assert dialog(MESSAGES["checkin_form"])["task"]["value"]["title"] == T.say("checkin_title")
    long = Message(fallback="x", surface="dialog", title="A title\nthat goes on " + "and on " * 20)
    title = dialog(long)["task"]["value"]["title"]
    assert len(title) == 60 and title.endswith("…") and "\n" not in title
    assert dialog(Message(fallback=""))["task"]["value"]["title"] == "Rut Radar"
    assert dialog(Message(fallback="Plain"))["task"]["value"]["title"] == "Plain"


def test_empty_message_shows_its_fallback() -> None:
    content = card(Message(fallback="Nothing & more", surface="dialog"))
    check_card(content)
    assert content["body"] == [{"type": "TextBlock", "text": "Nothing \\& more", "wrap": True}]
    assert card(Message(fallback=""))["body"] == []


def test_message_response_and_attachment() -> None:
    assert message_response("Saved.") == {"task": {"type": "message", "value": "Saved."}}
    content = card(MESSAGES["prompt"])
    wrapped = attachment(content)
    assert isinstance(wrapped, Attachment)
    assert wrapped.content_type == "application/vnd.microsoft.card.adaptive"
    assert wrapped.content is content
    assert wrapped.serialize()["contentType"] == CARD_CONTENT_TYPE


# --- escaping ------------------------------------------------------------------------------


def test_escape_markdown_characters() -> None:
    assert escape_markdown("a & b < c > d *e* _f_ [g](h) `i` ~j~ \\k") == (
        "a \\& b \\< c \\> d \\*e\\* \\_f\\_ \\[g\\]\\(h\\) \\`i\\` \\~j\\~ \\\\k"
    )
    assert escape_markdown("# h\n- i\n+ j\n= k\n12. l\n3) m\n    code\n2026 is fine") == (
        "\\# h\n\n\\- i\n\n\\+ j\n\n\\= k\n\n12\\. l\n\n3\\) m\n\ncode\n\n2026 is fine"
    )
    assert escape_markdown("mid-line - # + = 1. stay") == "mid-line - # + = 1. stay"
    assert escape_markdown("{{DATE(2026-11-25T09:00:00Z, SHORT)}}") == (
        "{\u2060{DATE\\(2026-11-25T09:00:00Z, SHORT\\)}}"
    )
    assert escape_markdown("a\r\nb\n\n\nc") == "a\n\nb\n\nc"
    assert escape_markdown("Plain words, commas; colons: and 100% fine!") == (
        "Plain words, commas; colons: and 100% fine!"
    )


def test_user_text_is_escaped_wherever_it_lands() -> None:
    """A hostile team name and comment reach TextBlocks and facts only escaped; labels and
    button titles, which Teams shows literally, stay as typed."""
    name = "*Ops* [x](https://evil.example) <b>&"
    summary = with_comments(released_summary(name), (HOSTILE,))
    content = inner(dialog(views.summary_message(T, "en", summary)))
    joined = "\n".join(texts(content))
    assert "\\*Ops\\* \\[x\\]\\(https://evil.example\\) \\<b\\>\\&: team check-in" in joined
    assert "\\*\\*Urgent\\*\\* \\_read\\_ \\[log in\\]\\(https://evil.example/login\\)" in joined
    assert "\\<at\\>Ada\\</at\\> \\&amp; \\`rm\\` \\~\\~x\\~\\~" in joined
    assert "\n\n\\# Heading\n\n\\- bullet\n\n1\\. ordered\n\ncode \\\\\\*" in joined
    for raw in ("*Ops*", "[x]", "<b>", "**Urgent**", "[log in]", "<at>", "`rm`"):
        assert raw not in joined
    panel = card(views.admin_panel(T, admin_teams(name)))
    assert "\\*Ops\\* \\[x\\]" in "\n".join(texts(panel))
    schedule = inner(dialog(views.schedule_form(T, name, None)))
    assert schedule["actions"][0]["data"]["rr_private"] == name  # data, returned verbatim
    buttons = card(
        Message(fallback="b", blocks=(Buttons((Button("go", "<Go> & *run*", "<v>&"),)),))
    )
    action = buttons["body"][0]["actions"][0]
    assert action["title"] == "<Go> & *run*" and action["data"]["rr_value"] == "<v>&"


# --- wording --------------------------------------------------------------------------------


def test_commands_are_written_as_teams_people_type_them() -> None:
    """Teams has no `/rut`: the help card (seen in Microsoft 365 Agents Playground) names the
    commands as words to write to the bot, in every locale, and so does every other text."""
    for locale in ("en", "de"):
        t = copy_for(locale)
        shown = "\n".join(
            texts(card(views.help_message(t, actor(admin=True, manages=("P",)), CHAT_COMMANDS)))
        )
        assert "/rut" not in shown, shown
        assert "checkin" in shown and "forget-me" in shown and "admin" in shown
    help_text = "\n".join(texts(card(MESSAGES["help_admin"])))
    assert "• checkin: answer five quick questions" in help_text
    assert "pause \\[until YYYY-MM-DD\\] and resume: take a break" in help_text
    privacy = "\n".join(texts(card(Message.text(T.say("privacy_controls")))))
    assert "pause \\(pause\\), resume \\(resume\\) or erase yourself \\(forget-me\\)" in privacy
    fields = card(Message(fallback="f", blocks=(Section("s", fields=(("Try", "/rut help"),)),)))
    assert {"title": "Try", "value": "help"} in fields["body"][0]["items"][-1]["facts"]


def test_only_a_command_prefix_is_dropped() -> None:
    assert teams_wording("Type /rut help to start again.") == "Type help to start again."
    assert teams_wording("/RUT Admin team add X") == "Admin team add X"
    assert teams_wording("(“/rut resume”)") == "(“resume”)"
    for kept in (
        "/rut",  # alone
        "/rut nonsense",  # not a command
        "/rutabaga pause",
        "see a/rut pause",  # inside a path or a word
        "https://x.example/rut help",
        "/rut helpful",
    ):
        assert teams_wording(kept) == kept


# --- limits --------------------------------------------------------------------------------


def test_huge_message_is_cut_to_80_kb_with_a_note() -> None:
    msg = Message(
        fallback="many",
        blocks=tuple(Paragraph(f"p{i} " + "word " * 200) for i in range(200)),
    )
    content = card(msg)
    check_card(content)
    body = content["body"]
    assert 70_000 < size_of(content) <= CARD_BYTES_MAX
    assert body[-1] == {
        "type": "TextBlock",
        "text": escape_markdown(DEFAULT_MORE),
        "wrap": True,
        "isSubtle": True,
        "size": "small",
    }
    assert body[0]["text"].startswith("p0 ") and len(body) < 200
    assert [b["text"].split()[0] for b in body[:-1]] == [f"p{i}" for i in range(len(body) - 1)]
    # Non-ASCII text counts as its escaped size, the most any serializer sends.
    wide = card(Message(fallback="w", blocks=tuple(Paragraph("▁▂▃█ 😀" * 300) for _ in range(40))))
    assert len(json.dumps(wide, ensure_ascii=False).encode()) <= size_of(wide) <= CARD_BYTES_MAX


def test_long_form_keeps_every_input() -> None:
    inputs = tuple(TextInput(f"q{i}", f"Question {i}") for i in range(10))
    intro = tuple(Paragraph(f"p{i} " + "x" * 2000) for i in range(60))
    form = Form("big", "Big", "Send", inputs, intro=intro, private="keep")
    content = inner(dialog(Message(fallback="big", surface="dialog", form=form)))
    check_card(content)
    assert list(by_id(content)) == [f"q{i}" for i in range(10)]
    note = content["body"][-11]
    assert note["text"] == escape_markdown(DEFAULT_MORE)
    assert content["actions"][0]["data"] == {"rr_form": "big", "rr_private": "keep"}


def test_data_that_cannot_fit_raises() -> None:
    form = Form("f", "F", "Send", (TextInput("t", "T"),), private="p" * 90_000)
    with pytest.raises(ValueError, match="80000"):
        dialog(Message(fallback="x", surface="dialog", form=form))


def test_long_texts_split_not_lost() -> None:
    long_words = " ".join(f"word{i}" for i in range(1500))  # ~13k characters
    msg = Message(
        fallback="x",
        blocks=(
            Heading("H" * 4000),
            Paragraph(long_words),
            Paragraph("first paragraph\n\nsecond paragraph\nwith a line break"),
            Section("Fields", fields=tuple((f"k{i}", "v" * 4000) for i in range(3))),
        ),
    )
    content = card(msg)
    check_card(content)
    body = content["body"]
    assert body[0]["weight"] == "bolder" and body[0]["size"] == "medium"
    words = [b["text"] for b in body if b["type"] == "TextBlock" and b["text"].startswith("word")]
    assert len(words) >= 5 and all(len(w) <= TEXT_MAX for w in words)
    assert " ".join(words).split() == long_words.split()
    paragraphs = [b["text"] for b in body if b["type"] == "TextBlock" and "paragraph" in b["text"]]
    assert paragraphs == ["first paragraph", "second paragraph\n\nwith a line break"]
    facts = body[-1]["items"][-1]["facts"]
    assert all(len(f["value"]) == TEXT_MAX and f["value"].endswith("…") for f in facts)


# --- blocks --------------------------------------------------------------------------------


def test_section_bullets_and_heading_shapes() -> None:
    msg = Message(
        fallback="s",
        blocks=(
            Heading("Title"),
            Section("Routine ⚠", fields=(("Mean", "2.2 / 5"), ("Low", "50%"))),
            Section("", "Only text"),
            Bullets(("one", " ", "two")),
        ),
    )
    content = card(msg)
    check_card(content)
    heading, section, text_only, first, second = content["body"]
    assert heading == {
        "type": "TextBlock",
        "text": "Title",
        "wrap": True,
        "weight": "bolder",
        "size": "medium",
    }
    assert section == {
        "type": "Container",
        "items": [
            {"type": "TextBlock", "text": "Routine ⚠", "wrap": True, "weight": "bolder"},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Mean", "value": "2.2 / 5"},
                    {"title": "Low", "value": "50%"},
                ],
            },
        ],
    }
    assert text_only["items"] == [{"type": "TextBlock", "text": "Only text", "wrap": True}]
    assert first == {"type": "TextBlock", "text": "• one", "wrap": True}
    assert second == {"type": "TextBlock", "text": "• two", "wrap": True, "spacing": "small"}


def test_trend_is_a_factset_of_sparklines() -> None:
    assert sparkline([1.0, None, 5.0, 3.0]) == "▁·█▅"
    assert sparkline([0.0, 9.0]) == "▁█"
    series = TrendSeries(
        "Trend",
        periods=("2026-W44", "2026-W45", "2026-W46"),
        lines=(TrendLine("Routine", (1.0, None, 5.0)), TrendLine("Path", (None, 3.0, 2.0))),
    )
    content = card(Message(fallback="t", blocks=(series,)))
    check_card(content)
    title, facts, span = content["body"]
    assert title["text"] == "Trend" and title["weight"] == "bolder"
    assert facts["facts"] == [
        {"title": "Routine", "value": "▁·█"},
        {"title": "Path", "value": "·▅▃"},
    ]
    assert span["text"] == "2026-W44 → 2026-W46" and span["isSubtle"] is True
    summary = "\n".join(texts(card(MESSAGES["summary"])))
    assert "▄·▃" in summary  # routine: W45 2.6, W46 withheld, W47 2.2
