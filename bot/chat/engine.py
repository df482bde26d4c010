"""The conversation engine: neutral events in, neutral messages out. Knows no platform.

Authorization is decided here, once per event (`Actor`), so every adapter gets the same
answer for the same person. Handlers never raise at the person: a `RutRadarError` becomes a
polite reply, anything else a short apology while the details go to the log (never a
payload: logs carry no bodies, design privacy rule 4).
"""

from __future__ import annotations

import argparse
import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import operations as admin
from bot.admin.grammar import HelpRequested, parse_chat_admin, run_admin
from bot.admin.identities import (
    actor_for,
    normalize_user_id,
    person_changes,
    person_for_event,
    require_team,
)
from bot.admin.privacy import forget_person, privacy_message
from bot.admin.validate import iso_date
from bot.chat import views
from bot.chat.home import home_messages
from bot.core import audit
from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.errors import NotAllowed, RutRadarError, UsageError
from bot.core.events import ActionInvoked, CommandReceived, Event, FormSubmitted, HomeOpened
from bot.core.ports import Adapter, DeliveryError, Directory, PeopleLookup, SentRef, UnknownPerson
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import team_zone
from bot.rounds.periods import resolve_zone, weekly_period
from bot.rounds.summary import team_summary
from messages.content import LEVELS, Advice, in_distress, load_content
from messages.copy import Copy, copy_for
from messages.model import Message
from storage import repositories as repo
from storage.models import Person, Workspace

log = logging.getLogger(__name__)

Spawner = Callable[[Awaitable[None], str], None]

COMMANDS = (
    "help",
    "advice",
    "checkin",
    "summary",
    "pause",
    "resume",
    "privacy",
    "forget-me",
    "timezone",
    "admin",
)

# What a redelivery may repeat without harm (design privacy rule 12, issue 12 "reads never
# write"): these answer from the database and write nothing, so an event id is claimed only
# for the rest. A platform redelivers an event it got no answer for; answering a redelivered
# `help` again is what it asked for, and claiming its id would be a write per read (and a
# record of the contact) for nothing.
READ_ONLY_COMMANDS = frozenset(
    {"", "help", "advice", "checkin", "check-in", "privacy", "forget-me"}
)  # `forget-me` only asks to confirm; `timezone` and `admin` alone only show
READ_ONLY_ACTIONS = frozenset(
    {"checkin_open", "advice", "advice_send", "forget_me_cancel", "admin_panel", "admin_schedule"}
)


def command_words(text: str) -> tuple[str, str]:
    """`/rut pause until 2026-01-01` → ("pause", "until 2026-01-01")."""
    text = text.strip()
    if text.lower().startswith("/rut"):
        text = text[4:].strip()
    word, _, rest = text.partition(" ")
    return word.lower(), rest.strip()


def changes_state(event: Event) -> bool:
    """Whether handling this event may write something a redelivery must not write twice:
    a check-in, a pause, a forget-me, a time zone set, an admin command, a viewed summary
    (audited). Unknown commands and actions only get an error reply. App Home is claimed: a
    manager's Home audits the releases it shows (and Slack retries its Events API deliveries).
    A person's first contact writes their row, which is idempotent (`person_for_event`)."""
    if isinstance(event, CommandReceived):
        word, rest = command_words(event.text)
        if word in READ_ONLY_COMMANDS or word not in COMMANDS:
            return False
        return not (word in ("timezone", "admin") and not rest)
    if isinstance(event, ActionInvoked):
        return event.action_id not in READ_ONLY_ACTIONS
    return True


@lru_cache(maxsize=8)
def _advice_menu(locale: str) -> Message:
    return views.advice_menu(copy_for(locale), locale)


def _advice_topic(locale: str, topic: str, seed: str) -> Message:
    """Advice on a typed topic. The pieces are picked per person and week (cheap); the
    rendering is kept by the pieces alone (`_topic_message`), so the cache holds nothing
    about who asked for which practice. An unknown topic raises."""
    content = load_content(locale)
    practice = content.find_practice(topic)
    if practice is None:
        topics = ", ".join(p.key for p in content.practices)
        raise UsageError(copy_for(locale).say("unknown_topic", topic=topic, topics=topics))
    return _topic_message(locale, practice.key, views.topic_pieces(locale, practice.key, seed))


@lru_cache(maxsize=1024)
def _topic_message(locale: str, key: str, pieces: tuple[Advice, ...]) -> Message:
    """Most of a `/rut advice` burst's cost was rendering the same pieces again; messages are
    immutable and depend only on their pieces."""
    return views.advice_topic_of(copy_for(locale), locale, key, pieces)


class ChatEngine:
    def __init__(
        self,
        ctx: Context,
        *,
        adapters: Mapping[str, Adapter] | None = None,
        spawn: Spawner | None = None,
    ) -> None:
        self.ctx = ctx
        self._adapters: Mapping[str, Adapter] = adapters if adapters is not None else {}
        self._spawn = spawn

    # --- entry ---------------------------------------------------------------------------

    async def handle(self, event: Event) -> list[Message]:
        """Handle one event; an event id seen before (a platform retry) has no effect. Only
        events the platform may retry *and* that change state (`changes_state`) are claimed:
        the rest leave no trace of the contact, and a redelivered read is answered again."""
        if (
            event.platform_retries
            and changes_state(event)
            and not await self.first_time(event.event_id)
        ):
            log.info("duplicate event ignored", extra={"event_kind": type(event).__name__})
            return []
        try:
            actor = await self._actor(event)
            assert actor.person is not None
            t = copy_for(actor.person.locale or actor.workspace.locale)
            return await self._dispatch(event, actor, t)
        except RutRadarError as exc:
            return [views.error_message(str(exc))]
        except Exception:
            log.exception("event handling failed", extra={"event_kind": type(event).__name__})
            return [views.error_message(copy_for("en").say("oops"))]

    async def first_time(self, event_id: str) -> bool:
        """Claim a platform event id in the database; False for a retry (on any replica).
        Kept only while the platform may retry (`bot.admin.records.PROCESSED_EVENTS_KEPT`)."""
        try:
            async with self.ctx.sessions.begin() as session:
                return await repo.claim_event(session, event_id, self.ctx.clock.now())
        except IntegrityError:
            return False

    async def _actor(self, event: Event) -> Actor:
        """The sender as an Actor: from this process's short-lived cache (bot/core/lookups.py)
        when the event changes nothing about them, else from the database (and kept)."""
        lookups = self.ctx.lookups
        cached = lookups.actor(event) if lookups is not None else None
        if cached is not None:
            if lookups is not None and self._spawn is not None and lookups.due(event):
                self._spawn(self._refresh(event), "actor-refresh")  # served meanwhile
            return cached
        return await self._look_up(event)

    async def _refresh(self, event: Event) -> None:
        await self._look_up(event)

    async def _look_up(self, event: Event) -> Actor:
        """The sender's actor from the database, kept in the cache."""
        lookups = self.ctx.lookups
        generation = lookups.generation if lookups is not None else 0
        workspace, person = await self._sender(event)
        async with self.ctx.sessions() as session:
            actor = await actor_for(session, workspace, person)
        if lookups is not None:
            lookups.keep(event, actor, generation)
        return actor

    async def _sender(self, event: Event) -> tuple[Workspace, Person]:
        """The sender's workspace and person. Read first, without a write transaction (on
        SQLite that would queue behind every other writer): only first contact, or something
        new about the person, opens one."""
        async with self.ctx.sessions() as session:
            workspace = await repo.workspace_by_external_id(
                session, event.where.tenant_id, event.where.platform
            )
            if workspace is not None:
                known = await repo.person_by_user_id(session, workspace.id, event.user_id)
                if known is not None and not person_changes(known, event):
                    return workspace, known
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
            return workspace, person

    async def _dispatch(self, event: Event, actor: Actor, t: Copy) -> list[Message]:
        if isinstance(event, CommandReceived):
            return await self._command(event, actor, t)
        if isinstance(event, ActionInvoked):
            return await self._action(event, actor, t)
        if isinstance(event, FormSubmitted):
            return await self._form(event, actor, t)
        if isinstance(event, HomeOpened):
            return await home_messages(self.ctx, actor, t)
        raise UsageError("I can't handle that kind of event.")

    # --- commands ------------------------------------------------------------------------

    async def _command(self, event: CommandReceived, actor: Actor, t: Copy) -> list[Message]:
        word, rest = command_words(event.text)
        if word in ("", "help"):
            return [views.help_message(t, actor)]
        if word == "advice":
            return [self._advice(actor, t, rest)]
        if word in ("checkin", "check-in"):
            return [await self._checkin_form(actor, t)]
        if word == "privacy":
            return [await privacy_message(self.ctx, actor, t)]
        if word == "pause":
            return [await self._pause(actor, t, rest)]
        if word == "resume":
            return [await self._resume(actor, t)]
        if word == "forget-me":
            return [views.confirm_forget(t)]
        if word == "timezone":
            return [await self._timezone(actor, t, rest)]
        if word == "summary":
            return [await self._summary(actor, t, rest)]
        if word == "admin":
            return [await self._admin(actor, t, rest)]
        raise UsageError(t.say("unknown_command", word=word, commands=", ".join(COMMANDS)))

    def _advice(self, actor: Actor, t: Copy, topic: str) -> Message:
        if not topic:
            return _advice_menu(t.locale)
        return _advice_topic(t.locale, topic, self._seed(actor))

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
        if actor.home_team is not None:
            async with self.ctx.sessions() as session:
                rnd = await repo.open_round(session, actor.home_team.id)
                period = rnd.period if rnd else None
                if rnd is not None and actor.person is not None:
                    prompt = await repo.prompt_delivery(session, rnd.id, actor.person.id)
                    answered = prompt is not None and prompt.answered
        if prompted_for and prompted_for != period:
            return views.round_closed_dialog(t, t.locale, prompted_for)
        if answered and period is not None:
            # Counted already: say so before anyone answers five questions for nothing.
            return Message.text(t.say("checkin_done_before", period=period))
        return views.checkin_form(t, t.locale, period)

    async def _pause(self, actor: Actor, t: Copy, rest: str) -> Message:
        assert actor.person is not None
        until: date = date.max
        words = rest.split()
        if words:
            if words[0].lower() == "until" and len(words) == 2:
                until = iso_date(words[1])
            else:
                raise UsageError(t.say("pause_usage"))
            if until <= self.ctx.clock.now().date():
                raise UsageError(t.say("pause_past"))
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
            raise NotAllowed(t.say("summary_not_manager"))
        async with self.ctx.sessions.begin() as session:
            if rest:
                team = await require_team(session, actor.workspace, " ".join(shlex.split(rest)))
                actor.require_manager_of(team)
            elif len(actor.managed) == 1:
                team = actor.managed[0]
            else:
                return await self._summary_overview(session, actor, t)
            summary = await team_summary(session, actor.workspace, team, viewer_id=actor.person_id)
            audit.record(
                session,
                actor,
                "summary_viewed",
                self.ctx.clock.now(),
                team_id=team.id,
                period=summary["period"],
                via="chat",
            )
        return views.summary_message(t, t.locale, summary)

    async def _summary_overview(self, session: AsyncSession, actor: Actor, t: Copy) -> Message:
        """Every team the manager manages, each as its viewer may see it. The overview shows
        a released round's practice needing attention, so each team's view is audited."""
        summaries = []
        for team in sorted(actor.managed, key=lambda team: team.name.casefold()):
            summary = await team_summary(session, actor.workspace, team, viewer_id=actor.person_id)
            audit.record(
                session,
                actor,
                "summary_viewed",
                self.ctx.clock.now(),
                team_id=team.id,
                period=summary["period"],
                via="chat",
            )
            summaries.append(summary)
        return views.summary_overview(t, t.locale, summaries)

    async def _admin(self, actor: Actor, t: Copy, rest: str) -> Message:
        actor.require_admin()
        if not rest:
            return await self._admin_panel(actor, t)
        try:
            ns = parse_chat_admin(rest)
        except HelpRequested as wanted:
            return wanted.help.message()
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
        names = [normalize_user_id(raw) for raw in ns.user_ids]
        adding = "add" in (getattr(ns, "action", None), getattr(ns, "group_action", None))
        emails = [name for name in names if "@" in name]
        adapter = self._adapters.get(actor.workspace.platform)
        if not isinstance(adapter, PeopleLookup):
            if emails:
                raise UsageError(
                    f"I can't look up e-mail addresses on {actor.workspace.platform}: name "
                    f"people by their user id instead of {emails[0]}."
                )
            return names
        resolved = []
        for name in names:
            if "@" not in name and not adding:
                resolved.append(name)
                continue
            try:
                resolved.append(await adapter.resolve_person(actor.workspace.external_id, name))
            except UnknownPerson as exc:
                raise UsageError(f"{exc} Nothing was changed.") from None
            except DeliveryError as exc:
                raise UsageError(
                    f"I couldn't ask {actor.workspace.platform} about {name} ({exc.reason}). "
                    "Nothing was changed."
                ) from None
        return resolved

    async def _channel_members(self, actor: Actor, raw_channel: str) -> list[str]:
        """A channel's members, asked of the platform (Slack: conversations.members)."""
        adapter = self._adapters.get(actor.workspace.platform)
        if not isinstance(adapter, Directory):
            raise UsageError(
                "Creating a team from a channel works only where the platform lists channel members."
            )
        channel = raw_channel.strip()
        if channel.startswith("<#") and channel.endswith(">"):
            channel = channel[2:-1].split("|", 1)[0]
        try:
            return await adapter.channel_members(actor.workspace.external_id, channel.lstrip("#"))
        except DeliveryError as exc:
            raise UsageError(
                f"I couldn't list that channel's members ({exc.reason}). For a private channel, "
                "invite Rut Radar to it first."
            ) from None

    async def _admin_panel(self, actor: Actor, t: Copy) -> Message:
        teams = []
        now = self.ctx.clock.now()
        async with self.ctx.sessions() as session:
            for team in await repo.teams_in(session, actor.workspace.id):
                state = await admin.panel_round_state(session, t, team, actor.workspace, now)
                schedule = admin.schedule_json(
                    await repo.schedule_of(session, team.id), team, actor.workspace
                )
                teams.append(
                    {
                        "name": team.name,
                        **state,
                        "schedule": t.say(
                            "admin_schedule", schedule=admin.describe_schedule(schedule)
                        ),
                    }
                )
        return views.admin_panel(t, teams)

    # --- actions -------------------------------------------------------------------------

    async def _action(self, event: ActionInvoked, actor: Actor, t: Copy) -> list[Message]:
        action, value = event.action_id, event.value
        if action == "checkin_open":
            return [await self._checkin_form(actor, t, prompted_for=value)]
        if action == "advice":
            return [self._advice(actor, t, value)]
        if action == "advice_send":
            return [self._advice_send(actor, t, value or event.private)]
        if action == "forget_me_confirm":
            return [await self._forget(actor, t)]
        if action == "pause":
            return [await self._pause(actor, t, "")]
        if action == "resume":
            return [await self._resume(actor, t)]
        if action == "forget_me_cancel":
            return [Message.text(t.say("forget_cancelled"))]
        if action == "summary":
            return [await self._summary(actor, t, shlex.quote(value) if value else "")]
        if action == "admin_panel":
            return [await self._admin(actor, t, "")]
        if action == "admin_round":
            verb, _, team = value.partition("|")
            actor.require_admin()
            if verb == "ask-close":
                # Closing cannot be undone: say what it will do, and ask.
                preview = await admin.close_preview(self.ctx, actor, team)
                return [views.close_confirmation(t, team, preview)]
            if verb == "panel":
                return [await self._admin_panel(actor, t)]
            result = await admin.round_action(self.ctx, actor, team, verb)
            return [Message.text(result.text), await self._admin_panel(actor, t)]
        if action == "admin_schedule":
            actor.require_admin()
            current = (await admin.schedule_show(self.ctx, actor, value)).data
            return [views.schedule_form(t, value, current)]
        raise UsageError(t.say("unknown_action"))

    def _advice_send(self, actor: Actor, t: Copy, value: str) -> Message:
        """The DM button: the dialog carried what to send (targets, period, and whether the
        answers were very low); nothing was stored to look up."""
        targets_raw, *rest = value.split("|")
        period, flags = (rest[0], rest[1:]) if rest else ("", [])
        keys = {p.key for p in load_content(t.locale).practices}
        targets = []
        for item in targets_raw.split(";"):
            key, _, level = item.partition(":")
            if key not in keys or level not in LEVELS:
                raise UsageError(t.say("unknown_action"))
            targets.append((key, level))
        if any(flag != views.DISTRESS_FLAG for flag in flags):
            raise UsageError(t.say("unknown_action"))
        return views.advice_message(
            t,
            t.locale,
            targets,
            self._seed(actor, period or None),
            distress=views.DISTRESS_FLAG in flags,
            support_url=actor.workspace.support_url,
        )

    async def _forget(self, actor: Actor, t: Copy) -> Message:
        assert actor.person is not None
        await forget_person(self.ctx, actor)
        return Message.text(t.say("forget_done"))

    # --- forms ---------------------------------------------------------------------------

    async def _form(self, event: FormSubmitted, actor: Actor, t: Copy) -> list[Message]:
        if event.form_id == "checkin":
            return [await self._checkin(actor, t, event.values)]
        if event.form_id == "schedule":
            actor.require_admin()
            values = event.values
            result = await admin.schedule_set(
                self.ctx,
                actor,
                event.private,
                cadence=values.get("cadence", "weekly"),
                weekday=values.get("weekday", "mon"),
                time=values.get("time", ""),
                week_of_month=values.get("week_of_month") or None,
                anchor=values.get("anchor") or None,
            )
            return [Message.text(result.text)]
        raise UsageError(t.say("unknown_action"))

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
        if result.prompt_ref and result.period and self._spawn:
            ref = SentRef.from_json(result.prompt_ref)
            adapter = self._adapters.get(ref.platform)
            if adapter is not None:
                done = views.checked_in_message(t, result.period)
                self._spawn(adapter.update(ref, done), "prompt-update")
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
