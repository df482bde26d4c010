"""The chat's tables (bot/chat/registry.py, filled in bot/chat/engine.py): the help, dispatch and
the buttons the views build can't drift apart."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin.grammar import Parser, admin_parser
from bot.chat import views
from bot.chat.engine import CHAT_ACTIONS, CHAT_COMMANDS, COMMANDS, ChatEngine
from bot.chat.registry import Action, Actions, Command, Commands, Writes
from bot.core.actor import Actor
from bot.server.cli import SHARED_COMMANDS, build_parser
from messages.copy import copy_for
from messages.model import Bullets, Buttons, Message
from storage.models import Person, Team, Workspace
from tests.conftest import World
from tests.helpers import command, text_of

ROOT = Path(__file__).resolve().parent.parent
T = copy_for("en")
WORKSPACE = Workspace(platform="playground", external_id="T1", timezone="UTC", locale="en")
HOME = Team(name="Platform")


def someone(*, admin: bool = False, team: bool = True, manages: int = 0) -> Actor:
    return Actor(
        workspace=WORKSPACE,
        person=Person(user_id="U0"),
        is_admin=admin,
        home_team=HOME if team else None,
        managed=tuple(Team(name=f"Team {i}") for i in range(manages)),
    )


ROLES = {
    "member": someone(),
    "member in no team": someone(team=False),
    "manager": someone(manages=1),
    "manager of several": someone(manages=2),
    "admin": someone(admin=True),
    "admin in no team": someone(admin=True, team=False),
    "admin and manager": someone(admin=True, manages=1),
}


def help_lines(message: Message) -> tuple[str, ...]:
    (bullets,) = [block for block in message.blocks if isinstance(block, Bullets)]
    return bullets.items


def help_buttons(message: Message) -> list[str]:
    return [
        b.action_id for block in message.blocks if isinstance(block, Buttons) for b in block.buttons
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_word_the_help_names_dispatches(role: str) -> None:
    message = views.help_message(T, ROLES[role], CHAT_COMMANDS)
    for line in help_lines(message):
        for word in re.findall(r"/rut ([\w-]+)", line):
            assert CHAT_COMMANDS.get(word) is not None, (role, line)
    for action_id in help_buttons(message):
        assert CHAT_ACTIONS.get(action_id) is not None, (role, action_id)


def test_every_command_is_in_the_help_of_someone_who_may_use_it() -> None:
    shown = "\n".join(
        line
        for actor in ROLES.values()
        for line in help_lines(views.help_message(T, actor, CHAT_COMMANDS))
    )
    for word in COMMANDS:
        if word != "help":  # the help itself
            assert f"/rut {word}" in shown, word


def test_the_help_shows_each_role_its_lines_in_order() -> None:
    expected = {
        "member": ["checkin", "advice", "pause", "timezone", "privacy", "forget"],
        "member in no team": ["checkin", "advice", "pause", "timezone", "privacy", "forget"],
        "manager": ["checkin", "advice", "pause", "timezone", "privacy", "forget", "summary"],
        "admin": ["checkin", "advice", "pause", "timezone", "privacy", "forget", "admin"],
        "admin in no team": [
            "checkin_admin_no_team",
            "advice",
            "pause",
            "timezone",
            "privacy",
            "forget",
            "admin",
        ],
        "admin and manager": [
            *("checkin", "advice", "pause", "timezone", "privacy", "forget", "summary", "admin"),
        ],
    }
    for role, keys in expected.items():
        actor = ROLES[role]
        assert [line.key for line in CHAT_COMMANDS.help_for(actor)] == [f"help_{k}" for k in keys]
    lines = help_lines(views.help_message(T, ROLES["admin in no team"], CHAT_COMMANDS))
    assert lines[0] == T.say("help_checkin_admin_no_team", user_id="U0")
    assert help_buttons(views.help_message(T, ROLES["admin in no team"], CHAT_COMMANDS)) == [
        "advice",
        "admin_panel",
    ]


def test_the_command_words_are_listed_in_their_order_and_aliases_understood() -> None:
    assert COMMANDS == (
        "help",
        "advice",
        "checkin",
        "summary",
        "pause",
        "resume",
        "privacy",
        "forget-me",
        "timezone",
        "admin",
    )
    assert CHAT_COMMANDS.get("") is CHAT_COMMANDS.get("help")
    assert CHAT_COMMANDS.get("check-in") is CHAT_COMMANDS.get("checkin")
    assert CHAT_COMMANDS.get("dance") is None


def test_reads_are_the_commands_that_never_write() -> None:
    """docs/benchmarks.md "Reads never write": the claimed commands, from the table."""
    writes = {c.word: c.writes for c in CHAT_COMMANDS}
    assert {w for w, how in writes.items() if how is Writes.NEVER} == {
        *("help", "advice", "checkin", "privacy", "forget-me"),
    }
    assert {w for w, how in writes.items() if how is Writes.WITH_ARGUMENTS} == {"timezone", "admin"}
    reads = {a.action_id for a in CHAT_ACTIONS if not a.writes}
    assert reads == {
        *("checkin_open", "advice", "advice_send", "forget_me_cancel", "admin_panel"),
        "admin_schedule",
    }


def button_action_ids(path: Path) -> set[str]:
    """The action ids written as literals in `Button(...)` calls in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Button"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_every_button_the_bot_builds_dispatches() -> None:
    built = set().union(*(button_action_ids(p) for p in sorted((ROOT / "bot").rglob("*.py"))))
    assert {"checkin_open", "advice_send", "admin_round", "forget_me_confirm"} <= built
    assert built <= {action.action_id for action in CHAT_ACTIONS}


def test_a_word_or_action_registered_twice_is_refused() -> None:
    async def run(engine: object, actor: Actor, t: object, rest: object) -> Message:
        return Message.text("")

    with pytest.raises(ValueError, match="'pause'"):
        Commands(
            Command("pause", run, Writes.ALWAYS),
            Command("stop", run, Writes.ALWAYS, aliases=("pause",)),
        )
    with pytest.raises(ValueError, match="'pause'"):
        Actions(Action("pause", run, writes=True), Action("pause", run, writes=True))


def test_the_help_is_drawn_from_the_table_it_is_given() -> None:
    pause = CHAT_COMMANDS.get("pause")
    assert pause is not None
    table = Commands[ChatEngine](pause, Command("resume", pause.run, Writes.ALWAYS))
    assert help_lines(views.help_message(T, someone(), table)) == (T.say("help_pause"),)


async def test_an_unknown_word_lists_the_table(world: World) -> None:
    (reply,) = await ChatEngine(world.ctx).handle(command("u0", "/rut dance"))
    assert T.say("unknown_command", word="dance", commands=", ".join(COMMANDS)) in text_of(reply)


def leaves(parser: Parser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every command a parser runs, with the defaults it sets (a subcommand's over its parent's)."""
    defaults = {key: parser.get_default(key) for key in ("run", "handler")}
    sub = parser._subcommands()
    if sub is None:
        yield " ".join(path), defaults
        return
    for word, child in sub.choices.items():
        for name, below in leaves(child, (*path, word)):
            yield name, {k: below[k] if below[k] is not None else defaults[k] for k in defaults}


def test_every_admin_command_names_what_it_runs() -> None:
    """`run_admin` runs the handler the parser set: none is left to an if-chain."""
    chat = dict(leaves(admin_parser()))
    assert len(chat) == 20
    assert all(callable(d["handler"]) for d in chat.values()), chat
    cli = dict(leaves(build_parser()))
    assert all(callable(d["run"]) for d in cli.values()), cli
    for name, d in cli.items():
        if name.split()[0] in SHARED_COMMANDS and name not in ("workspace add", "workspace list"):
            assert d["handler"] is chat[name]["handler"], name
        else:
            assert d["handler"] is None, name


def test_the_buttons_traits_name_registered_actions_and_forms() -> None:
    """The Teams adapter reads which buttons open a dialog, which forms they open and which
    answers replace the card clicked from the engine's tables (`ChatEngine.traits`): every id
    they name is registered, and the renderer's own task/fetch buttons are among them."""
    from adapters.teams.render import TASK_FETCH_ACTIONS
    from bot.chat.engine import BUTTON_TRAITS, CHAT_FORMS

    ids = {action.action_id for action in CHAT_ACTIONS}
    assert BUTTON_TRAITS.dialogs <= ids
    assert set(BUTTON_TRAITS.refreshes) <= ids
    assert BUTTON_TRAITS.dialogs >= TASK_FETCH_ACTIONS
    assert set(BUTTON_TRAITS.openers) == {form.form_id for form in CHAT_FORMS}
    for opener in BUTTON_TRAITS.openers.values():
        assert opener.action_id in BUTTON_TRAITS.dialogs


def test_round_verbs_and_the_round_grammar_share_the_round_actions() -> None:
    from bot.admin.operations import ROUND_ACTIONS, RoundAction
    from bot.chat.buttons import RoundVerb

    assert set(ROUND_ACTIONS) == set(RoundAction)
    assert {verb.action for verb in RoundVerb} - {None} == set(RoundAction)
    for action in RoundAction:
        assert RoundVerb(action.value).action is action
        admin_parser().parse_args(["round", action.value, "Platform"])
