"""What a German reader sees where English used to slip through (issue 15): the admin help in
chat, the renderers' own words, schedule words and audit actors. No database needed."""

from __future__ import annotations

import argparse

import pytest

from adapters.slack.render import modal_view
from adapters.teams.render import card
from bot.admin.grammar import HelpRequested, Parser, admin_parser, parse_chat_admin
from bot.admin.operations import describe_schedule
from bot.core.audit import said_actor
from bot.core.errors import UsageError
from bot.server.cli import build_parser
from messages.copy import Key, copy_for
from messages.model import Form, Message, Paragraph, TextInput

DE = copy_for("de")
EN = copy_for("en")


def _help(text: str) -> HelpRequested:
    with pytest.raises(HelpRequested) as raised:
        parse_chat_admin(text)
    return raised.value


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out += _parsers(child)
    return out


@pytest.mark.parametrize("command", ["help", "round help", "schedule set --help"])
def test_admin_help_in_chat_is_german_for_a_german_reader(command: str) -> None:
    message = _help(command).help.message(DE)
    text = message.fallback
    assert message.locale == "de"
    assert "Aufruf: /rut admin" in text
    for english in ("Usage", "Commands", "Arguments", "(required)", "(default"):
        assert english not in text, english


def test_admin_help_names_its_labels_and_texts_in_german() -> None:
    top = _help("help").help.message(DE).fallback
    assert "Befehle:" in top
    assert "eine Runde von Hand öffnen, schließen oder überspringen" in top
    leaf = _help("schedule set --help").help.message(DE).fallback
    assert "Argumente:" in leaf
    assert "(Pflicht)" in leaf and "(Standard: 24h)" in leaf
    # a leaf's description is its help line, said as a sentence
    assert "Festlegen, wann die Runden eines Teams öffnen und schließen." in leaf


def test_every_help_of_the_admin_grammar_is_a_catalog_key() -> None:
    """An English help or description written into the grammar would reach chat untranslated."""
    texts = []
    for parser in _parsers(admin_parser()):
        texts.append(parser.description)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts += [choice.help for choice in action._choices_actions]
            elif not isinstance(action, argparse._HelpAction):
                texts.append(action.help)
    keys = [text for text in texts if isinstance(text, Key)]
    assert keys and len(keys) == len(texts), texts
    assert all(DE.say(key) != EN.say(key) for key in keys)  # each one translated


def test_the_cli_prints_the_english_of_the_same_keys() -> None:
    with pytest.raises(HelpRequested) as raised:
        build_parser().parse_args(["round", "open", "--help"])
    plain = raised.value.help.plain()
    assert plain.startswith("usage: rutradar round open")
    assert "the team's name; quote it if it has spaces" in plain


def test_a_missing_argument_is_described_in_the_readers_language() -> None:
    with pytest.raises(UsageError) as raised:
        parse_chat_admin("team add")
    assert "NAME (der Name des Teams" in raised.value.say(DE)
    assert "NAME (the team's name" in str(raised.value)


def test_argparse_words_never_reach_a_reader() -> None:
    parser = Parser(prog="/rut admin")
    with pytest.raises(UsageError) as raised:
        parser.error("ambiguous option: --x could match --xa, --xb")
    assert raised.value.key == "with_help"
    assert "ambiguous" not in raised.value.say(DE)


def test_the_renderers_say_their_own_words_in_the_messages_language() -> None:
    form = Form("f", "Titel", "Senden", (TextInput("x", "Frage", optional=False),))
    dialog = Message(fallback="Titel", surface="dialog", form=form, locale="de")
    assert modal_view(dialog)["close"]["text"] == "Schließen"
    assert modal_view(Message(fallback="Title", surface="dialog"))["close"]["text"] == "Close"
    [field] = [e for e in card(dialog)["body"] if e.get("id") == "x"]
    assert field["errorMessage"] == DE.say("answer_required") != EN.say("answer_required")
    long = Message(
        fallback="x",
        blocks=tuple(Paragraph("Wort " * 2000) for _ in range(30)),
        locale="de",
    )
    assert DE.say("more_than_fits") in str(card(long))


def test_schedule_words_are_said_not_typed() -> None:
    data = {
        "cadence": "monthly",
        "weekday": "mon",
        "time": "09:30",
        "week_of_month": "last",
        "anchor": None,
        "timezone": "Europe/Berlin",
        "member_local": False,
        "remind_after": "1d",
        "close_after": "3d",
        "enabled": True,
    }
    assert describe_schedule(data, DE).startswith("monatlich am letzten Montag um")
    assert describe_schedule(data, EN).startswith("monthly on the last Monday at")
    too_long = UsageError("close_after_too_long", cadence=Key("cadence_biweekly"))
    assert "alle zwei Wochen" in too_long.say(DE)


@pytest.mark.parametrize(
    ("stored", "german"),
    [
        ("command line", "Kommandozeile"),
        ("erased person", "gelöschte Person"),
        ("slack installation", "slack-Installation"),
        ("teams platform", "teams-Plattform"),
        ("slack workspace admin", "slack-Workspace-Admin"),
        ("Ada Lovelace", "Ada Lovelace"),
    ],
)
def test_audit_actors_are_stored_as_they_were_and_said_when_shown(stored: str, german: str) -> None:
    assert said_actor(DE, stored) == german
    assert said_actor(EN, stored) == stored  # the English is the stored words, unchanged
