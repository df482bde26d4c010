"""Every sentence a person reads goes through the catalog (messages/templates/copy.j2), so it
has a German line too. A new English sentence written into bot/ or adapters/ fails here.

The rule: a string constant or f-string (fields count as nothing) with three or more words of
letters and a space, after printf and strftime directives are taken out, is a sentence. It is
allowed only where no person reads it as the bot's words:

- a docstring;
- a log line (`log.info(…)` and the other logger methods);
- a message for developers: an internal exception (`DEVELOPER_ERRORS`), an `assert`;
- a reply to a machine: a JSON body (`json_response`), an HTTP refusal (`web.HTTP…`, `_refuse`)
  for the platform, which it logs and never shows;
- text that is matched, not said: a regular expression, a comparison (`"no such table" in s`);
- a Prometheus metric's help, read by a monitoring system;
- the command line's own argparse help (`help=`, `description=` in `ARGPARSE_HELP`: only
  bot/server/cli.py, whose commands, such as `rutradar db upgrade`, no one runs from chat and
  whose help is read by an operator at a terminal). The admin grammar that chat shows
  (bot/admin/grammar.py) is not exempt: its help is catalog keys (`Key("admin_help_…")`), said
  in the reader's language, and an English help string written there fails here;
- one of the few `NAMED` below, each with its reason.

Short labels are words a person reads too, though a sentence rule cannot see them ("Close" on
a dialog's button). In the renderers and views (`LABEL_FILES`), a string that reads like a
label (one or two words, the first capitalised, no capital inside a word: "Close", "Team
summary") fails as well. That shape is narrow on purpose: the platform vocabulary those files
are full of is lower case ("plain_text", "mrkdwn", "primary") or CamelCase ("TextBlock",
"Action.Submit"), so it passes; what is left is a dict's "type" (an Adaptive Card element
name, e.g. "Container"), a dict key, a comparison, and the product's name (`PRODUCT`), which is
a name in every language. A label of one lower-case word ("close") would pass: so would a word
in the lower-case vocabulary, and telling the two apart is a reviewer's job.

The other half: every catalog line the code names (`UsageError("key", …)`, `t.say("key", …)`,
the grammar's `Key("…")`) exists, and is given exactly the values it uses.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

from messages.copy import TEMPLATES

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("bot", "adapters")

WORD = re.compile(r"[A-Za-z]+")
# `%(team)s`, `%s`, `%d`, `%Y-%m-%d`, `%.1f`: fields and formats, not words.
DIRECTIVE = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[A-Za-z]")
FIELD = ""  # what an f-string's `{…}` counts as: nothing

LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# Messages for whoever reads the log or a traceback, never shown in chat or on the CLI:
# Python's own errors, the adapters' refusals of a malformed request (logged with the 400),
# and a delivery's failure reason (recorded with the delivery).
DEVELOPER_ERRORS = {
    "AssertionError",
    "KeyError",
    "LookupError",
    "NotImplementedError",
    "PermissionError",
    "RuntimeError",
    "TypeError",
    "ValueError",
    "MalformedPayload",
    "MalformedActivity",
    "DeliveryError",
}
MACHINE_REPLIES = {"json_response", "_refuse"}
RE_FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "split", "findall", "finditer"}
METRICS = {"Counter", "Gauge", "Histogram", "Summary"}
HELP_KEYWORDS = {"help", "description", "epilog"}
# Functions that build the CLI-only argparse grammar: their literals are its help (English, for
# the operator at a terminal). Not the admin grammar chat shows: its help is catalog keys.
ARGPARSE_HELP = {
    ("bot/server/cli.py", "build_parser"),
    ("bot/server/cli.py", "_add_to_leaves"),
}
ARGPARSE_FILES = {path for path, _function in ARGPARSE_HELP}
# Where short labels are checked too (see the docstring): the renderers and the views.
LABEL_FILES = {
    "adapters/playground/render.py",
    "adapters/slack/render.py",
    "adapters/teams/render.py",
    "bot/admin/grammar.py",
    "bot/chat/home.py",
    "bot/chat/views.py",
}
LABEL = re.compile(r"[A-Z][a-z]+(?: [A-Za-z][a-z]*)?")
PRODUCT = {"Rut Radar"}
# (file, the text's start): why a person never reads it as something the bot says.
NAMED = {
    ("bot/server/demo.py", "More pairing on the on-call rota"): "demo data: a member's shared line",
    ("bot/server/logs.py", "[redacted: a request"): "stands in for a body in the log",
    ("bot/server/logs.py", " [its traceback was withheld"): "marks a traceback left out of the log",
    ("bot/server/app.py", "SELECT version_num FROM"): "SQL",
    ("adapters/teams/auth.py", "application/json; charset"): "an HTTP header",
    ("adapters/teams/adapter.py", "app not installed for"): "a delivery's failure reason",
    ("adapters/teams/adapter.py", "blocked or uninstalled"): "a delivery's failure reason",
}
# The classes and methods that take a catalog line's key first, then its values.
SAYERS = {
    "RutRadarError",
    "UsageError",
    "ConflictError",
    "NotAllowed",
    "UnknownPerson",
    "ConfigurationError",
    "say",
    "Key",
}


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else FIELD
            for v in node.values
        )
    return None


def is_sentence(text: str) -> bool:
    bare = DIRECTIVE.sub(" ", text)
    return len(WORD.findall(bare)) >= 3 and " " in bare.strip()


def is_label(node: ast.AST, text: str, not_labels: set[int]) -> bool:
    """A short interface label written into a renderer or a view (see the docstring)."""
    return (
        isinstance(node, ast.Constant)
        and LABEL.fullmatch(text) is not None
        and text not in PRODUCT
        and id(node) not in not_labels
    )


def _not_labels(tree: ast.Module) -> set[int]:
    """Strings in a label's shape that are structure, not words: a dict's keys and its "type",
    a subscript, either side of a comparison."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                out.add(id(key))
                if isinstance(key, ast.Constant) and key.value == "type":
                    out.add(id(value))
        elif isinstance(node, ast.Subscript):
            out.add(id(node.slice))
        elif isinstance(node, ast.Compare):
            out |= {id(side) for side in (node.left, *node.comparators)}
    return out


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _quiet(tree: ast.Module, path: str) -> set[int]:
    """The ids of every node inside a place where a sentence is allowed (see the docstring)."""
    quiet: list[ast.AST] = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)  # an f-string is never a docstring
            and isinstance(body[0].value.value, str)
        ):
            quiet.append(body[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if (path, node.name) in ARGPARSE_HELP:
                quiet.append(node)
        elif isinstance(node, ast.Assert) and node.msg is not None:
            quiet.append(node.msg)
        elif isinstance(node, ast.Compare):
            quiet += [node.left, *node.comparators]
        elif isinstance(node, ast.Call):
            name = _name(node.func) or ""
            logged = isinstance(node.func, ast.Attribute) and name in LOG_METHODS
            # HTTP…: aiohttp's web.HTTPForbidden(text=…) and friends, a reply to a machine.
            if logged or name in DEVELOPER_ERRORS | MACHINE_REPLIES or name.startswith("HTTP"):
                quiet.append(node)
            elif name in METRICS and len(node.args) >= 2:
                quiet.append(node.args[1])
            elif (
                name in RE_FUNCTIONS
                and isinstance(node.func, ast.Attribute)
                and _name(node.func.value) == "re"
                and node.args
            ):
                quiet.append(node.args[0])
            if path in ARGPARSE_FILES:
                quiet += [kw.value for kw in node.keywords if kw.arg in HELP_KEYWORDS]
    return {id(inner) for node in quiet for inner in ast.walk(node)}


def sentences(source: str, path: str) -> list[Found]:
    """The English sentences in a module's code that a person would read."""
    tree = ast.parse(source)
    quiet = _quiet(tree, path)
    parts = {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for value in node.values
    }
    labels = _not_labels(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in quiet or id(node) in parts:
            continue
        text = _text(node)
        if text is None:
            continue
        if not is_sentence(text) and not (path in LABEL_FILES and is_label(node, text, labels)):
            continue
        if any(path == p and text.startswith(start) for p, start in NAMED):
            continue
        found.append(Found(path, getattr(node, "lineno", 0), text))
    return sorted(found, key=lambda f: f.line)


def modules() -> Iterator[tuple[str, str]]:
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_no_english_sentence_outside_the_catalog() -> None:
    found = [str(f) for path, source in modules() for f in sentences(source, path)]
    assert not found, (
        "English written into the code: add a macro to messages/templates/copy.j2, say it "
        "with `t.say(…)` or raise an error with its key, run `make messages` and translate it "
        "(or, if no person reads it as the bot's words, see this test's rule):\n" + "\n".join(found)
    )


def test_the_named_exceptions_are_still_there() -> None:
    """A named exception whose text is gone is taken off the list, not kept for the next one."""
    sources = dict(modules())
    stale = [
        f"{path}: {start!r}"
        for path, start in NAMED
        if not any(
            (text := _text(node)) is not None and text.startswith(start)
            for node in ast.walk(ast.parse(sources.get(path, "")))
        )
    ]
    assert not stale
    functions = {
        (path, node.name)
        for path, source in sources.items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert functions >= ARGPARSE_HELP


FLAGGED = {
    "an error in English": 'raise UsageError("That team does not exist.")',
    "an f-string error": 'raise ConflictError(f"{team} has no open round to close.")',
    "a result": 'return Result(f"Team {name} created, with its schedule.", data)',
    "printed": 'print("Demo workspace seeded again.")',
    "a constant": 'DEFAULT_MORE = "There is more than fits here."',
    "a help-looking name": 'HELPER = "the team is not there"',
    "a log-looking call": 'reply.text("could not send it")',
    "a string in a comparison's branch": 'x = "no team yet, sorry" if a in b else ""',
    "a field between words": 'f"Round {period} for {team} is skipped."',
    "argparse help in the chat grammar": 'p.add_argument("--name", help="a name people recognise")',
}
# In a renderer or a view: short labels as well.
LABELS_FLAGGED = {
    "a dialog's close button": 'DEFAULT_CLOSE = "Close"',
    "a two-word label": 'Button("summary", "Team summary")',
    "a default argument": 'def modal(close: str = "Cancel"): pass',
}
LABELS_ALLOWED = {
    "the product's name": 'title = msg.title or "Rut Radar"',
    "an element type": '{"type": "Container", "items": items}',
    "a dict key": '{"Authorization": token}',
    "a subscript": 'headers["Authorization"]',
    "platform vocabulary": '{"type": "plain_text", "style": "primary", "x": "TextBlock"}',
    "a catalog key": 't.say("dialog_close")',
}
ALLOWED = {
    "a docstring": 'def f():\n    """Say what the function does, in a sentence."""\n',
    "a log line": 'log.warning("teams request refused (%s): %s", status, reason)',
    "a developer error": 'raise ValueError("local_time must be HH:MM, not this")',
    "a protocol refusal": 'raise MalformedPayload("the request is not UTF-8")',
    "a delivery reason": 'return DeliveryError("no access token yet", permanent=False)',
    "an assert": 'assert x, "the template is ours, a bug"',
    "a JSON reply": 'return web.json_response({"error": "after must be a number"})',
    "an HTTP refusal": 'raise web.HTTPForbidden(text="The playground answers loopback only.")',
    "a grammar help key": 'p.add_argument("--name", help=Key("admin_help_workspace_name"))',
    "a pattern": 're.match(r"the following arguments are required: (.*)$", message)',
    "a comparison": 'if "no such table" in text: pass',
    "a metric's help": 'Counter("rutradar_events_total", "Inbound events handled", [])',
    "a format": 'LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"',
    "a date format": 'f"{moment:%a %Y-%m-%d %H:%M}"',
    "a catalog key": 'raise UsageError("no_such_team", team=name, teams=names)',
    "two words": 'Result("No rounds")',
}


@pytest.mark.parametrize("source", FLAGGED.values(), ids=FLAGGED.keys())
def test_the_rule_flags_a_new_sentence(source: str) -> None:
    assert sentences(source, "bot/example.py")


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_rule_lets_pass_what_no_person_reads(source: str) -> None:
    assert sentences(source, "bot/example.py") == []


def test_the_cli_keeps_its_english_help() -> None:
    """The CLI's own commands only: their help is read at a terminal."""
    source = 'def build_parser():\n    p.add_argument("--host", help="the address to listen on")\n'
    assert sentences(source, "bot/server/cli.py") == []
    assert sentences(source, "bot/admin/grammar.py")


@pytest.mark.parametrize("source", LABELS_FLAGGED.values(), ids=LABELS_FLAGGED.keys())
def test_the_rule_flags_a_short_label_in_a_renderer(source: str) -> None:
    assert sentences(source, "adapters/slack/render.py")
    assert sentences(source, "bot/example.py") == []  # outside the renderers and views


@pytest.mark.parametrize("source", LABELS_ALLOWED.values(), ids=LABELS_ALLOWED.keys())
def test_the_rule_lets_pass_structure_in_a_renderer(source: str) -> None:
    assert sentences(source, "adapters/teams/render.py") == []


# --- the keys the code names ------------------------------------------------------------------


def catalog_macros() -> dict[str, set[str]]:
    """Each macro of the copy and the parameters it takes."""
    env = Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    tree = env.parse((TEMPLATES / "copy.j2").read_text(encoding="utf-8"))
    return {m.name: {arg.name for arg in m.args} for m in tree.find_all(nodes.Macro)}


def named_lines(source: str, path: str) -> Iterator[tuple[str, int, str, set[str] | None]]:
    """(path, line, key, the values' names or None when some are passed as `**values`) for
    every call that names a catalog line with a constant."""
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _name(node.func) in SAYERS and node.args):
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        given = (
            None
            if any(kw.arg is None for kw in node.keywords)
            else {str(kw.arg) for kw in node.keywords}
        )
        yield path, node.lineno, first.value, given


def test_every_line_the_code_names_is_in_the_catalog_with_its_values() -> None:
    macros = catalog_macros()
    wrong = []
    for path, source in modules():
        for where, line, key, given in named_lines(source, path):
            if key not in macros:
                wrong.append(f"{where}:{line}: no macro {key!r}")
            elif given is not None and given != macros[key]:
                wrong.append(
                    f"{where}:{line}: {key} takes {sorted(macros[key])}, given {sorted(given)}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_key_check_sees_a_wrong_key_and_wrong_values() -> None:
    source = 'raise UsageError("no_such_teem", team=x)\nt.say("no_such_team", team=x)\n'
    found = list(named_lines(source, "bot/example.py"))
    assert [(key, given) for _p, _l, key, given in found] == [
        ("no_such_teem", {"team"}),
        ("no_such_team", {"team"}),
    ]
    macros = catalog_macros()
    assert "no_such_teem" not in macros
    assert macros["no_such_team"] == {"team", "teams"}
