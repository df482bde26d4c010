"""pyproject.toml names what the code imports, and nothing it does not: a dependency nobody
imports is weight (and attack surface) in every install, and an import that only works because
some other package happened to pull it in breaks the day that package stops."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("bot", "adapters", "storage", "messages")
OWN = {*SHIPPED, "tests", "benchmarks"}
# Declared but never imported, each for a reason.
NOT_IMPORTED = {
    "aiosqlite": "SQLAlchemy's SQLite driver, named by the database URL",
    "asyncpg": "SQLAlchemy's PostgreSQL driver, named by the database URL",
    "tzdata": "zoneinfo's time zone data where the system has none",
    "ruff": "run by make lint",
    "mypy": "run by make lint",
    "types-pyyaml": "stubs for mypy",
    "py-spy": "run by the benchmarks as a program (BENCH_PROFILE)",
    "pytest-asyncio": "a pytest plugin (asyncio_mode = auto)",
}


@cache
def owners() -> Mapping[str, list[str]]:
    return packages_distributions()


@cache
def providers(module: str) -> frozenset[str]:
    """The distributions behind a dotted module name. A namespace package shared by several
    (botframework.connector, botframework.streaming) is told apart by the files each installs."""
    parts = module.split(".")
    candidates = owners().get(parts[0], [parts[0]])
    if len(candidates) > 1 and len(parts) > 1:
        prefix = "/".join(parts[:2])
        candidates = [
            d
            for d in candidates
            if any(str(f).startswith(prefix) for f in distribution(d).files or ())
        ] or candidates
    return frozenset(d.lower().replace("_", "-") for d in candidates)


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower().replace("_", "-")


@cache
def declared() -> tuple[frozenset[str], frozenset[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = frozenset(_name(r) for r in project["dependencies"])
    dev = frozenset(_name(r) for r in project["optional-dependencies"]["dev"])
    return runtime, dev


def imported_distributions(source: str) -> set[str]:
    """The distributions that provide the third-party modules this source imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in OWN:
                continue
            found.update(providers(name))
    return found


def imports_of(folders: tuple[str, ...]) -> set[str]:
    return {
        dist
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
        for dist in imported_distributions(path.read_text(encoding="utf-8"))
    }


def test_the_shipped_code_imports_only_runtime_dependencies() -> None:
    runtime, _ = declared()
    assert imports_of(SHIPPED) - runtime == set()


def test_tests_and_benchmarks_import_only_declared_dependencies() -> None:
    runtime, dev = declared()
    assert imports_of(("tests", "benchmarks")) - runtime - dev == set()


def test_every_dependency_is_imported_or_says_why_not() -> None:
    runtime, dev = declared()
    used = imports_of((*SHIPPED, "tests", "benchmarks"))
    assert (runtime | dev) - used - set(NOT_IMPORTED) == set()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import jinja2", {"jinja2"}),
        ("from sqlalchemy.ext.asyncio import AsyncSession", {"sqlalchemy"}),
        ("def f():\n    import yaml\n", {"pyyaml"}),
        ("import json\nfrom bot.core import clock\nfrom . import x", set()),
    ],
)
def test_the_rule_sees_imports(source: str, expected: set[str]) -> None:
    assert imported_distributions(source) == expected
