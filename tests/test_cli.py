"""`rutradar` driven in-process through `bot.server.cli.main`: the design's command-line contract.

Exit codes: 0 for success and idempotent repeats, 2 for bad arguments or unknown names, 1 for
state conflicts and other failures; errors are one polite line on stderr, never a traceback,
and a refused command writes nothing. Runs on SQLite, and on PostgreSQL when
RUTRADAR_TEST_DATABASE_URL is set. The CLI's clock is pinned to the suite's START (Wednesday
of 2026-W48), so periods are known and no test straddles a week boundary.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

import bot.server.cli
from bot.core.clock import ManualClock
from bot.core.context import Context
from storage.db import create_engine, normalize_url
from storage.models import AuditEvent, Base
from tests.conftest import PG_ENV, PG_SKIP, START

PERIOD = "2026-W48"  # START's ISO week in Europe/Berlin
PRACTICES = {"assess", "routine", "training", "strengths", "path"}
SUMMARY_KEYS = {
    "team",
    "workspace",
    "period",
    "status",
    "respondents",
    "delivered",
    "participation",
    "threshold",
    "practices",
    "in_rut_share",
    "attention",
    "actions",
    "comments",
    "trend",
    "open",
}
ACME = "workspace add --platform playground --external-id T1 --name Acme --timezone Europe/Berlin"
WEEKLY = "--cadence weekly --weekday mon --time 09:30"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], command: str) -> Run:
    """`rutradar COMMAND` in-process, as the installed script would end: SystemExit gives its
    code, and an uncaught exception is exit 1 with the traceback the interpreter would print."""
    capsys.readouterr()
    tb = ""
    try:
        code: Any = bot.server.cli.main(shlex.split(command), clock=ManualClock(START))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        code, tb = 1, traceback.format_exc()
    out, err = capsys.readouterr()
    return Run(int(code), out, err + tb)


def ok(capsys: pytest.CaptureFixture[str], command: str) -> Run:
    result = run(capsys, command)
    assert result.code == 0, f"rutradar {command} -> {result.code}: {result.err}"
    assert result.err == "", result.err
    return result


def assert_polite(result: Run, code: int) -> str:
    """Exit `code`, one line on stderr starting `rutradar: `, no traceback, nothing on stdout."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err, result.err
    message = result.err.strip()
    assert message.startswith("rutradar: "), message
    assert "\n" not in message, f"not one line: {message!r}"
    assert result.out == ""
    return message


class Database:
    """Reads the CLI's database from the test, on one engine and event loop of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._runner = asyncio.Runner()
        self._engine = create_engine(url)

    def _read(self, read: Any) -> Any:
        async def go() -> Any:
            async with self._engine.connect() as conn:
                return await read(conn)

        return self._runner.run(go())

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to show that a refused command wrote nothing."""

        async def read(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
            return {
                table.name: sorted((tuple(r) for r in await conn.execute(select(table))), key=repr)
                for table in Base.metadata.sorted_tables
            }

        result: dict[str, list[tuple[Any, ...]]] = self._read(read)
        return result

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.snapshot().items()}

    def audit_actions(self) -> list[str]:
        async def read(conn: Any) -> list[str]:
            rows = await conn.execute(select(AuditEvent.action).order_by(AuditEvent.id))
            return [row[0] for row in rows]

        result: list[str] = self._read(read)
        return result

    def close(self) -> None:
        self._runner.run(self._engine.dispose())
        self._runner.close()


@pytest.fixture
def cli_db(db_url: str, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI pointed at a migrated, empty database (`ctx` truncates PostgreSQL around the
    test), its clock pinned to START."""
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def db(cli_db: str) -> Iterator[Database]:
    database = Database(cli_db)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def acme(db: Database, capsys: pytest.CaptureFixture[str]) -> Database:
    """Workspace T1 with team Platform: members U1..U6, manager M1, admin A1, a schedule."""
    ok(capsys, ACME)
    ok(capsys, "team add Platform")
    ok(capsys, "team members add Platform U1 U2 U3 U4 U5 U6")
    ok(capsys, "team managers add Platform M1")
    ok(capsys, "admin add A1")
    ok(capsys, f"schedule set Platform {WEEKLY}")
    return db


# --- workspace, team, admin, schedule ----------------------------------------------------------


def test_workspace_add_is_idempotent_and_updates(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ok(capsys, "workspace list").out.strip() == "No workspaces yet."
    assert ok(capsys, "workspace list --json").json() == []

    assert "added" in ok(capsys, ACME).out
    assert "updated" in ok(capsys, ACME).out
    assert ok(capsys, "workspace list --json").json() == [
        {
            "platform": "playground",
            "external_id": "T1",
            "name": "Acme",
            "timezone": "Europe/Berlin",
            "threshold": 5,
            "support_url": None,
        }
    ]

    # A repeat with other values updates the one workspace instead of adding another.
    added = ok(
        capsys,
        "workspace add --platform playground --external-id T1 --name 'Acme Corp' "
        "--timezone asia/tokyo --json",
    ).json()
    assert added == {"external_id": "T1", "created": False}
    rows = ok(capsys, "workspace list --json").json()
    assert [(r["external_id"], r["name"], r["timezone"]) for r in rows] == [
        ("T1", "Acme Corp", "Asia/Tokyo")
    ]
    assert "T1 (playground) Acme Corp" in ok(capsys, "workspace list").out
    assert db.audit_actions() == ["workspace_added", "workspace_updated", "workspace_updated"]


def test_workspace_set(acme: Database, capsys: pytest.CaptureFixture[str]) -> None:
    saved = ok(capsys, "workspace set --threshold 7 --json").json()
    assert saved == {"threshold": 7, "comment_threshold": 7}
    assert ok(capsys, "workspace list --json").json()[0]["threshold"] == 7
    ok(capsys, "workspace set --workspace T1 --timezone America/New_York")
    assert ok(capsys, "workspace list --json").json()[0]["timezone"] == "America/New_York"


def test_workspace_support_url_is_set_shown_and_cleared(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    link = "https://intranet.example.com/support?topic=work&lang=en"
    saved = ok(capsys, f"workspace set --support-url '{link}' --json").json()
    assert saved == {"support_url": link}
    assert ok(capsys, "workspace list --json").json()[0]["support_url"] == link
    assert f"support {link}" in ok(capsys, "workspace list").out
    assert "support url none" in ok(capsys, "workspace set --support-url none").out
    assert ok(capsys, "workspace list --json").json()[0]["support_url"] is None
    assert "support" not in ok(capsys, "workspace list").out
    assert acme.audit_actions()[-2:] == ["workspace_set", "workspace_set"]


def test_teams_members_managers_and_admins(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = ok(capsys, "team show Platform --json").json()
    assert shown["team"] == "Platform"
    assert shown["timezone"] == "Europe/Berlin"
    assert [m["user_id"] for m in shown["members"]] == ["U1", "U2", "U3", "U4", "U5", "U6"]
    assert [m["user_id"] for m in shown["managers"]] == ["M1"]
    assert shown["rounds"] == []
    assert shown["schedule"]["cadence"] == "weekly"

    text = ok(capsys, "team show Platform").out
    assert text.startswith("Platform (Europe/Berlin)")
    assert "M1" in text and "U6" in text

    assert ok(capsys, "team list --json").json() == [
        {"team": "Platform", "members": 6, "managers": 1}
    ]
    assert "Platform: 6 members" in ok(capsys, "team list").out
    assert acme.audit_actions() == [
        "workspace_added",
        "team_added",
        "team_members_added",
        "team_managers_added",
        "admin_added",
        "schedule_set",
    ]

    # Idempotent adds; team names match case-insensitively.
    assert "already exists" in ok(capsys, "team add Platform").out
    ok(capsys, "team members add platform U1")
    ok(capsys, "admin add A1")
    assert len(ok(capsys, "team show Platform --json").json()["members"]) == 6

    ok(capsys, "team members remove Platform U6")
    members = ok(capsys, "team show Platform --json").json()["members"]
    assert [m["user_id"] for m in members] == ["U1", "U2", "U3", "U4", "U5"]

    # A team's manager is never counted in it: a state conflict, not a bad argument.
    before = acme.snapshot()
    assert "M1" in assert_polite(run(capsys, "team members add Platform M1"), 1)
    assert acme.snapshot() == before


def test_admin_add(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "workspace add" in assert_polite(run(capsys, "admin add A1"), 2)  # no workspace yet
    ok(capsys, "workspace add --platform playground --external-id T1")
    assert ok(capsys, "admin add A1 --json").json() == {"users": ["A1"], "admin": True}
    assert ok(capsys, "admin add A1").code == 0
    # An id pasted from a chat client with its `@` is the id (the command line's tolerance).
    assert ok(capsys, "admin add @A2 --json").json() == {"users": ["A2"], "admin": True}


def test_schedule_set_show_disable_enable(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "workspace add --platform playground --external-id T1 --timezone Europe/Berlin")
    ok(capsys, "team add Platform")
    assert ok(capsys, "schedule show Platform --json").json() is None
    assert "no schedule" in assert_polite(run(capsys, "schedule enable Platform"), 2)

    ok(capsys, f"schedule set Platform {WEEKLY}")
    schedule = ok(capsys, "schedule show Platform --json").json()
    assert schedule["cadence"] == "weekly"
    assert schedule["weekday"] == "mon"
    assert schedule["time"] == "09:30"
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["member_local"] is False
    assert schedule["enabled"] is True

    ok(capsys, "schedule disable Platform")
    assert ok(capsys, "schedule show Platform --json").json()["enabled"] is False
    assert "(disabled)" in ok(capsys, "schedule show Platform").out
    ok(capsys, "schedule enable Platform")
    assert ok(capsys, "schedule show Platform --json").json() == schedule

    # Setting it again replaces it (and accepts full weekday names and H:MM).
    ok(
        capsys,
        "schedule set Platform --cadence monthly --weekday Friday --time 9:05 "
        "--week-of-month last --timezone Asia/Tokyo",
    )
    monthly = ok(capsys, "schedule show Platform --json").json()
    assert (monthly["cadence"], monthly["weekday"], monthly["time"]) == ("monthly", "fri", "09:05")
    assert (monthly["week_of_month"], monthly["timezone"]) == ("last", "Asia/Tokyo")


# --- bad arguments -----------------------------------------------------------------------------

SET = "schedule set Platform"
MONTHLY = "--cadence monthly --weekday fri --time 17:00"
# (command, what the one-line message must name)
BAD_ARGUMENTS: list[tuple[str, str]] = [
    (f"{SET} --cadence weekly --weekday funday --time 09:30", "mon, tue, wed, thu, fri, sat, sun"),
    (f"{SET} --cadence weekly --weekday mon --time 25:00", "HH:MM"),
    (f"{SET} {WEEKLY} --timezone Mars/Olympus", "Europe/Berlin"),
    ("workspace set --timezone Mars/Olympus", "Europe/Berlin"),
    (f"{ACME.replace('Europe/Berlin', 'Mars/Olympus')}", "Europe/Berlin"),
    ("workspace add --platform irc --external-id T9", "slack, teams, playground"),
    ("workspace set --threshold 2", "below 3"),
    ("workspace set --threshold many", "at least 3"),
    ("workspace set --comment-threshold 4", "(5)"),
    ("workspace set --locale xx", "en"),
    ("workspace set --retention-days 0", "at least 1"),
    ("workspace set --support-url http://support.example.com", "https://"),
    ("workspace set --support-url support.example.com", "https://"),
    ("workspace set --support-url 'https://'", "https://"),
    ("workspace set --support-url 'https://x.example.com/a b'", "https://"),
    ("workspace set --support-url 'https://x.example.com/<script>'", "https://"),
    ("workspace set --support-url https://user@x.example.com", "https://"),
    ("workspace set --support-url javascript:alert(1)", "https://"),
    (f"workspace set --support-url https://x.example.com/{'a' * 480}", "at most 500"),
    ("workspace set", "--threshold"),
    ("team show Nope", "Teams: Platform"),
    ("round open Nope", "Teams: Platform"),
    ("round close Nope", "Teams: Platform"),
    ("summary Nope", "Teams: Platform"),
    (f"schedule set Nope {WEEKLY}", "Teams: Platform"),
    ("team list --workspace Nope", "workspace list"),
    (f"{SET} --cadence daily --weekday mon --time 09:30", "weekly, biweekly, monthly"),
    (f"{SET} {WEEKLY} --close-after 8d", "shorter than the weekly cadence"),
    (f"{SET} {WEEKLY} --close-after 7d", "shorter than the weekly cadence"),
    (f"{SET} {WEEKLY} --member-local --close-after 6d", "a day to spare"),
    (f"{SET} {WEEKLY} --remind-after 3d --close-after 2d", "--remind-after"),
    (f"{SET} {WEEKLY} --close-after soon", "24h or 3d"),
    (f"{SET} {MONTHLY}", "1, 2, 3, 4 or last"),
    (f"{SET} {MONTHLY} --week-of-month 5", "1, 2, 3, 4 or last"),
    (f"{SET} --cadence biweekly --weekday mon --time 09:30", "--anchor"),
    (f"{SET} --cadence biweekly --weekday mon --time 09:30 --anchor 2026-13-01", "YYYY-MM-DD"),
    ("team members remove Platform Ux", "Ux"),
    # One known and one unknown user: the known one must not be removed either.
    ("team members remove Platform U1 Ux", "Ux"),
    ("team managers remove Platform U1", "not a manager"),
    ("admin remove Ux", "Ux"),
]


def test_bad_arguments_exit_2_politely_and_write_nothing(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """One database for all the cases (fast on PostgreSQL too); every failing case is listed."""
    failures: list[str] = []
    before = acme.snapshot()
    for command, names in BAD_ARGUMENTS:
        try:
            message = assert_polite(run(capsys, command), 2)
            assert names in message, f"{names!r} not in {message!r}"
            after = acme.snapshot()
            if after != before:
                before = after  # blame this case only, not every later one
                raise AssertionError("the database changed")
        except AssertionError as exc:
            failures.append(f"rutradar {command}: {exc}")
    assert not failures, "\n".join(failures)


ARGPARSE_ERRORS = {
    "unknown command": "frobnicate",
    "no action": "team",
    "missing option": "schedule set Platform --weekday mon --time 09:30",
    "missing name": "round open",
    "exclusive options": f"schedule set Platform {WEEKLY} --timezone UTC --member-local",
    "bad port": "serve --port eighty",
}


@pytest.mark.parametrize("command", ARGPARSE_ERRORS.values(), ids=ARGPARSE_ERRORS.keys())
def test_argparse_errors_exit_2_without_traceback(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Rejected while parsing, before any database is opened.
    result = run(capsys, command)
    assert result.code == 2, result
    assert result.err.startswith("rutradar: ")
    assert "Traceback" not in result.err
    assert "--help." in result.err and "`" not in result.err
    assert "argument" not in result.err  # argparse's own wording is never shown
    assert result.out == ""


@pytest.mark.parametrize("command", ["frobnicate", "schedule set Platform --weekday mon"])
def test_argparse_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps usage to the terminal width
    assert_polite(run(capsys, command), 2)


def test_no_arguments_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "")
    assert result.code == 2
    assert "Which command? Use serve, db, demo" in result.err and "rutradar --help." in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["--help", "-h", "round --help", "schedule set --help"])
def test_help_exits_0(capsys: pytest.CaptureFixture[str], command: str) -> None:
    result = run(capsys, command)
    assert result.code == 0
    assert result.out.startswith("usage: rutradar")
    assert result.err == ""


COMMAND_ERRORS = {
    "round clos Platform": "rutradar: 'clos' is not a round action. Use open, close, skip or "
    "list. For help: rutradar round --help.",
    "frobnicate": "rutradar: 'frobnicate' is not a command. Use serve, db, demo, workspace, "
    "admin, person, team, schedule, round, summary, export, audit, purge, secrets or teams. "
    "For help: rutradar --help.",
    "team": "rutradar: Which team action? Use add, remove, show, list, members or managers. "
    "For help: rutradar team --help.",
    "round open": "rutradar: rutradar round open needs NAME (the team's name; quote it if it "
    "has spaces). For help: rutradar round open --help.",
    "schedule set Platform --cadence weekly": "rutradar: rutradar schedule set needs --weekday "
    "(mon, tue, … sun) and --time (local time, e.g. 09:30). For help: rutradar schedule set "
    "--help.",
    f"schedule set Platform {WEEKLY} --timezone UTC --member-local": "rutradar: Use "
    "--timezone or --member-local, not both. For help: rutradar schedule set --help.",
    "serve --port eighty": "rutradar: --port takes a whole number, not 'eighty'. For help: "
    "rutradar serve --help.",
    "workspace set --threshold": "rutradar: --threshold needs a value. For help: rutradar "
    "workspace set --help.",
    "round list Platform surplus": "rutradar: I don't know what to do with 'surplus' here. "
    "For help: rutradar --help.",
}


@pytest.mark.parametrize("command", COMMAND_ERRORS, ids=COMMAND_ERRORS.values())
def test_command_errors_are_plain_sentences_with_the_choices(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert assert_polite(run(capsys, command), 2) == COMMAND_ERRORS[command]


@pytest.mark.parametrize(
    "command",
    [
        "serve --help",
        "db upgrade --help",
        "demo --help",
        "workspace add --help",
        "workspace set --help",
        "admin add --help",
        "person remove --help",
        "team add --help",
        "team members add --help",
        "team managers add --help",
        "schedule set --help",
        "round close --help",
        "summary --help",
        "export --help",
        "audit list --help",
        "purge --help",
        "secrets rotate --help",
        "teams package --help",
    ],
)
def test_every_commands_help_describes_its_arguments(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    result = run(capsys, command)
    assert result.code == 0 and result.err == ""
    arguments = result.out.partition("Arguments:\n")[2].splitlines()
    for line in arguments:
        name, _, text = line.strip().partition("  ")
        assert text.strip(), f"{command}: {name} is not described"


def test_help_shows_formats(capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "summary --help").out
    assert "--period 2026-W49" in out and "e.g. 2026-W49" in out
    schedule = ok(capsys, "schedule set --help").out
    assert "--time HH:MM" in schedule and "--remind-after DURATION" in schedule


# --- rounds ------------------------------------------------------------------------------------


def test_round_open_close_lifecycle(acme: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert f"Round {PERIOD} for Platform is open" in ok(capsys, "round open Platform").out
    again = ok(capsys, "round open Platform --json").json()
    assert again == {"team": "Platform", "period": PERIOD, "status": "open", "changed": False}
    assert "already open" in ok(capsys, "round open Platform").out

    closed = ok(capsys, "round close Platform").out
    assert f"Round {PERIOD} for Platform is closed" in closed
    assert "Withheld" in closed  # nobody answered
    assert "already closed" in ok(capsys, "round close Platform").out
    repeat = ok(capsys, "round close Platform --json").json()
    assert repeat["changed"] is False and repeat["status"] == "withheld"

    before = acme.snapshot()
    message = assert_polite(run(capsys, "round open Platform"), 1)
    assert PERIOD in message and "cannot be opened again" in message
    assert acme.snapshot() == before

    rounds = ok(capsys, "round list Platform --json").json()
    assert [(r["period"], r["status"]) for r in rounds] == [(PERIOD, "withheld")]
    assert ok(capsys, "team show Platform --json").json()["rounds"] == [
        {"period": PERIOD, "status": "withheld"}
    ]
    assert acme.audit_actions().count("round_opened") == 1
    assert acme.audit_actions().count("round_closed") == 1


def test_round_close_with_nothing_open_is_a_conflict(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no open round" in assert_polite(run(capsys, "round close Platform"), 1)


def test_round_skip_is_idempotent_and_blocks_open(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "team add Other")
    assert "skipped" in ok(capsys, "round skip Other").out
    repeat = ok(capsys, "round skip Other --json").json()
    assert repeat == {"team": "Other", "period": PERIOD, "status": "skipped", "changed": False}
    assert "skipped" in assert_polite(run(capsys, "round open Other"), 1)
    assert ok(capsys, "round list Other --json").json()[0]["status"] == "skipped"


def test_round_skip_refuses_an_open_round(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "round open Platform")
    assert "open" in assert_polite(run(capsys, "round skip Platform"), 1)


# --- summary -----------------------------------------------------------------------------------


def test_summary_with_no_closed_round(acme: Database, capsys: pytest.CaptureFixture[str]) -> None:
    summary = ok(capsys, "summary Platform --json").json()
    assert set(summary) == SUMMARY_KEYS - {"open"}  # `open` only while a round is open
    assert summary["status"] == "none"
    assert summary["period"] is None
    assert (summary["team"], summary["workspace"]) == ("Platform", "T1")
    assert summary["trend"] == []

    ok(capsys, "round open Platform")
    summary = ok(capsys, "summary Platform --json").json()
    assert summary["status"] == "none" and summary["period"] is None
    assert summary["practices"] is None
    assert summary["open"] == {"period": PERIOD, "answered": 0, "delivered": 0}
    assert ok(capsys, "summary Platform").out.strip() != ""
    # Every look at a team's results from the CLI is audited.
    assert acme.audit_actions().count("summary_viewed") == 3


def test_summary_of_a_withheld_round(acme: Database, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "round open Platform")
    ok(capsys, "round close Platform")
    summary = ok(capsys, f"summary Platform --json --period {PERIOD}").json()
    assert set(summary) == SUMMARY_KEYS - {"open"}
    assert (summary["period"], summary["status"]) == (PERIOD, "withheld")
    assert summary["respondents"] == 0 and summary["delivered"] is not None
    for key in ("practices", "in_rut_share", "attention", "actions", "comments"):
        assert summary[key] is None, key
    assert summary["trend"] == [{"period": PERIOD, "status": "withheld", "means": None}]
    assert "2099-W01" in assert_polite(run(capsys, "summary Platform --period 2099-W01"), 2)


def test_demo_twice_and_its_summary(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "seeded" in ok(capsys, "demo").out
    assert "already there" in ok(capsys, "demo").out

    summary = ok(capsys, "summary Platform --json").json()
    assert set(summary) == SUMMARY_KEYS
    assert summary["team"] == "Platform"
    assert summary["workspace"] == "demo"
    assert summary["status"] == "released"
    assert summary["period"] == "2026-W47"
    assert summary["threshold"] == 5
    assert summary["respondents"] >= summary["threshold"]
    assert summary["delivered"] >= summary["respondents"]
    assert summary["participation"] == round(summary["respondents"] / summary["delivered"], 2)
    assert 0 <= summary["in_rut_share"] <= 1

    practices = summary["practices"]
    assert set(practices) == PRACTICES
    for values in practices.values():
        assert set(values) == {"mean", "low_share", "change", "low_streak"}
        assert 1 <= values["mean"] <= 5 and 0 <= values["low_share"] <= 1
    assert summary["attention"] in PRACTICES
    assert 1 <= len(summary["actions"]) <= 3
    assert all(isinstance(a, str) and a for a in summary["actions"])
    assert isinstance(summary["comments"], list)

    trend = summary["trend"]
    assert all(set(point) == {"period", "status", "means"} for point in trend)
    assert trend[-1]["period"] == summary["period"]
    withheld = [p for p in trend if p["status"] == "withheld"]
    assert withheld and all(p["means"] is None for p in withheld)
    released = [p for p in trend if p["status"] == "released"]
    assert all(set(p["means"]) == PRACTICES for p in released)

    # The indicators agree with the trend: change since the previous released round, and the
    # low streak over released rounds (withheld ones neither break nor extend it).
    for key, values in practices.items():
        assert values["mean"] == released[-1]["means"][key]
        assert values["change"] == round(values["mean"] - released[-2]["means"][key], 1)
        streak = 0
        for point in reversed(released):
            if point["means"][key] > 2.5:
                break
            streak += 1
        assert values["low_streak"] == streak, key

    assert set(summary["open"]) == {"period", "answered", "delivered"}
    assert summary["open"]["period"] == PERIOD
    assert summary["open"]["answered"] == 5
    assert summary["open"]["answered"] <= summary["open"]["delivered"]

    text = ok(capsys, "summary Platform --workspace demo").out
    assert "Platform: team check-in" in text and "PLATFORM" not in text  # no ALL CAPS headings
    # The practice rows under their column headings, each measure defined under them.
    assert re.search(r"^\s+Mean\s+Scored 1–2\s+Change$", text, re.M)
    assert re.search(r"^  Overhaul your routine( ⚠)?\s+\d\.\d / 5\s+\d+%", text, re.M)
    assert "Scored 1–2: the share of answers that were 1 or 2" in text
    assert "Stuck overall: " in text and "average 2.5 or less" in text
    assert "+0.0" not in text
    # The trend as a table of rounds, the withheld one marked and explained.
    assert re.search(r"^\s+W\d\d\s+W\d\d\s+W\d\d\*", text, re.M)
    assert "* Withheld: too few answered" in text


def test_demo_reset_and_several_workspaces(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "demo")
    before = db.counts()
    assert "seeded" in ok(capsys, "demo --reset").out
    after = db.counts()
    for table in ("workspaces", "people", "teams", "memberships", "rounds", "releases"):
        assert after[table] == before[table], table

    ok(capsys, "workspace add --platform playground --external-id T1")
    message = assert_polite(run(capsys, "summary Platform"), 2)
    assert "--workspace" in message and "demo" in message and "T1" in message
    summary = ok(capsys, "summary Platform --workspace demo --json").json()
    assert summary["workspace"] == "demo"


# --- the database ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing file", "empty file"])
@pytest.mark.parametrize(
    "command",
    [
        "workspace list",
        "workspace add --platform playground --external-id T1",
        "team list",
        "demo",
        "summary Platform",
    ],
)
def test_unmigrated_database_hints_at_db_upgrade(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    command: str,
) -> None:
    path = tmp_path / "fresh.db"
    if kind == "empty file":
        path.touch()
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    assert "rutradar db upgrade" in assert_polite(run(capsys, command), 1)


def test_db_upgrade_then_commands_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new" / "rutradar.db"
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    assert "latest schema" in ok(capsys, "db upgrade").out
    assert "latest schema" in ok(capsys, "db upgrade").out  # idempotent
    assert "No workspaces yet." in ok(capsys, "workspace list").out
    assert "workspace add" in assert_polite(run(capsys, "team list"), 2)


@pytest.mark.parametrize("command", ["team list", "db upgrade"])
def test_unreachable_postgres_is_a_polite_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/rutradar")
    assert "reachable" in assert_polite(run(capsys, command), 1)


def test_unsupported_database_url_is_a_polite_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", "mysql://db.example/rutradar")
    result = run(capsys, "team list")
    assert result.code in (1, 2)
    assert "Traceback" not in result.err
    assert "sqlite or postgresql" in result.err
    assert "\n" not in result.err.strip()


@pytest.mark.postgres
def test_missing_postgres_database_is_a_polite_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    missing = make_url(normalize_url(base)).set(database="rutradar_no_such_database")
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", missing.render_as_string(hide_password=False))
    assert_polite(run(capsys, "team list"), 1)


def test_the_cli_never_creates_a_stray_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "elsewhere" / "rutradar.db"
    url = f"sqlite:///{missing}"
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", url)
    for command in ("team list", "workspace list", "audit list", "summary Platform", "purge"):
        message = assert_polite(run(capsys, command), 1)
        assert f"there is no database at {url}" in message and "db upgrade" in message
    assert not missing.exists() and not missing.parent.exists()


def test_audit_list_shows_the_period_and_times_to_the_second(
    acme: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "round open Platform")
    ok(capsys, "summary Platform")
    out = ok(capsys, "audit list").out
    lines = out.splitlines()
    assert lines[0].split() == ["When", "(UTC)", "Who", "What", "Team", "Period"]
    opened = next(line for line in lines if "round_opened" in line)
    assert START.strftime("%Y-%m-%d %H:%M:%S") in opened and PERIOD in opened
    assert "summary_viewed" in out and "+00:00" not in out
