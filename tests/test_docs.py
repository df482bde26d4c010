"""The docs stay true: what they quote the bot saying is something the bot can say, and they
point to nothing outside the repository.

Bot quotes are found where the guides put them: in docs/slack.md and docs/teams.md, a line of
a transcript or example that starts with `→` (the bot's turn; in docs/teams.md after the
speaker, `→ Rut Radar   …`), and a quotation in italics, `*"…"*`. A quote must be made of the
bot's strings: the copy catalog (messages/messages.pot, placeholders as wildcards) and the
English sentences in the code of bot/ and adapters/ (string literals, f-string fields as
wildcards), joined by a space, or a note in parentheses. Quotes cut short with `…` are not
checked (they say themselves that they are not the whole line).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ("docs/slack.md", "docs/teams.md")
WILD = "(.+?)"
# Quoted in the guides, but said by someone else than the bot.
NOT_THE_BOT = {
    "Task module (task/fetch) is not supported yet",  # the Microsoft 365 Agents Playground
}
# A pattern must carry this many characters of its own, so "{x}" or "%(team)s" alone, which
# would match anything, is never what makes a quote pass.
MIN_LITERAL = 10


def _printf(text: str) -> str:
    parts = re.split(r"%\(\w+\)[sd]", text)
    return WILD.join(re.escape(part.replace("%%", "%")) for part in parts)


def _fstring(node: ast.JoinedStr) -> str:
    return "".join(
        re.escape(v.value) if isinstance(v, ast.Constant) and isinstance(v.value, str) else WILD
        for v in node.values
    )


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    found: list[str] = []
    with (ROOT / "messages" / "messages.pot").open("rb") as handle:
        for message in read_po(handle):
            ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
            found += [_printf(str(i)) for i in ids if i]
    for folder in ("bot", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.append(re.escape(node.value))
                elif isinstance(node, ast.JoinedStr):
                    found.append(_fstring(node))
    literal = re.compile(re.escape(WILD) + r"|\\")
    return tuple(
        re.compile(p, re.S) for p in dict.fromkeys(found) if len(literal.sub("", p)) >= MIN_LITERAL
    )


def bot_can_say(quote: str) -> bool:
    """Whether the quote splits into pieces each a whole string of the bot's, joined by a
    space or opening a note in parentheses (" (", "; "), ending as the bot ends them."""
    starts, tried = [0], set()
    while starts:
        i = starts.pop()
        if i in tried:
            continue
        tried.add(i)
        for pattern in _patterns():
            for j in range(len(quote), i, -1):
                if not pattern.fullmatch(quote, i, j):
                    continue
                rest = quote[j:]
                if rest in ("", ".", ".)", ")"):
                    return True
                for joint in (" (", "; ", " "):
                    if rest.startswith(joint):
                        starts.append(j + len(joint))
    return False


def quotes() -> Iterator[tuple[str, str]]:
    for guide in GUIDES:
        text = (ROOT / guide).read_text(encoding="utf-8")
        lines = text.splitlines()
        for n, line in enumerate(lines):
            if not line.startswith("→ "):
                continue
            quote = line[2:].strip().removeprefix("Rut Radar").strip()
            for more in lines[n + 1 :]:  # a reply wrapped onto indented lines
                if not re.match(r" {10,}\S", more):
                    break
                quote += " " + more.strip()
            # Buttons ("[ Check in ]") and stage directions ("(the prompt, edited)") go.
            yield guide, re.sub(r"\s{2,}[\[(].*$", "", quote).strip()
        for match in re.finditer(r'\*"([^*]+?)"\*', text):
            yield guide, " ".join(match.group(1).split())


def test_the_guides_quote_the_bot() -> None:
    found = list(quotes())
    assert len(found) >= 20, found  # the finder still finds the guides' quotes
    assert any("channel_not_found" in q for _, q in found)


@pytest.mark.parametrize(
    "guide,quote",
    [(g, q) for g, q in quotes() if "…" not in q and q not in NOT_THE_BOT],
    ids=lambda value: value[:50],
)
def test_a_quote_of_the_bot_is_something_it_says(guide: str, quote: str) -> None:
    assert bot_can_say(quote), f"{guide} quotes the bot saying {quote!r}, which it never says"


def test_the_checker_refuses_what_the_bot_never_says() -> None:
    assert bot_can_say("Round 2026-W48 for Platform is closed. Released: 6 of 7 answered.")
    assert not bot_can_say("Something went wrong on my side. Please try again.")
    assert not bot_can_say("Round 2026-W48 for Platform is closed and archived forever.")


def test_docs_point_to_nothing_outside_the_repository() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [ROOT / "messages" / "templates" / "copy.j2"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/" not in text, path
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{path.name} links outside: {target}"
            assert resolved.exists(), f"{path.name} links to a missing file: {target}"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize(
    "title", ["Walkthrough: a click becomes a stored answer", "Walkthrough: a round closes"]
)
def test_each_walkthrough_follows_at_most_six_files_that_exist(title: str) -> None:
    """docs/architecture.md's walkthroughs name their files in order, one step each (the issue
    that asked for the layout: a flow should be readable in six files or fewer)."""
    section = _section((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"), title)
    steps = re.findall(r"^\d+\. \*\*`([^`]+)`\*\*", section, re.M)
    assert 2 <= len(steps) <= 6, steps
    assert [path for path in steps if not (ROOT / path).is_file()] == []
    # Every file the walkthrough names is one of its steps: none slips in beside them.
    named = set(re.findall(r"`((?:adapters|bot|storage|messages)/[\w/]+\.py)`", section))
    assert named == set(steps), named - set(steps)


def test_the_layout_table_names_every_module_of_bot() -> None:
    table = _section((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"), "The layout")
    rows = dict(re.findall(r"^\| `bot/(\w+)/` \| (.*) \|$", table, re.M))
    for floor in sorted(p.name for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()):
        modules = {p.name for p in (ROOT / "bot" / floor).glob("*.py")} - {"__init__.py"}
        named = set(re.findall(r"`(\w+\.py)`", rows.get(floor, "")))
        assert modules - named == set(), f"bot/{floor}/ modules missing from the layout table"
