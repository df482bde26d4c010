"""One grammar for the admin commands, shared by the CLI and `/rut admin …` in chat.

argparse is made to raise instead of exiting, so a wrong argument becomes a polite
UsageError in chat and exit code 2 on the CLI, with no traceback either way. argparse's own
wording ("invalid choice: …", "the following arguments are required: …") is never shown:
`Parser.error` says the same as a plain sentence with the valid choices. `--help` (and, in
chat, a trailing `help`) is a `HelpRequested` carrying the help as structured lines, which
chat renders as a message and the CLI prints.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from bot.admin import operations, validate
from bot.admin.operations import ROUND_ACTIONS, RoundAction
from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.errors import RutRadarError, UsageError
from bot.core.ports import THIS_CHANNEL
from messages.copy import Copy, Key, copy_for
from messages.model import Bullets, Heading, Message, Paragraph
from storage.values import MembershipRole

PERIOD_EXAMPLE = "2026-W49"
# The help of `round open|close|skip` (lines of the copy), one per action of the operations' table.
ROUND_ACTION_HELP = {
    RoundAction.OPEN: "admin_help_round_open",
    RoundAction.CLOSE: "admin_help_round_close",
    RoundAction.SKIP: "admin_help_round_skip",
}


@dataclass(frozen=True)
class HelpText:
    """A command's help: what it does, how to call it, and its choices or arguments.

    The texts are lines of the copy (`Key`s; the CLI's own commands have English help, which
    is shown as it is): said in the reader's language by `message` and `plain`. The title,
    the usage and the names are command words, typed as they are."""

    title: str
    usage: str
    description: str = ""
    commands: tuple[tuple[str, str], ...] = ()
    arguments: tuple[tuple[str, str, bool, str | None], ...] = ()  # name, help, required, default

    def _commands(self, t: Copy) -> list[tuple[str, str]]:
        return [(name, t.line(text)) for name, text in self.commands]

    def _arguments(self, t: Copy) -> list[tuple[str, str]]:
        rows = []
        for name, help_text, required, default in self.arguments:
            text = t.line(help_text)
            if required:
                text = t.say("admin_help_required", text=text)
            if default is not None:
                text = t.say("admin_help_default", text=text, default=default)
            rows.append((name, text))
        return rows

    def _description(self, t: Copy) -> str:
        """The description as a sentence: a leaf's is its help line, which starts in lower
        case and has no full stop."""
        text = t.line(self.description).strip()
        if not text:
            return ""
        text = text[:1].upper() + text[1:]
        return text if text[-1:] in ".!?" else text + "."

    def message(self, t: Copy) -> Message:
        """The help as a chat message: a heading, the usage, and one bullet per choice."""
        blocks: list[Any] = [Heading(self.title)]
        if description := self._description(t):
            blocks.append(Paragraph(description))
        blocks.append(Paragraph(t.say("admin_help_usage", usage=self.usage)))
        for key, rows in (
            ("admin_help_commands", self._commands(t)),
            ("admin_help_arguments", self._arguments(t)),
        ):
            if rows:
                items = tuple(f"{name}: {text}" if text else name for name, text in rows)
                blocks += [Paragraph(t.say(key)), Bullets(items)]
        return Message(
            fallback=self.plain(t), blocks=tuple(blocks), tags=("admin_help",), locale=t.locale
        )

    def plain(self, t: Copy | None = None) -> str:
        """The help as the CLI prints it (in English unless `t` says otherwise)."""
        t = t or copy_for("en")
        lines = [t.say("help_usage_plain", usage=self.usage)]
        if description := self._description(t):
            lines += ["", description]
        for key, rows in (
            ("admin_help_commands", self._commands(t)),
            ("admin_help_arguments", self._arguments(t)),
        ):
            if rows:
                lines += ["", t.say(key)]
                lines += [f"  {name:<22}  {text}".rstrip() for name, text in rows]
        return "\n".join(lines) + "\n"


class HelpRequested(RutRadarError):
    """`--help`: not an error. Chat shows `help` as a message; the CLI prints it, exit 0."""

    exit_code = 0

    def __init__(self, help_text: HelpText) -> None:
        super().__init__("as_written", text=help_text.plain())
        self.help = help_text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are sentences and whose help is a `HelpRequested`."""

    def _subcommands(self) -> argparse._SubParsersAction | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
        return None

    def _path(self) -> tuple[str, bool]:
        """The command typed so far after `/rut admin` or `rutradar` ("round", "team members"),
        and whether this is chat's `/rut admin`."""
        words = self.prog.split()
        root = 2 if words[:1] == ["/rut"] else 1
        return " ".join(words[root:]), root == 2

    def help_text(self) -> HelpText:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ").replace(" [-h]", "")
        commands: list[tuple[str, str]] = []
        arguments: list[tuple[str, str, bool, str | None]] = []
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
                commands += [(name, helps.get(name, "")) for name in action.choices]
                continue
            if action.option_strings:
                name = action.option_strings[-1]
                if action.nargs != 0:
                    name += f" {action.metavar or action.dest.upper()}"
            else:
                name = str(action.metavar or action.dest)
                if action.nargs in ("+", "*"):
                    name += " …"
            default = None
            if action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0:
                default = str(action.default)
            required = bool(action.required and action.option_strings)
            arguments.append((name, action.help or "", required, default))
        return HelpText(
            title=self.prog,
            usage=usage,
            description=self.description or "",
            commands=tuple(commands),
            arguments=tuple(arguments),
        )

    def print_help(self, file: Any = None) -> None:
        raise HelpRequested(self.help_text())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        text = (message or "").strip()
        if text:  # argparse's own words, never shown: the sentence says where help is
            raise UsageError("not_understood", prog=self.prog)
        raise UsageError("see_help", prog=self.prog)

    def error(self, message: str) -> NoReturn:
        raise UsageError("with_help", sentence=self._sentence(message), prog=self.prog)

    def _sentence(self, message: str) -> UsageError:
        """argparse's message as a plain sentence with the valid choices (a line of the copy,
        said once the reader's language is known)."""
        m = re.match(r"argument (\S+): invalid choice: '?(.*?)'? \(choose from (.*)\)$", message)
        if m:
            choices = [c.strip(" '") for c in m[3].split(",")]
            path, chat = self._path()
            if path:
                key = "not_an_path_action" if path[:1] in "aeiou" else "not_a_path_action"
                return UsageError(key, word=m[2], path=path, choices=choices)
            key = "not_an_admin_command" if chat else "not_a_command"
            return UsageError(key, word=m[2], choices=choices)
        m = re.match(r"the following arguments are required: (.*)$", message)
        if m:
            missing = [word.strip() for word in m[1].split(",")]
            sub = self._subcommands()
            if sub is not None and sub.dest in missing:
                path, chat = self._path()
                choices = list(sub.choices)
                if path:
                    return UsageError("which_path_action", path=path, choices=choices)
                key = "which_admin_command" if chat else "which_command"
                return UsageError(key, choices=choices)
            named = [self._describe(word) for word in missing]
            return UsageError("needs_arguments", prog=self.prog, arguments=named)
        m = re.match(r"unrecognized arguments: (.*)$", message)
        if m:
            return UsageError("unrecognized", words=m[1])
        m = re.match(r"argument (\S+): not allowed with argument (\S+)$", message)
        if m:
            return UsageError("not_both", first=m[2], second=m[1])
        m = re.match(r"argument (\S+): expected one argument$", message)
        if m:
            return UsageError("needs_value", option=m[1])
        m = re.match(r"argument (\S+): invalid (\w+) value: '(.*)'$", message)
        if m:
            if m[2] == "int":
                return UsageError("takes_whole_number", option=m[1], value=m[3])
            return UsageError("takes_kind", option=m[1], kind=m[2], value=m[3])
        # Anything else argparse says is English: said as the copy's line, which names no word.
        return UsageError("not_understood", prog=self.prog)

    def _describe(self, word: str) -> str | UsageError:
        """A missing argument named with what it is: 'NAME (the team)', said in the reader's
        language with the rest of the error."""
        for action in self._actions:
            names = {str(action.metavar or ""), action.dest, *action.option_strings}
            names |= {"/".join(action.option_strings)}
            if word in names and action.help:
                return UsageError("argument_described", word=word, text=action.help)
        return word


# What an admin command runs, set on its parser (`set_defaults(handler=…)`): called with the
# context, the actor, the parsed arguments, and a channel's members as the platform listed them
# (`team add --from-channel` in chat; None elsewhere).
AdminHandler = Callable[
    [Context, Actor, argparse.Namespace, list[str] | None], Awaitable[operations.Result]
]


def _channel(word: str) -> str:
    """A channel as `--from-channel` names it: the platform's plain id, or `here` / `this`
    (any case) for the channel the command is sent in (`THIS_CHANNEL`)."""
    word = word.strip()
    return THIS_CHANNEL if word.lower() in ("here", "this") else word


# Help is said in the reader's language: each `help=` and `description=` is the name of a line
# of the copy (a `Key`), rendered where the help is shown (`HelpText.message`, `.plain`).
USER_HELP = Key("admin_help_users")
TEAM_HELP = Key("admin_help_team_name")


def add_admin_commands(sub: Any, *, cli: bool = False) -> dict[str, Parser]:
    """The subcommands an admin may run from chat as well as from the CLI, each leaf with the
    handler `run_admin` runs (`set_defaults(handler=…)`). With `cli`, also the CLI-only ones,
    which have no handler here: they are returned by name for the CLI to run itself. A leaf's
    description is its help line, said as a sentence."""
    cli_only: dict[str, Parser] = {}
    ws = sub.add_parser(
        "workspace",
        help=Key("admin_help_workspace"),
        description=Key("admin_help_workspace_description"),
    ).add_subparsers(dest="action", required=True)
    if cli:
        ws_add = _leaf(ws, "add", Key("admin_help_workspace_add"))
        ws_add.description = Key("admin_help_workspace_add_description")
        ws_add.add_argument("--platform", required=True, help=Key("admin_help_platform"))
        ws_add.add_argument(
            "--external-id", required=True, metavar="ID", help=Key("admin_help_external_id")
        )
        ws_add.add_argument("--name", help=Key("admin_help_workspace_name"))
        ws_add.add_argument("--timezone", metavar="ZONE", help=Key("admin_help_workspace_timezone"))
        cli_only["workspace add"] = ws_add
        cli_only["workspace list"] = _leaf(ws, "list", Key("admin_help_workspace_list"))
    ws_set = _leaf(ws, "set", Key("admin_help_workspace_set"))
    ws_set.description = Key("admin_help_workspace_set_description")
    ws_set.add_argument("--threshold", metavar="N", help=Key("admin_help_threshold"))
    ws_set.add_argument(
        "--comment-threshold", metavar="N", help=Key("admin_help_comment_threshold")
    )
    ws_set.add_argument("--retention-days", metavar="DAYS", help=Key("admin_help_retention"))
    ws_set.add_argument("--timezone", metavar="ZONE", help=Key("admin_help_zone_example"))
    ws_set.add_argument("--locale", metavar="LOCALE", help=Key("admin_help_locale"))
    ws_set.add_argument("--support-url", metavar="URL", help=Key("admin_help_support_url"))
    ws_set.set_defaults(handler=_workspace_set)

    adm = sub.add_parser(
        "admin", help=Key("admin_help_admin"), description=Key("admin_help_admin_description")
    ).add_subparsers(dest="action", required=True)
    for action, key in (("add", "admin_help_admin_add"), ("remove", "admin_help_admin_remove")):
        p = _leaf(adm, action, Key(key))
        p.add_argument("user_ids", nargs="+", metavar="USER", help=USER_HELP)
        p.set_defaults(handler=_set_admins)

    person = sub.add_parser(
        "person",
        help=Key("admin_help_person"),
        description=Key("admin_help_person_description"),
    ).add_subparsers(dest="action", required=True)
    person_remove = _leaf(person, "remove", Key("admin_help_person_remove"))
    person_remove.description = Key("admin_help_person_remove_description")
    person_remove.add_argument("user_ids", nargs="+", metavar="USER", help=USER_HELP)
    person_remove.set_defaults(handler=_remove_people)

    team = sub.add_parser(
        "team", help=Key("admin_help_team"), description=Key("admin_help_team")
    ).add_subparsers(dest="action", required=True)
    team_add = _leaf(team, "add", Key("admin_help_team_add"))
    team_add.add_argument("name", metavar="NAME", help=TEAM_HELP)
    team_add.add_argument(
        "--from-channel",
        metavar="CHANNEL",
        nargs="?",
        const=THIS_CHANNEL,
        type=_channel,
        help=Key("admin_help_from_channel"),
    )
    team_add.set_defaults(handler=_team_add)
    named: tuple[tuple[str, str, AdminHandler], ...] = (
        ("remove", "admin_help_team_remove", _team_remove),
        ("show", "admin_help_team_show", _team_show),
    )
    for action, key, handler in named:
        p = _leaf(team, action, Key(key))
        p.add_argument("name", metavar="NAME", help=TEAM_HELP)
        p.set_defaults(handler=handler)
    team_list = _leaf(team, "list", Key("admin_help_team_list"))
    team_list.description = Key("admin_help_team_list_description")
    team_list.set_defaults(handler=_team_list)
    for group in ("members", "managers"):
        grp = team.add_parser(
            group,
            help=Key(f"admin_help_{group}"),
            description=Key(f"admin_help_{group}_description"),
        ).add_subparsers(dest="group_action", required=True)
        for action in ("add", "remove"):
            p = _leaf(grp, action, Key(f"admin_help_{group}_{action}"))
            p.add_argument("name", metavar="NAME", help=TEAM_HELP)
            p.add_argument("user_ids", nargs="+", metavar="USER", help=USER_HELP)
            if group == "managers" and action == "add":
                p.add_argument(
                    "--with-history", action="store_true", help=Key("admin_help_with_history")
                )
            p.set_defaults(handler=_set_members)

    sched = sub.add_parser(
        "schedule", help=Key("admin_help_schedule"), description=Key("admin_help_schedule")
    ).add_subparsers(dest="action", required=True)
    s_set = _leaf(sched, "set", Key("admin_help_schedule_set"))
    s_set.description = Key("admin_help_schedule_set_description")
    s_set.add_argument("name", metavar="NAME", help=TEAM_HELP)
    s_set.add_argument("--cadence", required=True, help=Key("admin_help_cadence"))
    s_set.add_argument("--weekday", required=True, metavar="DAY", help=Key("admin_help_weekday"))
    s_set.add_argument("--time", required=True, metavar="HH:MM", help=Key("admin_help_time"))
    s_set.add_argument("--week-of-month", metavar="N", help=Key("admin_help_week_of_month"))
    s_set.add_argument("--anchor", metavar="YYYY-MM-DD", help=Key("admin_help_anchor"))
    zone = s_set.add_mutually_exclusive_group()
    zone.add_argument("--timezone", metavar="ZONE", help=Key("admin_help_schedule_timezone"))
    zone.add_argument("--member-local", action="store_true", help=Key("admin_help_member_local"))
    s_set.add_argument(
        "--remind-after", default="24h", metavar="DURATION", help=Key("admin_help_remind_after")
    )
    s_set.add_argument(
        "--close-after", default="72h", metavar="DURATION", help=Key("admin_help_close_after")
    )
    s_set.set_defaults(handler=_schedule_set)
    named = (
        ("enable", "admin_help_schedule_enable", _schedule_enable),
        ("disable", "admin_help_schedule_disable", _schedule_enable),
        ("show", "admin_help_schedule_show", _schedule_show),
    )
    for action, key, handler in named:
        p = _leaf(sched, action, Key(key))
        p.add_argument("name", metavar="NAME", help=TEAM_HELP)
        p.set_defaults(handler=handler)

    rnd = sub.add_parser(
        "round", help=Key("admin_help_round"), description=Key("admin_help_round_description")
    ).add_subparsers(dest="action", required=True)
    named = (
        *((action.value, ROUND_ACTION_HELP[action], _round_action) for action in ROUND_ACTIONS),
        ("list", "admin_help_round_list", _round_list),
    )
    for action, key, handler in named:
        p = _leaf(rnd, action, Key(key))
        p.add_argument("name", metavar="NAME", help=TEAM_HELP)
        p.set_defaults(handler=handler)
    return cli_only


def _leaf(group: Any, name: str, help_key: Key) -> Parser:
    """A subcommand whose description is its help line (said as a sentence)."""
    parser: Parser = group.add_parser(name, help=help_key, description=help_key)
    return parser


def admin_parser() -> Parser:
    parser = Parser(prog="/rut admin", description=Key("admin_help_description"))
    add_admin_commands(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    return parser


def parse_chat_admin(text: str) -> argparse.Namespace:
    """`/rut admin …` as a Namespace; `help` alone or after a command is `--help`."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError("unreadable", reason=str(exc)) from None
    parser = admin_parser()
    if words and words[-1].lower() == "help" and _is_command_path(parser, words[:-1]):
        words[-1] = "--help"
    return parser.parse_args(words)


def _is_command_path(parser: Parser, words: list[str]) -> bool:
    """Whether `words` only names (sub)commands that take a further subcommand, so a `help`
    after them asks for help (after a leaf, `help` is an argument: a team may be called so)."""
    current: Parser = parser
    for word in words:
        sub = current._subcommands()
        if sub is None or word not in sub.choices:
            return False
        current = sub.choices[word]
    return current._subcommands() is not None


async def run_admin(
    ctx: Context,
    actor: Actor,
    ns: argparse.Namespace,
    *,
    channel_members: list[str] | None = None,
) -> operations.Result:
    """Run a parsed admin command: the handler its parser set (`add_admin_commands`).
    `channel_members` is what the platform said of a channel."""
    handler: AdminHandler | None = getattr(ns, "handler", None)
    if handler is None:
        raise UsageError("unknown_admin_command", command=ns.command)
    return await handler(ctx, actor, ns, channel_members)


# --- what each admin command runs ----------------------------------------------------------


async def _workspace_set(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.workspace_set(
        ctx,
        actor,
        threshold=ns.threshold,
        comment_threshold=ns.comment_threshold,
        retention_days=ns.retention_days,
        timezone=ns.timezone,
        locale=ns.locale,
        support_url=ns.support_url,
    )


async def _remove_people(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.remove_people(ctx, actor, ns.user_ids)


async def _set_admins(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.set_admins(ctx, actor, ns.user_ids, grant=ns.action == "add")


async def _team_add(
    ctx: Context, actor: Actor, ns: argparse.Namespace, channel_members: list[str] | None
) -> operations.Result:
    if ns.from_channel and channel_members is None:
        raise UsageError("from_channel_in_chat")
    if ns.from_channel and not channel_members:
        raise UsageError("channel_empty")
    return await operations.team_add(ctx, actor, ns.name, members=channel_members)


async def _team_remove(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.team_remove(ctx, actor, ns.name)


async def _team_show(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.team_show(ctx, actor, ns.name)


async def _team_list(
    ctx: Context, actor: Actor, _ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.team_list(ctx, actor)


async def _set_members(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    """`team members add|remove` and `team managers add|remove`."""
    return await operations.set_members(
        ctx,
        actor,
        ns.name,
        ns.user_ids,
        role=MembershipRole.MEMBER if ns.action == "members" else MembershipRole.MANAGER,
        add=ns.group_action == "add",
        with_history=bool(getattr(ns, "with_history", False)),
    )


async def _schedule_set(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.schedule_set(
        ctx,
        actor,
        ns.name,
        cadence=validate.cadence(ns.cadence),
        weekday=ns.weekday,
        time=ns.time,
        week_of_month=ns.week_of_month,
        anchor=ns.anchor,
        timezone=ns.timezone,
        member_local=ns.member_local,
        remind_after=ns.remind_after,
        close_after=ns.close_after,
    )


async def _schedule_enable(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    """`schedule enable` and `schedule disable`."""
    return await operations.schedule_enable(ctx, actor, ns.name, enabled=ns.action == "enable")


async def _schedule_show(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.schedule_show(ctx, actor, ns.name)


async def _round_action(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    """`round open`, `round close` and `round skip`: one per `ROUND_ACTIONS` entry."""
    return await operations.round_action(ctx, actor, ns.name, RoundAction(ns.action))


async def _round_list(
    ctx: Context, actor: Actor, ns: argparse.Namespace, _members: list[str] | None
) -> operations.Result:
    return await operations.round_list(ctx, actor, ns.name)
