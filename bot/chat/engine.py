"""The conversation engine: neutral events in, neutral messages out. Knows no platform.

Authorization is decided here, once per event (`Actor`), so every adapter gets the same
answer for the same person. Handlers never raise at the person: a `RutRadarError` becomes a
polite reply, anything else a short apology while the details go to the log (never a
payload: logs carry no bodies, design privacy rule 4). The one exception is an event the
platform retries and the engine claimed: its unexpected failure is `RetryLater`, which the
adapter answers with a 503 so the platform's retry does the work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from bot.admin import operations, validate
from bot.admin.grammar import HelpRequested, parse_chat_admin, run_admin
from bot.admin.identities import (
    actor_for,
    actor_of,
    person_changes,
    person_for_event,
    require_team,
)
from bot.admin.privacy import forget_person, privacy_message
from bot.admin.validate import iso_date
from bot.chat import views
from bot.chat.buttons import CarriedAdvice, RoundButton, RoundVerb
from bot.chat.home import home_messages
from bot.chat.registry import (
    Action,
    Actions,
    Audience,
    Command,
    Commands,
    HelpLine,
    Reply,
    Submission,
    Submissions,
    Writes,
    button_traits,
    ready,
)
from bot.chat.showing import show_summary, view_summary
from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.errors import NotAllowed, RetryLater, RutRadarError, UsageError
from bot.core.events import ActionInvoked, CommandReceived, Event, FormSubmitted, HomeOpened
from bot.core.lookups import PromptState
from bot.core.ports import ButtonTraits, DeliveryError, Directories, UnknownPerson
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import team_zone
from bot.rounds.periods import resolve_zone, weekly_period
from messages.content import Advice, in_distress, load_content
from messages.copy import Copy, copy_for
from messages.model import Message, Surface
from storage import repositories as repo
from storage.db import Sessions, short_read
from storage.models import Person, Workspace
from storage.values import CadenceKind

log = logging.getLogger(__name__)


def command_words(text: str) -> tuple[str, str]:
    """`/rut pause until 2026-01-01` → ("pause", "until 2026-01-01")."""
    text = text.strip()
    if text.lower().startswith("/rut"):
        text = text[4:].strip()
    word, _, rest = text.partition(" ")
    return word.lower(), rest.strip()


def changes_state(event: Event, actor: Actor | None = None) -> bool:
    """Whether handling this event may write something a redelivery must not write twice:
    a check-in, a pause, a forget-me, a time zone set, an admin command, a viewed summary
    (audited); each command and action says so in its table entry. An unknown command only
    gets an error reply; an unknown action is claimed, as a button that writes is. App Home is
    claimed when its `actor` manages a team (None: not known yet), because a manager's Home
    audits the releases it shows (and Slack retries its Events API deliveries); anyone
    else's Home only reads. A person's first contact writes their row, which is idempotent
    (`person_for_event`)."""
    if isinstance(event, HomeOpened):
        return actor is None or bool(actor.managed)
    if isinstance(event, CommandReceived):
        word, rest = command_words(event.text)
        command = CHAT_COMMANDS.get(word)
        return command is not None and command.writes.claims(rest)
    if isinstance(event, ActionInvoked):
        action = CHAT_ACTIONS.get(event.action_id)
        return action is None or action.writes
    return True


@lru_cache(maxsize=8)
def _advice_menu(locale: str) -> Message:
    return views.advice_menu(copy_for(locale), locale)


def _needs_prompt_state(event: Event) -> bool:
    """A press of the prompt's check-in button, `checkin` typed, the Home opened: what they
    show needs the member's prompt state, which the sender's read can bring along."""
    if isinstance(event, HomeOpened):
        return True
    if isinstance(event, ActionInvoked):
        return event.action_id == "checkin_open"
    if isinstance(event, CommandReceived):
        command = CHAT_COMMANDS.get(command_words(event.text)[0])
        return command is not None and command.word == "checkin"
    return False


def _is_checkin(event: Event) -> bool:
    """A check-in's submission: the one event whose time the process must not keep."""
    return isinstance(event, FormSubmitted) and event.form_id == "checkin"


@lru_cache(maxsize=64)
def _checkin_form_of(locale: str, period: str | None) -> Message:
    """The check-in form is the same for everyone in a round: a round's burst of button
    presses renders it once per language, not once per press."""
    return views.checkin_form(copy_for(locale), locale, period)


def _advice_topic(locale: str, topic: str, seed: str, surface: Surface) -> Message:
    """Advice on a topic. The pieces are picked per person and week (cheap); the rendering is
    kept by the pieces alone (`_topic_message`), so the cache holds nothing about who asked
    for which practice. An unknown topic raises."""
    content = load_content(locale)
    practice = content.find_practice(topic)
    if practice is None:
        topics = ", ".join(p.key for p in content.practices)
        raise UsageError("unknown_topic", topic=topic, topics=topics)
    pieces = views.topic_pieces(locale, practice.key, seed)
    return _topic_message(locale, practice.key, pieces, surface)


@lru_cache(maxsize=1024)
def _topic_message(locale: str, key: str, pieces: tuple[Advice, ...], surface: Surface) -> Message:
    """Most of a `/rut advice` burst's cost was rendering the same pieces again; messages are
    immutable and depend only on their pieces."""
    return views.advice_topic_of(copy_for(locale), locale, key, pieces, surface)


# A prompt state read this long ago or less is as good as a read now: the press that read it
# with its sender is not read twice.
JUST_READ = timedelta(seconds=1)

# Starts a background coroutine in the process's task group (bot/delivery/tasks.py), by name.
Spawner = Callable[[Coroutine[Any, Any, None], str], object]


class ChatEngine:
    def __init__(
        self,
        ctx: Context,
        *,
        directories: Directories | None = None,
        spawn: Spawner | None = None,
    ) -> None:
        self.ctx = ctx
        # Refreshes a cached actor ahead of its expiry (bot/core/lookups.py) without making
        # the event that noticed it wait; without one, the cache simply expires.
        self._spawn = spawn
        # Questions to the platforms only (who is this e-mail address, who is in a channel):
        # the engine sends nothing itself; later messages and edits go through the outbox.
        self._directories = directories or Directories()

    # --- entry ---------------------------------------------------------------------------

    async def handle(self, event: Event) -> list[Message]:
        """Handle one event; an event id seen before (a platform retry) has no effect. Only
        events the platform may retry *and* that change state (`changes_state`) are claimed:
        the rest leave no trace of the contact, and a redelivered read is answered again.

        At least once: a claim is a lease (`repositories.CLAIM_LEASE`) until the work is done.
        A claimed event whose handling fails unexpectedly is released and raises `RetryLater`
        (the cause logged here, once), so the adapter answers the platform with a 503 and its
        retry of that delivery is handled, not dropped as a duplicate; an unclaimed one gets
        the apology. A claim cancelled at shutdown is released too, and one left by a process
        killed mid-way runs out. A polite refusal (`RutRadarError`) is an answer: it keeps the
        claim, done."""
        # Known before the sender is (their lookup may fail): a failure then is retried too.
        claims = event.platform_retries and changes_state(event)
        claimed = False
        t = copy_for("en")  # until the sender is known
        try:
            async with self._one_connection(event):
                actor = await self._actor(event)
                assert actor.person is not None
                claimed = event.platform_retries and changes_state(event, actor)
                if claimed and not await self._claim(event.event_id):
                    log.info("duplicate event ignored", extra={"event_kind": type(event).__name__})
                    return []
                t = copy_for(actor.person.locale or actor.workspace.locale)
                replies = await self._dispatch(event, actor, t)
        except RutRadarError as exc:
            replies = [views.error_message(exc.say(t), t.locale)]
        except Exception as exc:
            kind = type(event).__name__
            log.exception("event handling failed", extra={"event_kind": kind})
            if not (claimed or claims):
                return [views.error_message(t.say("oops"), t.locale)]
            if claimed:
                await self._release(event.event_id)
            raise RetryLater(kind) from exc
        except BaseException:
            if claimed:
                await asyncio.shield(self._release(event.event_id))
            raise
        if claimed:
            await self._finish(event.event_id)
        # Said to this reader: the renderers' own words (a dialog's Close…) follow their language.
        return [
            reply if reply.locale == t.locale else replace(reply, locale=t.locale)
            for reply in replies
        ]

    def _one_connection(self, event: Event) -> contextlib.AbstractAsyncContextManager[None]:
        """On PostgreSQL a check-in's submission reads its sender and writes its answer on one
        connection (`Sessions.one_connection`): the burst after a round's prompts is mostly
        submissions, and a connection taken and given back twice per answer was a few percent
        of each. Other events take theirs as they need them."""
        sessions = self.ctx.sessions
        if _is_checkin(event) and isinstance(sessions, Sessions):
            return sessions.one_connection()
        return contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def claimed(self, event_id: str) -> AsyncIterator[bool]:
        """Claim a platform event id for the work done in the block, for adapters handling a
        platform's life events (an uninstall) themselves. Yields False for a delivery already
        claimed, on any replica (a retry: do nothing), True otherwise. If the block fails, the
        cause is logged, the claim released and `RetryLater` raised, as `handle` does (the
        adapter answers 503 and the platform's retry does the work); a cancellation releases
        the claim and goes on. Claims are kept only while the platform may retry
        (`bot.admin.records.PROCESSED_EVENTS_KEPT`)."""
        if not await self._claim(event_id):
            yield False
            return
        try:
            yield True
        except Exception as exc:
            log.exception("claimed work failed")
            await self._release(event_id)
            raise RetryLater("claimed work") from exc
        except BaseException:
            await asyncio.shield(self._release(event_id))
            raise
        await self._finish(event_id)

    async def _claim(self, event_id: str) -> bool:
        """Record a platform event id in the database; False for a retry (on any replica)."""
        try:
            async with self.ctx.sessions.begin() as session:
                return await repo.claim_event(session, event_id, self.ctx.clock.now())
        except IntegrityError:
            return False

    async def _finish(self, event_id: str) -> None:
        """Mark a claim's work done, so a later retry is a duplicate whatever the lease says.
        Should that fail, the claim runs out and a retry does the work again: one WARNING."""
        try:
            async with self.ctx.sessions.begin() as session:
                await repo.finish_event(session, event_id)
        except Exception as exc:
            log.warning("event claim not marked done: %s", type(exc).__name__)

    async def _release(self, event_id: str) -> None:
        """Forget a claim whose work failed, so the platform's retry of it is handled. If
        even that fails, retries are dropped until the lease runs out (`CLAIM_LEASE`), and the
        one after it does the work: one WARNING line, no event id in it."""
        try:
            async with self.ctx.sessions.begin() as session:
                await repo.release_event(session, event_id)
        except Exception as exc:
            log.warning("event claim not released after a failure: %s", type(exc).__name__)

    async def _actor(self, event: Event) -> Actor:
        """The sender as an Actor: from this process's short-lived cache (bot/core/lookups.py)
        when the event changes nothing about them, else from the database (and kept). A
        check-in's submission leaves the cache as it found it (`Lookups.peek`; looked up, not
        kept): an entry stored or refreshed then would say who checked in, and exactly when."""
        lookups = self.ctx.lookups
        if lookups is not None and _is_checkin(event):
            return lookups.peek(event) or await self._look_up(event, keep=False)
        cached = lookups.actor(event) if lookups is not None else None
        if cached is not None:
            if lookups is not None and self._spawn is not None and lookups.due(event):
                self._spawn(self._refresh(event), "actor-refresh")  # served meanwhile
            return cached
        return await self._look_up(event)

    async def _refresh(self, event: Event) -> None:
        await self._look_up(event)

    async def _look_up(self, event: Event, *, keep: bool = True) -> Actor:
        """The sender's actor from the database, kept in the cache. One read statement when
        the event teaches nothing new about them (almost always); only first contact, or
        something new about the person, opens a write transaction (on SQLite that would
        queue behind every other writer). For a check-in button or the Home, the same read
        (or its refresh ahead) brings the member's prompt state too, kept beside the actor.
        `keep` False: nothing is kept."""
        lookups = self.ctx.lookups if keep else None
        generation = lookups.generation if lookups is not None else 0
        where = event.where
        with_prompt = lookups is not None and _needs_prompt_state(event)
        async with short_read(self.ctx.sessions) as conn:
            rows = await repo.sender_rows(
                conn, where.platform, where.tenant_id, event.user_id, with_prompt=with_prompt
            )
        workspace, person = rows.workspace, rows.person
        if workspace is not None and person is not None and not person_changes(person, event):
            actor = actor_of(workspace, person, rows.teams)
        else:
            actor = await self._first_contact(event)
            rows = replace(rows, prompt=None)  # read before the person's rows were written
        if lookups is not None:
            lookups.keep(event, actor, generation)
            if rows.prompt is not None and actor.home_team is not None and actor.person:
                state = PromptState(*rows.prompt)
                lookups.keep_prompt_state(actor.home_team.id, actor.person.id, state, generation)
        return actor

    async def _first_contact(self, event: Event) -> Actor:
        """The sender's workspace and person created, or what is new about them recorded."""
        async with self.ctx.sessions.begin() as session:
            workspace = await repo.workspace_by_external_id(
                session, event.where.tenant_id, event.where.platform
            )
            if workspace is None:
                # First verified contact from a platform workspace: adapters verify first.
                workspace = Workspace(
                    platform=event.where.platform, external_id=event.where.tenant_id
                )
                session.add(workspace)
                await session.flush()
            person = await person_for_event(session, workspace, event, self.ctx.clock.now())
            return await actor_for(session, workspace, person)

    async def _dispatch(self, event: Event, actor: Actor, t: Copy) -> list[Message]:
        if isinstance(event, CommandReceived):
            return await self._command(event, actor, t)
        if isinstance(event, ActionInvoked):
            return await self._action(event, actor, t)
        if isinstance(event, FormSubmitted):
            return await self._form(event, actor, t)
        if isinstance(event, HomeOpened):
            state = None
            if actor.home_team is not None and actor.person is not None:
                state = await self._prompt_state(actor.home_team.id, actor.person.id)
            return await home_messages(self.ctx, actor, t, state)
        raise UsageError("unknown_event")

    # --- commands ------------------------------------------------------------------------

    async def _command(self, event: CommandReceived, actor: Actor, t: Copy) -> list[Message]:
        word, rest = command_words(event.text)
        command = CHAT_COMMANDS.get(word)
        if command is None:
            raise UsageError("unknown_command", word=word, commands=", ".join(COMMANDS))
        return _replies(await command.run(self, actor, t, rest))

    def _advice(self, actor: Actor, t: Copy, topic: str, surface: Surface) -> Message:
        """Advice on a topic asked for by name (`/rut advice routine`) is a personal reply in
        the chat (Slack: ephemeral, never kept in the channel's history; Teams: the 1:1 chat),
        which needs no dialog to be opened within the request; a practice's button (the
        menu, the Home, a closed round's dialog) shows it in a dialog. Advice that scores
        trigger is never shown this way: it stays in the check-in's dialog (privacy rule 10)."""
        if not topic:
            return _advice_menu(t.locale)
        return _advice_topic(t.locale, topic, self._seed(actor), surface)

    def _seed(self, actor: Actor, period: str | None = None) -> str:
        """Rotates advice per person and period without storing anything about it."""
        zone = (
            team_zone(actor.home_team, actor.workspace)
            if actor.home_team
            else actor.workspace.timezone
        )
        user = actor.person.user_id if actor.person else "cli"
        return f"{user}|{period or weekly_period(self.ctx.clock.now(), zone)}"

    async def _checkin_form(self, actor: Actor, t: Copy, prompted_for: str = "") -> Message:
        """The five questions; but a prompt's button for a round that has closed since says so
        at once, before anyone answers five questions for nothing, and offers advice."""
        period = None
        answered = False
        if actor.home_team is not None and actor.person is not None:
            team_id, person_id = actor.home_team.id, actor.person.id
            state = await self._prompt_state(team_id, person_id)
            if prompted_for and prompted_for != state.period:
                # Perhaps remembered before a round opened or closed elsewhere (another
                # replica, the command line): "closed" is said from a read just made.
                state = await self._prompt_state(team_id, person_id, max_age=JUST_READ)
            period, answered = state.period, state.answered
        if prompted_for and prompted_for != period:
            return views.round_closed_dialog(t, t.locale, prompted_for)
        if answered and period is not None:
            # Counted already: say so before anyone answers five questions for nothing.
            return Message.text(t.say("checkin_done_before", period=period))
        return _checkin_form_of(t.locale, period)

    async def _prompt_state(
        self, team_id: int, person_id: int, *, max_age: timedelta | None = None
    ) -> PromptState:
        """The member's open round and whether they answered it: from this process's cache
        (bot/core/lookups.py says how stale it may be; `max_age` asks for a recent read),
        else one read."""
        lookups = self.ctx.lookups
        cached = (
            lookups.prompt_state(team_id, person_id, max_age=max_age)
            if lookups is not None
            else None
        )
        if cached is not None:
            return cached
        generation = lookups.generation if lookups is not None else 0
        async with self.ctx.sessions() as session:
            state = PromptState(*await repo.prompt_state(session, team_id, person_id))
        if lookups is not None:
            lookups.keep_prompt_state(team_id, person_id, state, generation)
        return state

    async def _pause(self, actor: Actor, t: Copy, rest: str) -> Message:
        assert actor.person is not None
        until: date = date.max
        words = rest.split()
        if words:
            if words[0].lower() == "until" and len(words) == 2:
                until = iso_date(words[1])
            else:
                raise UsageError("pause_usage")
            if until <= self.ctx.clock.now().date():
                raise UsageError("pause_past")
        async with self.ctx.sessions.begin() as session:
            person = await session.get(Person, actor.person.id)
            assert person is not None
            person.paused_until = until
        if until == date.max:
            return Message.text(t.say("paused_indefinitely"))
        return Message.text(t.say("paused_until", date=until.isoformat()))

    async def _resume(self, actor: Actor, t: Copy) -> Message:
        assert actor.person is not None
        async with self.ctx.sessions.begin() as session:
            person = await session.get(Person, actor.person.id)
            assert person is not None
            was_paused = person.paused_until is not None
            if was_paused:  # reads never write: an unpaused person's row stays as it is
                person.paused_until = None
        return Message.text(t.say("resumed" if was_paused else "not_paused"))

    async def _timezone(self, actor: Actor, t: Copy, rest: str) -> Message:
        assert actor.person is not None
        if not rest:
            current = actor.person.timezone or actor.workspace.timezone
            return Message.text(t.say("timezone_current", zone=current))
        zone = resolve_zone(rest)
        async with self.ctx.sessions.begin() as session:
            person = await session.get(Person, actor.person.id)
            assert person is not None
            if person.timezone != zone:
                person.timezone = zone
        return Message.text(t.say("timezone_set", zone=zone))

    async def _summary(self, actor: Actor, t: Copy, rest: str) -> Message:
        if not actor.managed:
            raise NotAllowed("summary_not_manager")
        if rest:
            async with self.ctx.sessions() as session:
                team = await require_team(session, actor.workspace, " ".join(shlex.split(rest)))
            actor.require_manager_of(team)
        elif len(actor.managed) == 1:
            team = actor.managed[0]
        else:
            return await self._summary_overview(actor, t)
        return await show_summary(self.ctx, actor, team, t, via="chat")

    async def _summary_overview(self, actor: Actor, t: Copy) -> Message:
        """Every team the manager manages, each as its viewer may see it. The overview shows
        a released round's practice needing attention, so each team's view is audited."""
        summaries = []
        async with self.ctx.sessions.begin() as session:
            for team in sorted(actor.managed, key=lambda team: team.name.casefold()):
                summaries.append(
                    await view_summary(session, actor, team, self.ctx.clock.now(), via="chat")
                )
        return views.summary_overview(t, t.locale, summaries)

    async def _admin(self, actor: Actor, t: Copy, rest: str) -> Message:
        actor.require_admin()
        if not rest:
            return await self._admin_panel(actor, t)
        try:
            ns = parse_chat_admin(rest)
        except HelpRequested as wanted:
            return wanted.help.message(t)
        if getattr(ns, "user_ids", None):
            ns.user_ids = await self._resolve_people(actor, ns)
        members = None
        if getattr(ns, "from_channel", None):
            members = await self._channel_members(actor, ns.from_channel)
        result = await run_admin(self.ctx, actor, ns, channel_members=members)
        return Message.text(result.text)

    async def _resolve_people(self, actor: Actor, ns: argparse.Namespace) -> list[str]:
        """People named in an admin command, as the platform's user ids: e-mail addresses
        looked up, and ids the platform does not know refused with the reason, never stored.
        Only where the platform can tell (Slack); removing checks only what is stored."""
        names = [raw.strip() for raw in ns.user_ids]
        adding = "add" in (getattr(ns, "action", None), getattr(ns, "group_action", None))
        emails = [name for name in names if "@" in name]
        resolve_person = self._directories.people.get(actor.workspace.platform)
        if resolve_person is None:
            if emails:
                raise UsageError(
                    "no_email_lookup", platform=actor.workspace.platform, email=emails[0]
                )
            return names
        resolved = []
        for name in names:
            if "@" not in name and not adding:
                resolved.append(name)
                continue
            try:
                resolved.append(await resolve_person(actor.workspace.external_id, name))
            except UnknownPerson as exc:
                raise UsageError("nothing_changed", reason=exc) from None
            except DeliveryError as exc:
                raise UsageError(
                    "platform_unreachable",
                    platform=actor.workspace.platform,
                    name=name,
                    reason=exc.reason,
                ) from None
        return resolved

    async def _channel_members(self, actor: Actor, channel: str) -> list[str]:
        """A channel's members, asked of the platform (Slack: conversations.members). The
        channel is a plain id (each adapter makes its mention syntax one) or `THIS_CHANNEL`."""
        channel_members = self._directories.channels.get(actor.workspace.platform)
        if channel_members is None:
            raise UsageError("no_channel_lookup")
        try:
            return await channel_members(actor.workspace.external_id, channel)
        except DeliveryError as exc:
            raise UsageError("channel_unreadable", reason=exc.reason) from None

    async def _admin_panel(self, actor: Actor, t: Copy) -> Message:
        teams = []
        now = self.ctx.clock.now()
        async with self.ctx.sessions() as session:
            for team in await repo.teams_in(session, actor.workspace.id):
                state = await operations.panel_round_state(session, t, team, actor.workspace, now)
                schedule = operations.schedule_json(
                    await repo.schedule_of(session, team.id), team, actor.workspace
                )
                teams.append(
                    {
                        "name": team.name,
                        **state,
                        "schedule": t.say(
                            "admin_schedule", schedule=operations.describe_schedule(schedule, t)
                        ),
                    }
                )
        return views.admin_panel(t, teams)

    # --- actions -------------------------------------------------------------------------

    async def _action(self, event: ActionInvoked, actor: Actor, t: Copy) -> list[Message]:
        action = CHAT_ACTIONS.get(event.action_id)
        if action is None:
            raise UsageError("unknown_action")
        return _replies(await action.run(self, actor, t, event))

    async def _admin_round(self, actor: Actor, t: Copy, value: str) -> list[Message]:
        actor.require_admin()
        button = RoundButton.decode(value)
        if button is None:
            raise UsageError("unknown_action")
        if button.verb is RoundVerb.ASK_CLOSE:
            # Closing cannot be undone: say what it will do, and ask.
            preview = await operations.close_preview(self.ctx, actor, button.team)
            return [views.close_confirmation(t, button.team, preview)]
        action = button.verb.action
        if action is None:  # RoundVerb.PANEL: the confirmation's Cancel
            return [await self._admin_panel(actor, t)]
        result = await operations.round_action(self.ctx, actor, button.team, action)
        return [Message.text(result.text), await self._admin_panel(actor, t)]

    async def _schedule_form(self, actor: Actor, t: Copy, team: str) -> Message:
        actor.require_admin()
        current = (await operations.schedule_show(self.ctx, actor, team)).data
        return views.schedule_form(t, team, current)

    def _advice_send(self, actor: Actor, t: Copy, value: str) -> Message:
        """The DM button: the dialog carried what to send (targets, period, and whether the
        answers were very low); nothing was stored to look up."""
        carried = CarriedAdvice.decode(value)
        if carried is None:
            raise UsageError("unknown_action")
        return views.advice_message(
            t,
            t.locale,
            carried.targets,
            self._seed(actor, carried.period or None),
            distress=carried.distress,
            support_url=actor.workspace.support_url,
        )

    async def _forget(self, actor: Actor, t: Copy) -> Message:
        assert actor.person is not None
        await forget_person(self.ctx, actor)
        return Message.text(t.say("forget_done"))

    # --- forms ---------------------------------------------------------------------------

    @property
    def traits(self) -> ButtonTraits:
        """What the action and form tables say of their buttons (`ports.ButtonTraits`)."""
        return BUTTON_TRAITS

    async def _form(self, event: FormSubmitted, actor: Actor, t: Copy) -> list[Message]:
        form = CHAT_FORMS.get(event.form_id)
        if form is None:
            raise UsageError("unknown_action")
        return _replies(await form.run(self, actor, t, event))

    async def _schedule_submitted(self, actor: Actor, event: FormSubmitted) -> Message:
        actor.require_admin()
        values = event.values
        result = await operations.schedule_set(
            self.ctx,
            actor,
            event.private,
            cadence=validate.cadence(values.get("cadence", CadenceKind.WEEKLY)),
            weekday=values.get("weekday", "mon"),
            time=values.get("time", ""),
            week_of_month=values.get("week_of_month") or None,
            anchor=values.get("anchor") or None,
        )
        return Message.text(result.text)

    async def _checkin(self, actor: Actor, t: Copy, values: Mapping[str, str]) -> Message:
        scores = Scores.parse(values)
        result = await record_checkin(self.ctx, actor, scores)
        if result.outcome is Outcome.STORED:
            line = t.say("checkin_stored", period=result.period)
        elif result.outcome is Outcome.ALREADY:
            line = t.say("checkin_already", period=result.period)
        elif result.outcome is Outcome.MOVED and result.counted_from and actor.home_team:
            zone = team_zone(actor.home_team, actor.workspace)
            day = result.counted_from.astimezone(ZoneInfo(zone)).date().isoformat()
            line = t.say("checkin_moved", team=actor.home_team.name, day=day)
        elif result.outcome is Outcome.NO_TEAM and actor.is_admin and actor.person is not None:
            line = t.say("checkin_no_team_admin", user_id=actor.person.user_id)
        elif result.outcome is Outcome.NO_TEAM:
            line = t.say("checkin_no_team")
        else:
            line = t.say("checkin_private")
        counted = result.outcome in (Outcome.STORED, Outcome.ALREADY)
        if counted and actor.home_team and actor.person and self.ctx.lookups:
            self.ctx.lookups.checked_in(actor.home_team.id, actor.person.id)
        if result.edit_queued:
            self.ctx.wake_dispatcher()  # the prompt's "checked in" edit waits in the outbox
        period = result.period or weekly_period(self.ctx.clock.now(), actor.workspace.timezone)
        targets = views.advice_targets(scores.values)
        return views.checkin_result(
            t,
            t.locale,
            line,
            targets,
            self._seed(actor, period),
            period,
            distress=in_distress(scores.values),
            support_url=actor.workspace.support_url,
        )


def _replies(reply: Reply) -> list[Message]:
    return reply if isinstance(reply, list) else [reply]


# --- the tables ----------------------------------------------------------------------------
# Dispatch, `changes_state`, the help and the unknown-command reply all read these
# (bot/chat/registry.py). A handler is called with the engine, the actor, their copy, and the
# command's words after the command word (or the button's event).

CHAT_COMMANDS: Commands[ChatEngine] = Commands(
    Command(
        "help",
        lambda bot, actor, t, rest: ready(views.help_message(t, actor, CHAT_COMMANDS)),
        Writes.NEVER,
        aliases=("",),
    ),
    Command(
        "advice",
        lambda bot, actor, t, topic: ready(bot._advice(actor, t, topic, "chat")),
        Writes.NEVER,
        help=(HelpLine("help_advice", 2),),
    ),
    Command(
        "checkin",
        lambda bot, actor, t, rest: bot._checkin_form(actor, t),
        Writes.NEVER,  # opens the form; the answers come as a form submission
        help=(
            HelpLine("help_checkin", 1, Audience.MEMBERS),
            HelpLine("help_checkin_admin_no_team", 1, Audience.ADMINS_IN_NO_TEAM, names_user=True),
        ),
        aliases=("check-in",),
    ),
    Command(
        "summary",
        ChatEngine._summary,
        Writes.ALWAYS,  # the view is audited
        help=(HelpLine("help_summary", 7, Audience.MANAGERS),),
    ),
    Command("pause", ChatEngine._pause, Writes.ALWAYS, help=(HelpLine("help_pause", 3),)),
    Command(
        "resume",
        lambda bot, actor, t, rest: bot._resume(actor, t),
        Writes.ALWAYS,  # told in the help with `pause`
    ),
    Command(
        "privacy",
        lambda bot, actor, t, rest: privacy_message(bot.ctx, actor, t),
        Writes.NEVER,
        help=(HelpLine("help_privacy", 5),),
    ),
    Command(
        "forget-me",
        lambda bot, actor, t, rest: ready(views.confirm_forget(t)),
        Writes.NEVER,  # only asks to confirm; the button erases
        help=(HelpLine("help_forget", 6),),
    ),
    Command(
        "timezone",
        ChatEngine._timezone,
        Writes.WITH_ARGUMENTS,
        help=(HelpLine("help_timezone", 4),),
    ),
    Command(
        "admin",
        ChatEngine._admin,
        Writes.WITH_ARGUMENTS,
        help=(HelpLine("help_admin", 8, Audience.ADMINS),),
    ),
)
COMMANDS = CHAT_COMMANDS.words

CHAT_ACTIONS: Actions[ChatEngine] = Actions(
    Action(
        "checkin_open",
        lambda bot, actor, t, event: bot._checkin_form(actor, t, prompted_for=event.value),
        writes=False,
        dialog=True,
    ),
    Action(
        "advice",
        lambda bot, actor, t, event: ready(bot._advice(actor, t, event.value, "dialog")),
        writes=False,
        dialog=True,
    ),
    Action(
        "advice_send",  # Slack carries the advice in the dialog's private_metadata
        lambda bot, actor, t, event: ready(
            bot._advice_send(actor, t, event.value or event.private)
        ),
        writes=False,
    ),
    Action(
        "forget_me_confirm",
        lambda bot, actor, t, event: bot._forget(actor, t),
        writes=True,
    ),
    Action(
        "forget_me_cancel",
        lambda bot, actor, t, event: ready(Message.text(t.say("forget_cancelled"))),
        writes=False,
    ),
    Action("pause", lambda bot, actor, t, event: bot._pause(actor, t, ""), writes=True),
    Action("resume", lambda bot, actor, t, event: bot._resume(actor, t), writes=True),
    Action(
        "summary",
        lambda bot, actor, t, event: bot._summary(
            actor, t, shlex.quote(event.value) if event.value else ""
        ),
        writes=True,
        dialog=True,
    ),
    Action("admin_panel", lambda bot, actor, t, event: bot._admin(actor, t, ""), writes=False),
    Action(
        "admin_round",
        lambda bot, actor, t, event: bot._admin_round(actor, t, event.value),
        writes=True,
        refreshes="admin_panel",  # the panel's fresh copy replaces the one clicked
    ),
    Action(
        "admin_schedule",
        lambda bot, actor, t, event: bot._schedule_form(actor, t, event.value),
        writes=False,
        dialog=True,
    ),
)

CHAT_FORMS: Submissions[ChatEngine] = Submissions(
    Submission(
        "checkin",
        lambda bot, actor, t, event: bot._checkin(actor, t, event.values),
        opened_by="checkin_open",
    ),
    Submission(
        "schedule",
        lambda bot, actor, t, event: bot._schedule_submitted(actor, event),
        opened_by="admin_schedule",
        reopens_with_private=True,  # the team's name
    ),
)

# What the tables say of their buttons, for the adapters (`ChatEngine.traits`).
BUTTON_TRAITS = button_traits(CHAT_ACTIONS, CHAT_FORMS)
