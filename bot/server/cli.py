"""`rutradar`: the command line of the design, with its exit codes.

0 success (and idempotent repeats), 2 bad arguments or unknown names, 1 state conflicts and
other failures. Errors go to stderr as one plain sentence, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.admin.grammar import PERIOD_EXAMPLE, HelpRequested, Parser, add_admin_commands, run_admin
from bot.admin.identities import require_team, require_workspace
from bot.admin.records import audit_list, export_releases, purge
from bot.core.actor import cli_actor
from bot.core.audit import AuditAction, record, said_actor
from bot.core.clock import Clock, SystemClock
from bot.core.context import Context
from bot.core.errors import RutRadarError, UsageError
from bot.rounds.periods import resolve_zone
from bot.server.config import Settings
from messages.copy import Copy, copy_for
from storage import repositories as repo
from storage.db import UnsupportedDatabase, create_engine, create_session_factory, normalize_url
from storage.models import Workspace

PLATFORMS = ("slack", "teams", "playground")
TEAMS_TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "teams"
TEAMS_PACKAGE = "rutradar-teams.zip"
TEAMS_FILES = ("manifest.json", "color.png", "outline.png")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SHARED_COMMANDS = ("workspace", "admin", "person", "team", "schedule", "round")

# What a command runs, set on its parser (`set_defaults(run=…)`): with the settings, the parsed
# arguments and the clock. Most open the database first (`_with_database`).
Run = Callable[[Settings, argparse.Namespace, Clock | None], int]
DatabaseCommand = Callable[[Context, argparse.Namespace], Awaitable[int]]


class CliParser(Parser):
    """The chat parser's grammar and sentences; `main` prints `--help` and exits 0."""


def build_parser() -> CliParser:
    parser = CliParser(
        prog="rutradar", description="Rut Radar: anonymous career check-ins for teams."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)

    server = sub.add_parser(
        "serve",
        help="run the HTTP server (Slack, Teams, playground)",
        description="Run the HTTP server until Ctrl+C.",
    )
    server.add_argument("--host", help="the address to listen on (default RUTRADAR_HOST)")
    server.add_argument(
        "--port", type=int, metavar="PORT", help="the port to listen on (default RUTRADAR_PORT)"
    )
    server.set_defaults(run=serve)

    db = sub.add_parser(
        "db", help="database schema", description="The database schema."
    ).add_subparsers(dest="action", required=True)
    db.add_parser(
        "upgrade",
        help="create the database or migrate it to the latest schema",
        description="Create the database named by RUTRADAR_DATABASE_URL, or migrate it.",
    ).set_defaults(run=_db_upgrade)

    demo = sub.add_parser(
        "demo",
        help="seed the playground demo workspace (once)",
        description="Seed the playground's demo workspace (creates the database if needed).",
    )
    demo.add_argument("--reset", action="store_true", help="delete and seed the demo again")
    demo.set_defaults(run=_with_database(_demo, creates=True))

    cli_only = add_admin_commands(sub, cli=True)
    for name in SHARED_COMMANDS:
        sub.choices[name].set_defaults(run=_with_database(_shared))
    cli_only["workspace add"].set_defaults(run=_with_database(_workspace_add))
    cli_only["workspace list"].set_defaults(run=_with_database(_workspace_list))

    summary = sub.add_parser(
        "summary", help="a team's latest results", description="A team's released results."
    )
    summary.add_argument("name", metavar="NAME", help="the team's name")
    summary.add_argument(
        "--period",
        metavar=PERIOD_EXAMPLE,
        help=f"the ISO week of a closed round, e.g. {PERIOD_EXAMPLE} (default: the latest)",
    )
    summary.set_defaults(run=_with_database(_summary))

    export = sub.add_parser(
        "export",
        help="a team's releases as CSV or JSON (never raw answers)",
        description="A team's releases as CSV or JSON, to stdout. Never raw answers.",
    )
    export.add_argument("name", metavar="NAME", help="the team's name")
    export.add_argument("--format", required=True, metavar="FORMAT", help="csv or json")
    export.set_defaults(run=_with_database(_export))

    audit_parser = sub.add_parser(
        "audit", help="the audit trail", description="The audit trail."
    ).add_subparsers(dest="action", required=True)
    audit_parser.add_parser(
        "list", help="admin changes and every showing of a team's results"
    ).set_defaults(run=_with_database(_audit))

    sub.add_parser(
        "purge",
        help="apply release retention now",
        description="Delete releases older than the workspace's retention now.",
    ).set_defaults(run=_with_database(_purge))

    secrets = sub.add_parser(
        "secrets", help="RUTRADAR_SECRET_KEY, which encrypts stored platform tokens"
    ).add_subparsers(dest="action", required=True)
    secrets.add_parser("generate", help="print a new key (needs no database)").set_defaults(
        run=_generate_key
    )
    secrets.add_parser(
        "rotate",
        help="re-encrypt every stored token with the first key in RUTRADAR_SECRET_KEY "
        "(and encrypt any stored in clear)",
    ).set_defaults(run=_with_database(_secrets))

    teams = sub.add_parser("teams", help="Microsoft Teams").add_subparsers(
        dest="action", required=True
    )
    package = teams.add_parser(
        "package", help="write the Teams app package (manifest and icons) as a zip to upload"
    )
    package.add_argument("--out", default=TEAMS_PACKAGE, help=f"the zip to write ({TEAMS_PACKAGE})")
    package.add_argument("--app-id", help="the bot's Microsoft app id (default: MICROSOFT_APP_ID)")
    package.set_defaults(run=teams_package)

    for name in (*SHARED_COMMANDS, "summary", "export", "audit"):
        _add_to_leaves(sub.choices[name])
    return parser


def _add_to_leaves(parser: argparse.ArgumentParser) -> None:
    """`--workspace` and `--json` on every leaf, so they may follow the subcommand."""
    subparsers = getattr(parser, "_subparsers", None)
    if subparsers is not None:
        for action in subparsers._group_actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    _add_to_leaves(child)
                return
    parser.add_argument(
        "--workspace", help="the platform's workspace id (optional with one workspace)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _english() -> Copy:
    """The copy of the command line's own lines, which concern no one workspace: English."""
    return copy_for("en")


def _pasted_user_id(raw: str) -> str:
    """The command line's tolerance: a user id pasted from a chat client with its `@`
    (`@U012ABC`) is the id. Only here: in chat, each adapter hands the engine plain ids."""
    raw = raw.strip()
    return raw[1:] if raw.startswith("@") and "@" not in raw[1:] else raw


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command. `clock` is where time comes from (the system clock unless a caller,
    such as a test, injects another): every timestamp the command writes reads it."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = build_parser().parse_args(args)
    except HelpRequested as exc:
        print(exc.help.plain(), end="")
        return 0
    except UsageError as exc:
        print(f"rutradar: {exc}", file=sys.stderr)
        return 2
    if getattr(ns, "user_ids", None):
        ns.user_ids = [_pasted_user_id(raw) for raw in ns.user_ids]
    settings = Settings()
    run: Run = ns.run  # set on the command's parser (`build_parser`)
    try:
        return run(settings, ns, clock)
    except RutRadarError as exc:
        print(f"rutradar: {exc}", file=sys.stderr)
        return exc.exit_code
    except UnsupportedDatabase as exc:
        print(f"rutradar: {_english().say('unsupported_database', reason=exc)}", file=sys.stderr)
        return 2
    except (DBAPIError, OSError) as exc:
        hint = _english().say(_database_hint(exc))
        print(f"rutradar: {_english().say('database_not_ready', hint=hint)}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback at the person; the details are for the log
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        failed = _english().say("command_failed", error=type(exc).__name__)
        print(f"rutradar: {failed}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl+C where no handler of ours catches it (before `serve` has installed its own,
        # or after they are gone): for `serve`, stopping when asked is success.
        return 0 if ns.command == "serve" else 130


def _database_hint(exc: BaseException) -> str:
    """The copy's hint for a database error (the driver's text is English: matched, not said)."""
    text = str(exc)
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "hint_db_upgrade"
    if "database" in text and "does not exist" in text:
        return "hint_create_database"
    return "hint_database_reachable"


def _db_upgrade(settings: Settings, _ns: argparse.Namespace, _clock: Clock | None) -> int:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    print(_english().say("db_upgraded"))
    return 0


def _generate_key(_settings: Settings, _ns: argparse.Namespace, _clock: Clock | None) -> int:
    from storage.crypto import generate_key

    print(generate_key())
    return 0


def serve(settings: Settings, ns: argparse.Namespace, clock: Clock | None = None) -> int:
    """Exit 0 on SIGINT (Ctrl+C, also under `make run`) and SIGTERM alike: stopping when
    asked is success. `bot.server.runner` has the order of the stop."""
    from bot.server.app import ConfigurationError, build_app
    from bot.server.logs import configure_logging
    from bot.server.runner import serve as serve_app

    if ns.host:
        settings.host = ns.host
    if ns.port:
        settings.port = ns.port
    configure_logging(settings.log_level)
    try:
        app = build_app(settings, clock=clock)
    except ConfigurationError as exc:
        print(f"rutradar: {exc}", file=sys.stderr)
        return 2
    shown = "localhost" if settings.binds_loopback else settings.host
    where = f"http://{shown}:{settings.port}/"
    announce = _english().say(
        "listening_playground" if settings.playground_enabled else "listening", where=where
    )

    def ready() -> None:
        # Called once the socket is bound and start-up has run: the line means "ready", so
        # scripts and tests can wait for it instead of polling.
        print(announce, flush=True)

    try:
        asyncio.run(serve_app(app, host=settings.host, port=settings.port, ready=ready))
    finally:
        # Stopped: a further Ctrl+C (the second press of an impatient hand) has nothing left
        # to stop, and must not turn a clean exit into death by SIGINT while Python exits.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    return 0


def teams_package(settings: Settings, ns: argparse.Namespace, _clock: Clock | None = None) -> int:
    """`rutradar teams package`: deploy/teams/ as the zip Teams uploads, with the bot's app id
    (and this release's version) filled into the manifest. Needs no database."""
    app_id = (ns.app_id or settings.microsoft_app_id or "").strip()
    if not app_id:
        print(f"rutradar: {_english().say('app_id_missing')}", file=sys.stderr)
        return 2
    if not GUID.match(app_id):
        print(f"rutradar: {_english().say('not_an_app_id', app_id=app_id)}", file=sys.stderr)
        return 2
    if not all((TEAMS_TEMPLATE / name).is_file() for name in TEAMS_FILES):
        missing = _english().say("teams_template_missing", folder=TEAMS_TEMPLATE)
        print(f"rutradar: {missing}", file=sys.stderr)
        return 1
    template = (TEAMS_TEMPLATE / "manifest.json").read_text(encoding="utf-8")
    filled = template.replace("{{MICROSOFT_APP_ID}}", app_id.lower()).replace(
        "{{VERSION}}", _release_version()
    )
    manifest = json.loads(filled)  # the template is ours: a failure here is a bug, not input
    out = Path(ns.out)
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
            for name in TEAMS_FILES:
                data = (
                    json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                    if name == "manifest.json"
                    else (TEAMS_TEMPLATE / name).read_bytes()
                )
                # A fixed timestamp: the same inputs make the same zip, byte for byte.
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                package.writestr(info, data)
    except OSError as exc:
        unwritten = _english().say("could_not_write", path=out, reason=exc.strerror or exc)
        print(f"rutradar: {unwritten}", file=sys.stderr)
        return 1
    print(
        _english().say(
            "teams_package_written", path=out, app_id=app_id.lower(), version=manifest["version"]
        )
    )
    return 0


def _release_version() -> str:
    """This release's version for the manifest (Teams wants a new one for each upload that
    changes the package); 0.0.0 when Rut Radar is run from a tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        raw = version("rutradar")
    except PackageNotFoundError:
        return "0.0.0"
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", raw)
    if match is None:
        return "0.0.0"
    return ".".join(str(int(part or 0)) for part in match.groups())


def _require_existing_database(url: str) -> None:
    """Outside `db upgrade` and `demo`, a missing SQLite file is an error naming the URL: opening
    it would create an empty database wherever the command happens to run."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:") or parsed.query.get("uri"):
        return
    if not Path(path).exists():
        raise RutRadarError("no_database", url=url, path=Path(path).resolve())


def _with_database(handler: DatabaseCommand, *, creates: bool = False) -> Run:
    """A command run against the database RUTRADAR_DATABASE_URL names, which must exist unless
    the command `creates` it (`demo`)."""

    def run(settings: Settings, ns: argparse.Namespace, clock: Clock | None) -> int:
        return asyncio.run(_run(settings, ns, clock or SystemClock(), handler, creates=creates))

    return run


async def _run(
    settings: Settings,
    ns: argparse.Namespace,
    clock: Clock,
    handler: DatabaseCommand,
    *,
    creates: bool,
) -> int:
    if not creates:
        _require_existing_database(settings.database_url)
    engine = create_engine(settings.database_url)
    ctx = Context(database=engine, sessions=create_session_factory(engine), clock=clock)
    try:
        return await handler(ctx, ns)
    finally:
        await engine.dispose()


def _print(result: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(text)


async def _demo(ctx: Context, ns: argparse.Namespace) -> int:
    from bot.server.demo import seed_demo

    result = await seed_demo(ctx, reset=ns.reset)
    print(_english().say("demo_seeded" if result.created else "demo_there"))
    return 0


async def _shared(ctx: Context, ns: argparse.Namespace) -> int:
    """An admin command chat has too (bot/admin/grammar.py), run as the command line."""
    async with ctx.sessions() as session:
        workspace = await require_workspace(session, ns.workspace)
    result = await run_admin(ctx, cli_actor(workspace), ns)
    _print(result.data, ns.json, result.text)
    return 0


async def _workspace_list(ctx: Context, ns: argparse.Namespace) -> int:
    async with ctx.sessions() as session:
        rows = [
            {
                "platform": w.platform,
                "external_id": w.external_id,
                "name": w.name,
                "timezone": w.timezone,
                "threshold": w.threshold,
                "support_url": w.support_url,
            }
            for w in await repo.all_workspaces(session)
        ]
    t = _english()
    text = "\n".join(
        f"{r['external_id']} ({r['platform']}) {r['name']}, k={r['threshold']}, {r['timezone']}"
        + (f", {t.say('workspace_support', url=r['support_url'])}" if r["support_url"] else "")
        for r in rows
    )
    _print(rows, ns.json, text or t.say("no_workspaces"))
    return 0


async def _workspace_add(ctx: Context, ns: argparse.Namespace) -> int:
    if ns.platform not in PLATFORMS:
        raise UsageError("not_a_platform", platform=ns.platform, platforms=", ".join(PLATFORMS))
    zone = resolve_zone(ns.timezone) if ns.timezone else None
    async with ctx.sessions.begin() as session:
        workspace = await repo.workspace_by_external_id(session, ns.external_id, ns.platform)
        created = workspace is None
        if workspace is None:
            workspace = Workspace(
                platform=ns.platform,
                external_id=ns.external_id,
                name=ns.name or ns.external_id,
                timezone=zone or "UTC",
            )
            session.add(workspace)
        else:
            if ns.name:
                workspace.name = ns.name
            if zone:
                workspace.timezone = zone
        await session.flush()
        record(
            session,
            cli_actor(workspace),
            AuditAction.WORKSPACE_ADDED if created else AuditAction.WORKSPACE_UPDATED,
            ctx.clock.now(),
            platform=ns.platform,
            external_id=ns.external_id,
        )
    done = copy_for(workspace.locale).say(
        "workspace_added" if created else "workspace_updated", workspace=ns.external_id
    )
    _print({"external_id": ns.external_id, "created": created}, ns.json, done)
    return 0


async def _summary(ctx: Context, ns: argparse.Namespace) -> int:
    from bot.chat.showing import view_summary
    from bot.chat.views import summary_message

    async with ctx.sessions.begin() as session:
        workspace = await require_workspace(session, ns.workspace)
        team = await require_team(session, workspace, ns.name)
        summary = await view_summary(
            session, cli_actor(workspace), team, ctx.clock.now(), via="cli", period=ns.period
        )
        if ns.period and summary.period != ns.period:
            # No such round: the transaction, and the view's audit event with it, rolls back.
            raise UsageError("no_closed_round", team=team.name, period=ns.period)
    if ns.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(_plain(summary_message(copy_for(workspace.locale), workspace.locale, summary)))
    return 0


def _plain(message: Any) -> str:
    """A neutral message as terminal text: headings as written (underlined, never upper-cased),
    a run of sections with the same fields as a table under its column headings, and a trend
    as a table of rounds."""
    from messages import model

    lines: list[str] = []
    blocks = list(message.blocks)
    index = 0
    while index < len(blocks):
        block = blocks[index]
        if isinstance(block, model.Section) and block.fields:
            names = [name for name, _ in block.fields]
            run = [block]
            while (
                index + len(run) < len(blocks)
                and isinstance(nxt := blocks[index + len(run)], model.Section)
                and [name for name, _ in nxt.fields] == names
                and not nxt.text
                and not block.text
            ):
                run.append(nxt)
            index += len(run)
            if len(run) > 1:
                rows = [[s.title, *(v for _, v in s.fields)] for s in run]
                lines += ["", *_table(["", *names], rows)]
                continue
            fields = "  ".join(f"{k}: {v}" for k, v in block.fields)
            lines.append(f"- {block.title}  {fields}" + (f"\n  {block.text}" if block.text else ""))
            continue
        index += 1
        if isinstance(block, model.Heading):
            lines += ["", block.text, "─" * len(block.text)]
        elif isinstance(block, model.Paragraph):
            lines.append(block.text)
        elif isinstance(block, model.Section):
            lines.append(f"- {block.title}" + (f"\n  {block.text}" if block.text else ""))
        elif isinstance(block, model.Bullets):
            lines += [f"  * {item}" for item in block.items]
        elif isinstance(block, model.TrendSeries):
            lines += ["", block.title]
            withheld = set(block.withheld)
            heads = [
                block.label(i) + ("*" if i in withheld else "") for i in range(len(block.periods))
            ]
            rows = [
                [line.label, *("–" if p is None else f"{p:.1f}" for p in line.points)]
                for line in block.lines
            ]
            lines += _table(["", *heads], rows, right=True)
            notes = [block.scale_label] if block.scale_label else []
            if withheld and block.withheld_label:
                notes.append(f"* {block.withheld_label}")
            lines += [f"  {note}" for note in notes]
    return "\n".join(lines).strip()


def _table(head: list[str], rows: list[list[str]], *, right: bool = False) -> list[str]:
    """Rows under column headings, each column as wide as its widest cell; the first column
    left-aligned, the others left-aligned too unless `right` (numbers)."""
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w in zip(cells[1:], widths[1:], strict=True)
        ]
        return ("  " + "  ".join(out)).rstrip()

    return [line(head), *(line(r) for r in rows)]


async def _export(ctx: Context, ns: argparse.Namespace) -> int:
    async with ctx.sessions() as session:
        workspace = await require_workspace(session, ns.workspace)
    print(await export_releases(ctx, cli_actor(workspace), ns.name, ns.format), end="")
    return 0


async def _audit(ctx: Context, ns: argparse.Namespace) -> int:
    async with ctx.sessions() as session:
        workspace = await require_workspace(session, ns.workspace)
    rows = await audit_list(ctx, workspace)
    t = copy_for(workspace.locale)
    # Times to the second in UTC, and the period an event concerns (a round, a view).
    table = _table(
        [t.say(f"audit_{column}") for column in ("when", "who", "what", "team", "period")],
        [
            [
                _to_the_second(r["at"]),
                # A person's name as they chose it (even "command line"); the JSON keeps
                # the stored words.
                said_actor(t, r["actor"]) if r["system"] else r["actor"],
                r["action"],
                r["team"] or "–",
                str((r["detail"] or {}).get("period") or "–"),
            ]
            for r in rows
        ],
    )
    _print(rows, ns.json, "\n".join(table) if rows else t.say("no_audit_events"))
    return 0


def _to_the_second(iso: str) -> str:
    at = datetime.fromisoformat(iso)
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S")


async def _secrets(ctx: Context, _ns: argparse.Namespace) -> int:
    """`rutradar secrets rotate`: step 2 of a key rotation (docs/privacy.md)."""
    from storage.crypto import NO_KEY, SecretBox, SecretKeyError
    from storage.slack_store import reencrypt_tokens

    try:
        box = SecretBox.from_setting(Settings().secret_key)
        if box is None:
            raise UsageError("as_written", text=NO_KEY)
        counts = await reencrypt_tokens(ctx.database, box)
    except SecretKeyError as exc:
        raise UsageError("as_written", text=str(exc)) from None
    total = sum(counts.values())
    print(_english().say("tokens_reencrypted", tokens=total, keys=box.key_count))
    return 0


async def _purge(ctx: Context, _ns: argparse.Namespace) -> int:
    removed = await purge(ctx)
    print(_english().say("purged", rounds=removed["rounds"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
