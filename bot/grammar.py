"""One grammar for the admin commands, shared by the CLI and `/rut admin …` in chat.

argparse is made to raise instead of exiting, so a wrong argument becomes a polite
UsageError in chat and exit code 2 on the CLI, with no traceback either way.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from bot import admin
from bot.actor import Actor
from bot.context import Context
from bot.errors import UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. See `{self.prog} --help`.")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        # `--help` ends up here: raise the help text as a "usage error" to print it.
        raise UsageError(message or self.format_help())


def add_admin_commands(sub: Any, *, cli: bool = False) -> None:
    """The subcommands an admin may run from chat as well as from the CLI (plus CLI-only ones)."""
    ws = sub.add_parser("workspace", help="workspace settings").add_subparsers(
        dest="action", required=True
    )
    if cli:
        ws_add = ws.add_parser("add", help="add or update a workspace (idempotent)")
        ws_add.add_argument("--platform", required=True)
        ws_add.add_argument("--external-id", required=True)
        ws_add.add_argument("--name")
        ws_add.add_argument("--timezone")
        ws.add_parser("list", help="list workspaces")
    ws_set = ws.add_parser(
        "set", help="threshold, comment threshold, retention, zone, locale, support link"
    )
    ws_set.add_argument("--threshold")
    ws_set.add_argument("--comment-threshold")
    ws_set.add_argument("--retention-days")
    ws_set.add_argument("--timezone")
    ws_set.add_argument("--locale")
    ws_set.add_argument(
        "--support-url",
        metavar="URL",
        help="https link to the organisation's support programme, shown after very low "
        "answers; none removes it",
    )

    adm = sub.add_parser("admin", help="grant or remove admin").add_subparsers(
        dest="action", required=True
    )
    for action in ("add", "remove"):
        adm.add_parser(action).add_argument("user_ids", nargs="+", metavar="USER_ID")

    person = sub.add_parser("person", help="erase people (as /rut forget-me does)").add_subparsers(
        dest="action", required=True
    )
    person.add_parser("remove").add_argument("user_ids", nargs="+", metavar="USER_ID")

    team = sub.add_parser("team", help="teams, members and managers").add_subparsers(
        dest="action", required=True
    )
    team_add = team.add_parser("add")
    team_add.add_argument("name", metavar="NAME")
    team_add.add_argument(
        "--from-channel", metavar="CHANNEL", help="in chat: the channel's members join"
    )
    for action in ("remove", "show"):
        team.add_parser(action).add_argument("name", metavar="NAME")
    team.add_parser("list")
    for group in ("members", "managers"):
        grp = team.add_parser(group).add_subparsers(dest="group_action", required=True)
        for action in ("add", "remove"):
            p = grp.add_parser(action)
            p.add_argument("name", metavar="NAME")
            p.add_argument("user_ids", nargs="+", metavar="USER_ID")
            if group == "managers" and action == "add":
                p.add_argument(
                    "--with-history",
                    action="store_true",
                    help="they were never in this team: show them its earlier releases",
                )

    sched = sub.add_parser("schedule", help="when a team checks in").add_subparsers(
        dest="action", required=True
    )
    s_set = sched.add_parser("set")
    s_set.add_argument("name", metavar="NAME")
    s_set.add_argument("--cadence", required=True)
    s_set.add_argument("--weekday", required=True)
    s_set.add_argument("--time", required=True)
    s_set.add_argument("--week-of-month")
    s_set.add_argument("--anchor")
    zone = s_set.add_mutually_exclusive_group()
    zone.add_argument("--timezone")
    zone.add_argument("--member-local", action="store_true")
    s_set.add_argument("--remind-after", default="24h")
    s_set.add_argument("--close-after", default="72h")
    for action in ("enable", "disable", "show"):
        sched.add_parser(action).add_argument("name", metavar="NAME")

    rnd = sub.add_parser("round", help="open, close or skip a round by hand").add_subparsers(
        dest="action", required=True
    )
    for action in ("open", "close", "skip", "list"):
        rnd.add_parser(action).add_argument("name", metavar="NAME")


def admin_parser() -> Parser:
    parser = Parser(prog="/rut admin", add_help=False)
    add_admin_commands(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    return parser


def parse_chat_admin(text: str) -> argparse.Namespace:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"I couldn't read that: {exc}.") from None
    return admin_parser().parse_args(words)


async def run_admin(
    ctx: Context,
    actor: Actor,
    ns: argparse.Namespace,
    *,
    channel_members: list[str] | None = None,
) -> admin.Result:
    """Run a parsed admin command; `channel_members` is what the platform said of a channel."""
    command, action = ns.command, getattr(ns, "action", None)
    if command == "workspace" and action == "set":
        return await admin.workspace_set(
            ctx,
            actor,
            threshold=ns.threshold,
            comment_threshold=ns.comment_threshold,
            retention_days=ns.retention_days,
            timezone=ns.timezone,
            locale=ns.locale,
            support_url=ns.support_url,
        )
    if command == "person":
        return await admin.remove_people(ctx, actor, ns.user_ids)
    if command == "admin":
        return await admin.set_admins(ctx, actor, ns.user_ids, grant=action == "add")
    if command == "team":
        if action == "add":
            if ns.from_channel and channel_members is None:
                raise UsageError(
                    "--from-channel works in chat, where the platform can list a channel's members."
                )
            if ns.from_channel and not channel_members:
                raise UsageError(
                    "That channel has no members I can see. Is Rut Radar in the channel?"
                )
            return await admin.team_add(ctx, actor, ns.name, members=channel_members)
        if action == "remove":
            return await admin.team_remove(ctx, actor, ns.name)
        if action == "show":
            return await admin.team_show(ctx, actor, ns.name)
        if action == "list":
            return await admin.team_list(ctx, actor)
        role = "member" if action == "members" else "manager"
        return await admin.set_members(
            ctx,
            actor,
            ns.name,
            ns.user_ids,
            role=role,
            add=ns.group_action == "add",
            with_history=bool(getattr(ns, "with_history", False)),
        )
    if command == "schedule":
        if action == "set":
            return await admin.schedule_set(
                ctx,
                actor,
                ns.name,
                cadence=ns.cadence,
                weekday=ns.weekday,
                time=ns.time,
                week_of_month=ns.week_of_month,
                anchor=ns.anchor,
                timezone=ns.timezone,
                member_local=ns.member_local,
                remind_after=ns.remind_after,
                close_after=ns.close_after,
            )
        if action == "show":
            return await admin.schedule_show(ctx, actor, ns.name)
        return await admin.schedule_enable(ctx, actor, ns.name, enabled=action == "enable")
    if command == "round":
        if action == "list":
            return await admin.round_list(ctx, actor, ns.name)
        return await admin.round_action(ctx, actor, ns.name, str(action))
    raise UsageError(f"Unknown admin command '{command}'.")
