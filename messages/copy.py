"""The interface copy: Jinja2 macros translated with Babel/gettext, one environment per locale.

Copy is plain text (no markup, no escaping): renderers escape it for their target. A `.po`
catalog is compiled in memory at load time, so there is no build step and no stale `.mo`.

A line's macro is compiled when it is first said, not the whole template at once: `copy.j2`
as one module is about 260 KB of generated Python in one function, and compiling that takes
about 18 MB for a moment, which the process keeps resident (`rutradar serve` said its
"listening" line with it: 106 MB at ready became 121 MB).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, nodes

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = Path(__file__).parent / "locale"
DOMAIN = "messages"
TEMPLATE = "copy.j2"


@cache
def available_locales() -> tuple[str, ...]:
    """English (the source language) plus every locale that has a catalog."""
    translated = {po.parent.parent.name for po in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return ("en", *sorted(translated))


def load_translations(locale: str) -> NullTranslations:
    po_path = LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == "en" or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


class Key(str):
    """The name of a line of the copy where a string must stand (argparse's `help=`), said in
    the reader's language wherever it is shown (`Copy.line`)."""

    __slots__ = ()


class Copy:
    """`copy.say("checkin_stored", period="2026-W48")` → the text in this locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in available_locales() else "en"
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            autoescape=False,  # plain text; each renderer escapes for its target
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.install_gettext_translations(load_translations(self.locale), newstyle=True)  # type: ignore[attr-defined]
        self._env = env
        source, filename, _ = env.loader.get_source(env, TEMPLATE)  # type: ignore[union-attr]
        self._filename: str | None = filename
        self._tree = env.parse(source, TEMPLATE, filename)
        self._definitions = {
            node.name: node for node in self._tree.body if isinstance(node, nodes.Macro)
        }
        self._macros: dict[str, Any] = {}
        # A line without values renders the same every time (the catalog is fixed for the
        # process): rendered once. Every request renders a dozen of them (help, buttons).
        self._fixed: dict[str, str] = {}

    def say(self, key: str, /, **values: Any) -> str:
        if not values:
            fixed = self._fixed.get(key)
            if fixed is not None:
                return fixed
        macro = self._macros.get(key) or self._compile(key)
        text = " ".join(str(macro(**values)).split())
        if not values:
            self._fixed[key] = text
        return text

    def _compile(self, key: str) -> Any:
        """The macro `key` of `copy.j2`, compiled with the macros it calls and the template's
        other top-level nodes, in the template's order (so it says what the whole template's
        macro says)."""
        if key not in self._definitions:
            raise KeyError(f"no copy named {key!r}")
        wanted: set[str] = set()
        pending = [key]
        while pending:
            name = pending.pop()
            if name in wanted:
                continue
            wanted.add(name)
            pending.extend(
                used.name
                for used in self._definitions[name].find_all(nodes.Name)
                if used.name in self._definitions
            )
        body = [
            node
            for node in self._tree.body
            if not isinstance(node, nodes.Macro) or node.name in wanted
        ]
        tree = nodes.Template(body, lineno=1)
        tree.set_environment(self._env)
        code = self._env.compile(tree, TEMPLATE, self._filename)
        template = self._env.template_class.from_code(self._env, code, self._env.make_globals(None))
        macro = self._macros[key] = getattr(template.make_module(), key)
        return macro

    def weekday(self, index: int) -> str:
        """Monday (0) … Sunday (6) in this locale, as CLDR names it."""
        return str(get_day_names("wide", locale=self.locale)[index])

    def line(self, text: str) -> str:
        """A `Key` said in this locale; any other text (the CLI's own English help, a name)
        as it is."""
        return self.say(text) if isinstance(text, Key) else text


def supported_locale(locale: str | None) -> str:
    """ "de-DE", "de_AT" and "DE" all mean German; anything unknown means English."""
    base = (locale or "en").replace("-", "_").split("_")[0].lower()
    return base if base in available_locales() else "en"


def copy_for(locale: str | None) -> Copy:
    return _copy(supported_locale(locale))


@cache
def _copy(locale: str) -> Copy:
    return Copy(locale)
