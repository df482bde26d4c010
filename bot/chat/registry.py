"""The shape of the chat's tables: one entry per command word and per button action id.

An entry says everything the rest of the bot asks about a command: its handler (dispatch),
whether it writes (`changes_state`: what a platform's redelivery must not do twice), and what
the help shows to whom. The tables themselves are in `bot/chat/engine.py` (`CHAT_COMMANDS`,
`CHAT_ACTIONS`), beside the handlers; the help, the unknown-command reply and the Teams
manifest's command list (tests/test_teams_package.py) are all read from them, so none of them
can drift from what dispatches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from bot.core.actor import Actor
from bot.core.events import ActionInvoked, FormSubmitted
from bot.core.ports import ButtonTraits, FormOpener
from messages.copy import Copy
from messages.model import Message

E = TypeVar("E")  # what the handlers run on (the engine)

Reply = Message | list[Message]


class Writes(Enum):
    """Whether a command may write something a redelivery must not write twice, so that its
    event id is claimed first (design privacy rule 12, docs/benchmarks.md "Reads never write").
    A read is answered again when redelivered, which is what the platform asked for, and
    leaves no record of the contact."""

    NEVER = "never"
    ALWAYS = "always"
    WITH_ARGUMENTS = "with arguments"  # alone it only shows (`timezone`, `admin`)

    def claims(self, rest: str) -> bool:
        """Whether the command with these arguments is claimed before it runs."""
        if self is Writes.WITH_ARGUMENTS:
            return bool(rest)
        return self is Writes.ALWAYS


class Audience(Enum):
    """Who a line of the help is for."""

    EVERYONE = "everyone"
    MEMBERS = "members"  # everyone but an admin in no team, who has no team check-in
    ADMINS_IN_NO_TEAM = "admins_in_no_team"  # told how to join a team instead
    MANAGERS = "managers"
    ADMINS = "admins"

    def includes(self, actor: Actor) -> bool:
        return self.includes_facts(audience_facts(actor))

    def includes_facts(self, facts: AudienceFacts) -> bool:
        is_admin, in_no_team, known, manages = facts
        if self is Audience.EVERYONE:
            return True
        admin_in_no_team = is_admin and in_no_team and known
        if self is Audience.MEMBERS:
            return not admin_in_no_team
        if self is Audience.ADMINS_IN_NO_TEAM:
            return admin_in_no_team
        if self is Audience.MANAGERS:
            return manages
        return is_admin


# All an audience reads of an actor: an admin, in no team, a known person, manages a team.
AudienceFacts = tuple[bool, bool, bool, bool]


def audience_facts(actor: Actor) -> AudienceFacts:
    return (actor.is_admin, actor.home_team is None, actor.person is not None, bool(actor.managed))


@dataclass(frozen=True, slots=True)
class HelpLine:
    """A line of the help: the copy that says it, its place in the help (the everyday
    commands first, then the managers', then the admins'), and who sees it."""

    key: str
    place: int
    audience: Audience = Audience.EVERYONE
    names_user: bool = False  # the line shows the reader's own user id (a command to paste)


@dataclass(frozen=True, slots=True)
class Command(Generic[E]):
    """`/rut WORD rest…` (in Teams, `WORD rest…` as a message). A command with no help line
    must be told in another's (as `resume` is with `pause`): tests/test_registry.py checks
    that every word appears in the help."""

    word: str
    run: Callable[[E, Actor, Copy, str], Awaitable[Reply]]
    writes: Writes
    help: tuple[HelpLine, ...] = ()
    aliases: tuple[str, ...] = ()  # understood, never listed


@dataclass(frozen=True, slots=True)
class Action(Generic[E]):
    """A button (or a dialog's button) with this action id. `dialog`: its answer is a dialog,
    so on a chat card a platform may open one at the click (Teams: `task/fetch`). `refreshes`:
    the tag of the message in its answer that is a fresh copy of the card clicked, which a
    platform may edit in place of that card."""

    action_id: str
    run: Callable[[E, Actor, Copy, ActionInvoked], Awaitable[Reply]]
    writes: bool
    dialog: bool = False
    refreshes: str | None = None


@dataclass(frozen=True, slots=True)
class Submission(Generic[E]):
    """A form's submission, by the form's id. `opened_by`: the action whose button opens the
    form (where a form cannot open by itself, Teams shows that button), with the form's
    `private` as its value when `reopens_with_private`."""

    form_id: str
    run: Callable[[E, Actor, Copy, FormSubmitted], Awaitable[Reply]]
    opened_by: str
    reopens_with_private: bool = False


class Commands(Generic[E]):
    """The command table, in the order its words are listed (the unknown-command reply)."""

    def __init__(self, *commands: Command[E]) -> None:
        self._listed = commands
        self._help_for: dict[AudienceFacts, tuple[HelpLine, ...]] = {}
        self._by_word: dict[str, Command[E]] = {}
        for command in commands:
            for word in (command.word, *command.aliases):
                if word in self._by_word:
                    raise ValueError(f"the command word {word!r} is registered twice")
                self._by_word[word] = command

    def __iter__(self) -> Iterator[Command[E]]:
        return iter(self._listed)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(command.word for command in self._listed)

    def get(self, word: str) -> Command[E] | None:
        return self._by_word.get(word)

    def help_for(self, actor: Actor) -> list[HelpLine]:
        """The help's lines this person sees, in their places. Kept by what the audiences
        read of the actor (a handful of combinations), since the help is the command asked
        for most."""
        facts = audience_facts(actor)
        shown = self._help_for.get(facts)
        if shown is None:
            lines = [line for command in self._listed for line in command.help]
            included = [line for line in lines if line.audience.includes_facts(facts)]
            shown = tuple(sorted(included, key=lambda line: line.place))
            self._help_for[facts] = shown
        return list(shown)


class Actions(Generic[E]):
    """The button table."""

    def __init__(self, *actions: Action[E]) -> None:
        self._by_id: dict[str, Action[E]] = {}
        for action in actions:
            if action.action_id in self._by_id:
                raise ValueError(f"the action id {action.action_id!r} is registered twice")
            self._by_id[action.action_id] = action

    def __iter__(self) -> Iterator[Action[E]]:
        return iter(self._by_id.values())

    def get(self, action_id: str) -> Action[E] | None:
        return self._by_id.get(action_id)


class Submissions(Generic[E]):
    """The form table."""

    def __init__(self, *forms: Submission[E]) -> None:
        self._by_id: dict[str, Submission[E]] = {}
        for form in forms:
            if form.form_id in self._by_id:
                raise ValueError(f"the form id {form.form_id!r} is registered twice")
            self._by_id[form.form_id] = form

    def __iter__(self) -> Iterator[Submission[E]]:
        return iter(self._by_id.values())

    def get(self, form_id: str) -> Submission[E] | None:
        return self._by_id.get(form_id)


def button_traits(actions: Actions[E], forms: Submissions[E]) -> ButtonTraits:
    """What the tables say of their buttons, for the adapters (`ports.ButtonTraits`)."""
    return ButtonTraits(
        dialogs=frozenset(action.action_id for action in actions if action.dialog),
        refreshes={a.action_id: a.refreshes for a in actions if a.refreshes is not None},
        openers={
            form.form_id: FormOpener(form.opened_by, form.reopens_with_private) for form in forms
        },
    )


async def ready(reply: Reply) -> Reply:
    """A reply made without waiting, in the awaitable shape every handler has."""
    return reply
