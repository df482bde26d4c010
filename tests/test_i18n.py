"""The interface copy in every locale: each macro renders, and each translation is complete and
keeps its placeholders. No database needed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from messages.copy import LOCALES, TEMPLATES, available_locales, copy_for

# The same extractor and options as messages/babel.cfg (`make messages`), over every template.
JINJA_METHOD = "jinja2.ext.babel_extract"
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
TRANSLATED = tuple(locale for locale in available_locales() if locale != "en")
# `%(name)s` and friends; jinja's newstyle gettext always %-formats, so any other `%` breaks.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...]
    msgid: str | None  # the macro's one gettext string, when it is nothing but `{{ _("…") }}`
    counts: tuple[str, ...] = ()  # parameters that are an ngettext count: numbers
    lists: tuple[str, ...] = ()  # parameters the macro joins (`|join`, `or_list`): lists

    def dummy_values(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for index, param in enumerate(self.params):
            if param in self.counts:
                values[param] = 41 + index
            elif param in self.lists:
                values[param] = [f"<{param}-{n}>" for n in (1, 2, 3)]
            else:
                values[param] = f"<{param}-value>"
        return values

    def shown(self, values: dict[str, object]) -> dict[str, list[str]]:
        """What of each value must appear in the text: the value, or each item of a list."""
        return {
            param: [str(item) for item in value] if isinstance(value, list) else [str(value)]
            for param, value in values.items()
        }


def _only_gettext(body: list[nodes.Node]) -> str | None:
    """The msgid when the body is exactly one `{{ _("…", …) }}`, else None."""
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    call = body[0].nodes[0]
    if not (
        isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name) and call.node.name == "_"
    ):
        return None
    if len(call.args) != 1 or not isinstance(call.args[0], nodes.Const):
        return None
    if not all(isinstance(kw.value, nodes.Name) for kw in call.kwargs):
        return None  # a value worked on first (`or_list(choices)`): not the msgid as it is
    value = call.args[0].value
    return value if isinstance(value, str) else None


@cache
def template_macros() -> tuple[Macro, ...]:
    env = Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    tree = env.parse((TEMPLATES / "copy.j2").read_text(encoding="utf-8"))
    return tuple(
        Macro(
            macro.name,
            tuple(arg.name for arg in macro.args),
            _only_gettext(macro.body),
            _plural_counts(macro),
            _list_params(macro),
        )
        for macro in tree.find_all(nodes.Macro)
    )


def _plural_counts(macro: nodes.Macro) -> tuple[str, ...]:
    """The parameters passed as the count of an `ngettext(singular, plural, count)`."""
    return tuple(
        call.args[2].name
        for call in macro.find_all(nodes.Call)
        if isinstance(call.node, nodes.Name)
        and call.node.name == "ngettext"
        and len(call.args) >= 3
        and isinstance(call.args[2], nodes.Name)
    )


def _list_params(macro: nodes.Macro) -> tuple[str, ...]:
    """The parameters used as lists: joined, measured, or passed to `or_list`/`and_list`."""
    params = {arg.name for arg in macro.args}
    found: set[str] = set()
    for node in macro.find_all(nodes.Filter):
        if node.name in ("join", "length") and node.node is not None:
            found |= {name.name for name in node.node.find_all(nodes.Name)}
            if isinstance(node.node, nodes.Name):
                found.add(node.node.name)
    for call in macro.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in ("or_list", "and_list"):
            found |= {arg.name for arg in call.args if isinstance(arg, nodes.Name)}
    return tuple(sorted(found & params))


@cache
def extracted_msgids() -> frozenset[str]:
    """Every msgid in the templates, extracted fresh (not read from the possibly stale .pot)."""
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        TEMPLATES, method_map=[("**.j2", JINJA_METHOD)], options_map={"**.j2": JINJA_OPTIONS}
    ):
        found.update(message if isinstance(message, tuple) else (message,))
    return frozenset(m for m in found if m)


@cache
def catalog(locale: str) -> Catalog:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def pairs(locale: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) for every entry, plural forms flattened, header excluded."""
    found: list[tuple[str, str]] = []
    for message in catalog(locale):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        strings = (
            (message.string,) if isinstance(message.string, str) else tuple(message.string or ())
        )
        found.extend((msgid, msgstr or "") for msgid in ids for msgstr in strings)
    return found


def translations(locale: str) -> dict[str, str]:
    """msgid → msgstr (the first form, for plurals)."""
    table: dict[str, str] = {}
    for msgid, msgstr in pairs(locale):
        table.setdefault(msgid, msgstr)
    return table


def squash(text: str) -> str:
    return " ".join(text.split())


def test_template_has_macros_and_strings() -> None:
    macros = template_macros()
    assert len(macros) > 50, "the macro walk found too few macros: is copy.j2 parsed?"
    assert len({m.name for m in macros}) == len(macros), "two macros share a name"
    assert len(extracted_msgids()) > 50, (
        "extraction found too few strings: is the extractor set up?"
    )
    assert {m.msgid for m in macros if m.msgid} <= extracted_msgids()


def test_available_locales() -> None:
    locales = available_locales()
    assert "en" in locales
    assert "de" in locales
    for locale in TRANSLATED:
        assert (LOCALES / locale / "LC_MESSAGES" / "messages.po").is_file(), (
            f"{locale} has no messages.po"
        )


@pytest.mark.parametrize("locale", available_locales())
def test_every_macro_renders(locale: str) -> None:
    copy = copy_for(locale)
    assert copy.locale == locale
    failures: list[str] = []
    for macro in template_macros():
        values = macro.dummy_values()
        try:
            text = copy.say(macro.name, **values)
        except Exception as exc:
            failures.append(f"{macro.name}: {type(exc).__name__}: {exc}")
            continue
        if not text.strip():
            failures.append(f"{macro.name}: rendered empty")
        lost = [
            param
            for param, items in macro.shown(values).items()
            if any(item not in text for item in items)
        ]
        if lost:
            failures.append(f"{macro.name}: lost {lost} in {text!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("locale", available_locales())
def test_macros_render_their_catalog_string(locale: str) -> None:
    """A macro that is just `{{ _("…") }}` says exactly its msgid (en) or msgstr (others)."""
    table = {} if locale == "en" else translations(locale)
    copy = copy_for(locale)
    failures: list[str] = []
    checked = 0
    for macro in template_macros():
        if macro.msgid is None:
            continue
        checked += 1
        values = macro.dummy_values()
        expected = squash((table.get(macro.msgid) or macro.msgid) % values)
        actual = copy.say(macro.name, **values)
        if actual != expected:
            failures.append(f"{macro.name}: {actual!r} != {expected!r}")
    assert checked > 50
    assert not failures, "\n".join(failures)


def test_german_translates_every_extracted_string() -> None:
    table = translations("de")
    untranslated = sorted(msgid for msgid in extracted_msgids() if not table.get(msgid, "").strip())
    assert not untranslated, "no German for:\n" + "\n".join(untranslated)


def test_german_catalog_has_no_fuzzy_entries() -> None:
    # Fuzzy entries are left out when the catalog is compiled, so they would show in English.
    fuzzy = sorted(str(m.id) for m in catalog("de") if m.id and m.fuzzy)
    assert not fuzzy, "fuzzy in de:\n" + "\n".join(fuzzy)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_placeholders(locale: str) -> None:
    failures: list[str] = []
    for msgid, msgstr in pairs(locale):
        if not msgstr:
            continue  # untranslated: falls back to the msgid, caught by the completeness test
        want, got = set(PLACEHOLDER.findall(msgid)), set(PLACEHOLDER.findall(msgstr))
        if want != got:
            failures.append(f"{msgid!r}: placeholders {sorted(got)} != {sorted(want)}")
        if "%" in PLACEHOLDER.sub("", msgstr):
            failures.append(f"{msgid!r}: stray '%' in {msgstr!r}")
    assert not failures, "\n".join(failures)


def test_german_checkin_stored() -> None:
    german = copy_for("de").say("checkin_stored", period="2026-W48")
    english = copy_for("en").say("checkin_stored", period="2026-W48")
    assert "2026-W48" in german
    assert german != english


def test_unknown_locale_falls_back_to_english() -> None:
    english = copy_for("en").say("checkin_stored", period="2026-W48")
    assert copy_for("xx").locale == "en"
    assert copy_for("xx").say("checkin_stored", period="2026-W48") == english
    assert copy_for(None).say("checkin_stored", period="2026-W48") == english


def test_an_error_is_said_in_the_readers_language() -> None:
    """An error carries its line's key and values; a value that is an error is said in the
    same language; `str()` is the English."""
    from bot.core.errors import UsageError

    inner = UsageError("not_a_path_action", word="clos", path="round", choices=["open", "skip"])
    error = UsageError("with_help", sentence=inner, prog="/rut admin round")
    english = "'clos' is not a round action. Use open or skip. For help: /rut admin round --help."
    assert str(error) == error.say(copy_for("en")) == english
    german = error.say(copy_for("de"))
    assert german.startswith("„clos“") and "open oder skip" in german and "Hilfe:" in german


def test_unknown_macro_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        copy_for("de").say("no_such_copy")
