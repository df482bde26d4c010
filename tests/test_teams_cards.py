"""Every card the bot renders, checked by the real `adaptivecards` package (3.0.6, Adaptive
Cards 1.5) in Node, and every piece of text in them rendered by markdown-it as that package's
renderer does: no parse or validation event, ≤ 80 KB, and no formatting or link that the
neutral text did not ask for (it never asks for any).

`make test` installs both packages into .cache/node (see the Makefile). Without Node, or
without those packages (npm missing or offline), these tests are skipped and say why.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.render import CARD_BYTES_MAX, card, dialog, size_of
from bot.core.clock import ManualClock
from bot.core.context import Context
from messages.model import Message
from storage.db import create_engine, create_session_factory
from tests.teams_messages import HOSTILE, HOSTILE_TEAM, engine_messages, view_messages

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "cards" / "validate.js"
MODULES = Path(os.environ.get("RUTRADAR_NODE_MODULES", ROOT / ".cache" / "node" / "node_modules"))
JSON = dict[str, Any]
Checker = Callable[[dict[str, JSON]], dict[str, JSON]]


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: the Adaptive Card validation is skipped (install Node.js, then `make test`)"
    if not (MODULES / "adaptivecards" / "dist" / "adaptivecards.js").is_file():
        return (
            f"{MODULES}/adaptivecards is missing: the Adaptive Card validation is skipped "
            "(`make test` installs it with npm; npm was missing or offline)"
        )
    return None


@pytest.fixture(scope="module")
def checker() -> Checker:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)

    def run(cards: dict[str, JSON]) -> dict[str, JSON]:
        done = subprocess.run(
            ["node", str(SCRIPT)],
            input=json.dumps(cards),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "RUTRADAR_NODE_MODULES": str(MODULES)},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, JSON] = json.loads(done.stdout)
        return result

    return run


def needs_markdown() -> None:
    if not (MODULES / "markdown-it" / "package.json").is_file():
        pytest.skip(
            f"{MODULES}/markdown-it is missing: the Markdown checks are skipped (`make test` installs it)"
        )


def rendered(messages: dict[str, Message]) -> dict[str, JSON]:
    """Each message as a chat card and inside its dialog."""
    out: dict[str, JSON] = {}
    for name, msg in messages.items():
        out[f"{name}/card"] = card(msg)
        out[f"{name}/dialog"] = dialog(msg)["task"]["value"]["card"]["content"]
    return out


TAG = re.compile(r"<(/?)([a-zA-Z0-9]+)[^>]*>")


def plain(markup: str) -> str:
    """The words of markdown-it's HTML: tags out, entities decoded, blanks collapsed."""
    return " ".join(html.unescape(TAG.sub(" ", markup)).replace("\u2060", "").split())


def assert_clean(cards: dict[str, JSON], result: dict[str, JSON]) -> None:
    problems = {name: r["events"] for name, r in result.items() if r["events"]}
    assert problems == {}
    sizes = {name: size_of(c) for name, c in cards.items() if size_of(c) > CARD_BYTES_MAX}
    assert sizes == {}
    for name, r in result.items():
        for piece in r["markdown"]:
            tags = {m.group(2).lower() for m in TAG.finditer(piece["html"])}
            assert tags <= {"p"}, (name, piece)


def test_the_validator_catches_what_it_should(checker: Checker) -> None:
    """The check is real: a bad element, a bad enum, an input without id are all reported."""
    bad = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "Bogus"},
            {"type": "TextBlock", "text": "x", "weight": "boldest"},
            {"type": "Input.Text"},
        ],
        "actions": [{"type": "Action.Submit", "title": "x", "style": "danger"}],
    }
    events = {e["event"] for e in checker({"bad": bad})["bad"]["events"]}
    assert events == {"UnknownElementType", "InvalidPropertyValue", "PropertyCantBeNull"}


def test_every_view_is_a_valid_card(checker: Checker) -> None:
    cards = rendered(view_messages())
    assert len(cards) > 50
    assert_clean(cards, checker(cards))


@pytest.fixture
async def demo_ctx(sqlite_url: str, clock: ManualClock) -> Any:
    engine = create_engine(sqlite_url)
    ctx = Context(database=engine, sessions=create_session_factory(engine), clock=clock)
    try:
        yield ctx
    finally:
        await engine.dispose()


async def test_every_engine_reply_is_a_valid_card(checker: Checker, demo_ctx: Context) -> None:
    messages = await engine_messages(demo_ctx)
    # The walk reached what it meant to: a counted check-in, a released summary with a
    # trend, the hostile team in the admin panel, the schedule form, home for every role.
    assert "Counted for" in messages["engine_checkin_result"].fallback
    assert messages["engine_summary"].surface == "dialog"
    assert messages["engine_schedule_form"].form is not None
    assert {"engine_home_member_0", "engine_home_manager_1", "engine_home_admin_1"} <= set(messages)
    assert "error" not in messages["engine_team_add"].tags, messages["engine_team_add"]
    cards = rendered(messages)
    result = checker(cards)
    assert_clean(cards, result)
    needs_markdown()
    panels = [p for p in result["engine_round_close_1/card"]["markdown"] if "Ops" in p["text"]]
    assert [plain(p["html"]) for p in panels] == [HOSTILE_TEAM]
    # The hostile line Ada shared reached the released summary, and reads back as typed.
    shown = " ".join(plain(p["html"]) for p in result["engine_summary/dialog"]["markdown"])
    assert " ".join(HOSTILE[:280].split()) in shown


def test_hostile_text_shows_as_typed_and_formats_nothing(checker: Checker) -> None:
    """A shared comment and a team name full of Markdown, HTML, entities and a card date
    function: markdown-it makes paragraphs of them and nothing else, and the words read back
    exactly as typed."""
    messages = view_messages()
    cards = {
        "summary": dialog(messages["summary_hostile"])["task"]["value"]["card"]["content"],
        "error": card(messages["error_hostile"]),
    }
    result = checker(cards)
    assert_clean(cards, result)
    needs_markdown()
    shown = [plain(p["html"]) for p in result["error"]["markdown"]]
    assert shown == [" ".join(HOSTILE.split())]
    summary = [plain(p["html"]) for p in result["summary"]["markdown"]]
    assert f"{HOSTILE_TEAM}: team check-in" in summary
    comments = next(s for s in summary if "Urgent" in s)
    assert comments == " ".join(f"“{HOSTILE}” “plain & simple”".split())
