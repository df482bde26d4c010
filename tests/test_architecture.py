"""The floors run one way: adapters → bot → storage, messages. A wrong import fails here."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "bot": {"adapters"},
    "storage": {"bot", "adapters", "messages"},
    "messages": {"bot", "adapters", "storage"},
}
# Adapters reach data only through the bot's ports (bot/admin/workspaces.py, the engine). The one
# exception: slack_sdk's own installation and OAuth-state tables, which its
# AsyncSQLAlchemyInstallationStore reads and writes itself, used from the Slack package.
ADAPTER_STORAGE_EXCEPTIONS = {"slack": {"storage.slack_store"}}


def imported_modules(tree: ast.AST) -> set[str]:
    """Every absolute import anywhere in the module, inside functions too, as dotted names:
    `from storage import x` counts as `storage.x` (x may be a module)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {name.split(".")[0] for name in imported_modules(tree)}


def storage_imports(tree: ast.AST, allowed: set[str]) -> set[str]:
    """The `storage` imports not covered by an allowed module (or something inside it)."""
    return {
        name
        for name in imported_modules(tree)
        if name.split(".")[0] == "storage"
        and not any(name == ok or name.startswith(f"{ok}.") for ok in allowed)
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(imported_packages(path) & FORBIDDEN[package])}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if imported_packages(path) & FORBIDDEN[package]
    ]
    assert offenders == []


def test_adapters_reach_data_only_through_the_bot() -> None:
    offenders = []
    for path in sorted((ROOT / "adapters").rglob("*.py")):
        parts = path.relative_to(ROOT / "adapters").parts
        allowed = ADAPTER_STORAGE_EXCEPTIONS.get(parts[0], set()) if len(parts) > 1 else set()
        found = storage_imports(ast.parse(path.read_text(encoding="utf-8")), allowed)
        if found:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(found)}")
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "allowed", "expected"),
    [
        ("import storage", set(), {"storage"}),
        ("import storage.models as m", set(), {"storage.models"}),
        ("from storage import repositories as repo", set(), {"storage.repositories"}),
        (
            "from storage.models import Person, Team",
            set(),
            {"storage.models.Person", "storage.models.Team"},
        ),
        (
            "def f():\n    from storage.db import create_engine\n",
            set(),
            {"storage.db.create_engine"},
        ),
        ("async def f():\n    import storage.models\n", set(), {"storage.models"}),
        ("from storage.slack_store import BOTS_TABLE", {"storage.slack_store"}, set()),
        ("from storage import slack_store", {"storage.slack_store"}, set()),
        ("import storage.slack_store", {"storage.slack_store"}, set()),
        ("from storage import slack_store, models", {"storage.slack_store"}, {"storage.models"}),
        ("from storage import slack_store", set(), {"storage.slack_store"}),
        ("import storagebox\nfrom bot.admin.workspaces import installed_by", set(), set()),
        ("from . import storage\nfrom .storage import x", set(), set()),
    ],
)
def test_the_storage_rule_sees_every_form_of_import(
    source: str, allowed: set[str], expected: set[str]
) -> None:
    assert storage_imports(ast.parse(source), allowed) == expected


def test_adapters_are_registered_as_entry_points() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="rutradar.adapters")}
    assert "playground" in names


# bot/'s own floors, lowest first: a package may import only the packages below it (and
# itself). The order is the architecture: rounds stand on core, administration on rounds, the
# chat engine on administration, delivery on the chat views, the process on everything.
BOT_FLOORS = ["core", "rounds", "admin", "chat", "delivery", "server"]


def bot_floor_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bot" and parts[1] in BOT_FLOORS else None


def upward_imports(package: str, tree: ast.AST) -> set[str]:
    """The imports of a module in bot/<package> that reach a floor above its own."""
    level = BOT_FLOORS.index(package)
    return {
        name
        for name in imported_modules(tree)
        if (floor := bot_floor_of(name)) is not None and BOT_FLOORS.index(floor) > level
    }


def test_bot_is_only_its_floors() -> None:
    """Every module of bot/ lives in one of the floors: no loose module beside them."""
    loose = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if path.relative_to(ROOT / "bot").parts[0] not in {*BOT_FLOORS, "__init__.py"}
    ]
    assert loose == []
    for floor in BOT_FLOORS:
        init = ast.parse((ROOT / "bot" / floor / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(init), f"bot/{floor}/__init__.py says what the floor is for"


@pytest.mark.parametrize("package", BOT_FLOORS)
def test_bot_floors_import_only_downwards(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(found)}"
        for path in sorted((ROOT / "bot" / package).rglob("*.py"))
        if (found := upward_imports(package, ast.parse(path.read_text(encoding="utf-8"))))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("core", "from bot.rounds.release import x", {"bot.rounds.release.x"}),
        ("core", "import bot.server.app", {"bot.server.app"}),
        ("rounds", "def f():\n    from bot.chat import views\n", {"bot.chat.views"}),
        ("rounds", "from bot.core.clock import Clock\nfrom bot.rounds import periods", set()),
        ("delivery", "from bot.chat.views import render", set()),
        ("chat", "from bot.delivery.tasks import Supervisor", {"bot.delivery.tasks.Supervisor"}),
        ("server", "from bot.core import errors", set()),
    ],
)
def test_the_floor_rule_sees_upward_imports(package: str, source: str, expected: set[str]) -> None:
    assert upward_imports(package, ast.parse(source)) == expected


class _Platform:
    """An adapter that can do everything: send, edit, and answer both questions."""

    platform = "fake"

    async def send(self, *_: object, **__: object) -> None:
        raise AssertionError("the engine sent")

    async def update(self, *_: object) -> None:
        raise AssertionError("the engine edited")

    async def resolve_person(self, tenant_id: str, name: str) -> str:
        return name

    async def channel_members(self, tenant_id: str, channel_id: str) -> list[str]:
        return [channel_id]


def _reachable(root: object) -> Iterator[object]:
    """Every object the engine holds as data: attributes, dataclass slots, mapping values and
    sequence items, not what a function or method closes over or is bound to, and not the
    SQLAlchemy engine's insides."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | type(None)):
            continue
        seen.add(id(obj))
        yield obj
        if inspect.isroutine(obj):
            continue
        if type(obj).__module__.split(".")[0] in {"sqlalchemy", "asyncio", "builtins"}:
            if isinstance(obj, Mapping):
                todo.extend(obj.values())
            elif isinstance(obj, list | tuple | set | frozenset):
                todo.extend(obj)
            continue
        if dataclasses.is_dataclass(obj):
            todo.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        todo.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())


def test_the_engine_holds_no_adapter_and_cannot_send() -> None:
    """Adapters translate, the engine decides: the engine may only ask platforms questions
    (`Directories`: the functions answering who is this, who is in that channel), built from
    an adapter the way the composition root builds them; nothing it holds can send or edit.
    What the bot says later goes through the outbox, never from the engine."""
    from bot.chat.engine import ChatEngine
    from bot.core.clock import ManualClock
    from bot.core.context import Context
    from bot.core.lookups import Lookups
    from bot.core.ports import Directories, answering

    # `spawn` starts background work in the task group: only the actor cache's refresh.
    assert list(inspect.signature(ChatEngine).parameters) == ["ctx", "directories", "spawn"]
    assert [f.name for f in dataclasses.fields(Directories)] == ["people", "channels"]
    assert {name for name in dir(Directories) if not name.startswith("_")} == {
        "channels",
        "people",
    }
    adapter = _Platform()
    resolve, members = answering(adapter)
    assert resolve is not None and members is not None
    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    ctx = Context(database=None, sessions=None, clock=clock, lookups=Lookups(clock))  # type: ignore[arg-type]
    engine = ChatEngine(
        ctx, directories=Directories(people={"fake": resolve}, channels={"fake": members})
    )
    held = list(_reachable(engine))
    assert not [obj for obj in held if obj is adapter or callable(getattr(obj, "send", None))]
    # And the questions still reach the platform through what the engine holds.
    assert engine._directories.people["fake"] is resolve
    source = (ROOT / "bot" / "chat" / "engine.py").read_text(encoding="utf-8")
    assert ".update(" not in source and ".send(" not in source
    assert source.count("self._spawn(") == 1 and "self._spawn(self._refresh(event)" in source


def test_bot_parses_no_platform_syntax() -> None:
    """No Slack or Teams markup is parsed in bot/, and no sigil is stripped: each adapter makes
    mentions plain ids before the engine sees the text (the command line's own tolerance of a
    pasted `@U123` is in its argument parsing, bot/server/cli.py)."""
    for path in sorted((ROOT / "bot").rglob("*.py")):
        code = "\n".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("#")
        )
        for syntax in ('"<@', '"<#', "'<@", "'<#", "<at>", 'lstrip("#")', 'lstrip("@")'):
            assert syntax not in code, f"{path.relative_to(ROOT)} parses {syntax}"


def test_every_audit_event_is_written_by_the_one_recording_function() -> None:
    """bot/core/audit.py's `record` (and `forget`, for erasure) are the only writers of the
    trail: no `AuditEvent(...)` built anywhere else in bot/, and no audit action spelled as a
    string (passed to `record` or compared with) where `AuditAction` names it."""
    from bot.core.audit import AuditAction

    actions = {action.value for action in AuditAction}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path == ROOT / "bot" / "core" / "audit.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        spelled: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                assert called.split(".")[-1] != "AuditEvent", f"{path} builds an AuditEvent"
                if called.split(".")[-1] == "record":
                    spelled |= {
                        str(a.value) for a in node.args if isinstance(a, ast.Constant)
                    } & actions
            elif isinstance(node, ast.Compare):
                spelled |= {
                    str(c.value) for c in node.comparators if isinstance(c, ast.Constant)
                } & actions
        assert not spelled, f"{path.relative_to(ROOT)} spells {sorted(spelled)}"
