"""The engine through neutral events: every command, its polite refusals, and what is stored."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.chat import engine as engine_module
from bot.chat.engine import ChatEngine, changes_state
from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.errors import RetryLater
from bot.core.events import HomeOpened
from bot.rounds.lifecycle import close_round, open_round
from messages.model import Buttons, Form, Section
from storage import repositories as repo
from storage.models import (
    Answer,
    AuditEvent,
    Delivery,
    Membership,
    Person,
    ProcessedEvent,
    Schedule,
    Team,
)
from tests.conftest import World
from tests.helpers import action, checkin, command, text_of, where


async def rows(ctx: Context, model: type) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def say(engine: ChatEngine, user: str, text: str) -> str:
    replies = await engine.handle(command(user, text))
    assert len(replies) >= 1
    return "\n".join(text_of(r) for r in replies)


async def test_help_lists_what_this_person_may_do(world: World) -> None:
    engine = ChatEngine(world.ctx)
    member = await say(engine, "u0", "/rut help")
    assert "/rut checkin" in member and "/rut admin" not in member and "/rut summary" not in member
    assert "/rut summary" in await say(engine, "boss", "help")
    assert "/rut admin" in await say(engine, "root", "")


async def test_advice_understands_synonyms_and_refuses_unknown_topics_politely(
    world: World,
) -> None:
    engine = ChatEngine(world.ctx)
    assert "Seek new training" in await say(engine, "u0", "/rut advice learning")
    assert "Consider a new path" in await say(engine, "u0", "/rut advice new path")
    unknown = await say(engine, "u0", "/rut advice knitting")
    assert "knitting" in unknown and "assess, routine, training, strengths, path" in unknown
    menu = (await engine.handle(command("u0", "/rut advice")))[0]
    assert any(isinstance(b, Buttons) and len(b.buttons) == 5 for b in menu.blocks)


async def test_unknown_command_is_explained(world: World) -> None:
    reply = await say(ChatEngine(world.ctx), "u0", "/rut dance")
    assert "dance" in reply and "checkin" in reply


async def test_checkin_in_open_round_is_counted_and_advice_targets_the_lowest(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    form = (await engine.handle(command("u0", "/rut checkin")))[0]
    assert form.surface == "dialog" and isinstance(form.form, Form)
    assert [i.input_id for i in form.form.inputs][:5] == [
        "assess",
        "routine",
        "training",
        "strengths",
        "path",
    ]
    result = (
        await engine.handle(checkin("u0", assess=4, routine=3, training=1, strengths=5, path=2))
    )[0]
    assert result.surface == "dialog"  # scores and advice stay out of the chat history
    text = text_of(result)
    assert "Counted for 2026-W48" in text
    sections = [b.title for b in result.blocks if isinstance(b, Section)]
    assert sections == ["Seek new training", "Consider a new path"]
    again = text_of((await engine.handle(checkin("u0", routine=1)))[0])
    assert "already counted" in again
    assert await rows(world.ctx, Answer) == 1


async def test_checkin_without_round_or_team_stores_nothing_and_says_so(world: World) -> None:
    engine = ChatEngine(world.ctx)
    assert "nothing was stored" in text_of((await engine.handle(checkin("u0")))[0])
    assert "not in a team" in text_of((await engine.handle(checkin("stranger")))[0])
    assert await rows(world.ctx, Answer) == 0


async def test_unshared_comment_is_never_stored(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    await engine.handle(checkin("u0", comment="my secret"))
    await engine.handle(checkin("u1", comment="for the team", share=True))
    async with world.ctx.sessions() as session:
        comments = set((await session.scalars(select(Answer.comment))).all())
    assert comments == {None, "for the team"}


async def test_malformed_checkin_is_refused_and_writes_nothing(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    bad = checkin("u0")
    bad.values["routine"] = "9"  # type: ignore[index]
    reply = text_of((await engine.handle(bad))[0])
    assert "number from 1 to 5" in reply
    assert await rows(world.ctx, Answer) == 0


async def test_summary_is_for_managers_of_that_team_only(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    assert "managers" in await say(engine, "u0", "/rut summary")
    async with ctx.sessions.begin() as session:
        other = Team(workspace_id=world.workspace.id, name="Data")
        session.add(other)
        await session.flush()
        session.add(Membership(person_id=world.outsider.id, team_id=other.id, role="manager"))
    refused = await say(engine, "stranger", "/rut summary Platform")
    assert "Only the managers of Platform" in refused
    assert await rows(ctx, AuditEvent) == 0


async def test_manager_sees_counts_while_open_and_scores_only_after_close(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    for user in ("u0", "u1", "u2", "u3", "u4"):
        await engine.handle(checkin(user, routine=1))
    during = await say(engine, "boss", "/rut summary")
    assert "No round has closed yet" in during and "Mean" not in during
    assert "5 of 5 have answered" in during
    await close_round(ctx, world.cli, world.team)
    after = await say(engine, "boss", "/rut summary")
    assert "Overhaul your routine ⚠" in after and "Mean 1.0 / 5" in after
    async with ctx.sessions() as session:
        viewed = (await session.scalars(select(AuditEvent.action))).all()
    assert viewed.count("summary_viewed") == 2


async def test_a_manager_of_several_teams_gets_an_overview_with_a_button_per_team(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    async with ctx.sessions.begin() as session:
        data = Team(workspace_id=world.workspace.id, name="Data")
        session.add(data)
        await session.flush()
        session.add(Membership(person_id=world.manager.id, team_id=data.id, role="manager"))
    await open_round(ctx, world.cli, world.team)
    for user in ("u0", "u1", "u2", "u3", "u4"):
        await engine.handle(checkin(user, routine=1))
    await close_round(ctx, world.cli, world.team)

    overview = (await engine.handle(command("boss", "/rut summary")))[0]
    assert overview.surface == "dialog" and "summary_overview" in overview.tags
    text = text_of(overview)
    assert "Which one" not in text and "You manage 2 teams" in text
    rows_shown = {b.title: dict(b.fields) for b in overview.blocks if isinstance(b, Section)}
    assert list(rows_shown) == ["Data", "Platform"]
    assert rows_shown["Platform"]["Needs attention"] == "Overhaul your routine"
    assert rows_shown["Platform"]["Answered"].startswith("5 of 5")
    assert rows_shown["Data"]["Latest round"] == "none closed yet"
    buttons = [b for block in overview.blocks if isinstance(block, Buttons) for b in block.buttons]
    assert [(b.action_id, b.value) for b in buttons] == [
        ("summary", "Data"),
        ("summary", "Platform"),
    ]
    # Each team's view is recorded, as a summary's is.
    async with ctx.sessions() as session:
        viewed = (
            await session.scalars(
                select(AuditEvent.team_id).where(AuditEvent.action == "summary_viewed")
            )
        ).all()
    assert sorted(v or 0 for v in viewed) == sorted([world.team.id, data.id])

    # A button opens that team's summary; the help card's button opens the overview.
    opened = (await engine.handle(action("boss", "summary", "Platform")))[0]
    assert "summary" in opened.tags and "Platform: team check-in" in text_of(opened)
    help_card = (await engine.handle(command("boss", "/rut help")))[0]
    summary_button = next(
        b
        for block in help_card.blocks
        if isinstance(block, Buttons)
        for b in block.buttons
        if b.action_id == "summary"
    )
    assert summary_button.value == ""
    again = (await engine.handle(action("boss", "summary", summary_button.value)))[0]
    assert "summary_overview" in again.tags


async def test_member_made_manager_mid_round_does_not_see_that_round(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    for user in ("u0", "u1", "u2", "u3", "u4"):
        await engine.handle(checkin(user))
    assert "1 manager added to Platform: u0" in await say(
        engine, "root", "/rut admin team managers add Platform u0"
    )
    await close_round(ctx, world.cli, world.team)
    assert "No round has closed yet" in await say(engine, "u0", "/rut summary")
    assert "5 of" in await say(engine, "boss", "/rut summary")


async def test_pause_resume_and_timezone_validate_their_arguments(world: World) -> None:
    engine = ChatEngine(world.ctx)
    assert "paused until 2026-12-24" in await say(engine, "u0", "/rut pause until 2026-12-24")
    assert "YYYY-MM-DD" in await say(engine, "u0", "/rut pause until tomorrow")
    assert "already passed" in await say(engine, "u0", "/rut pause until 2020-01-01")
    assert "on again" in await say(engine, "u0", "/rut resume")
    assert "weren't paused" in await say(engine, "u0", "/rut resume")
    assert "America/New_York" in await say(engine, "u0", "/rut timezone america/new_york")
    assert "Europe/Berlin" in await say(engine, "u0", "/rut timezone Mars/Base")


async def test_admin_commands_in_chat_are_admin_only_and_audited(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    refused = await say(engine, "u0", "/rut admin team add Data")
    assert "Only Rut Radar admins" in refused
    assert "Team Data created" in await say(engine, "root", "/rut admin team add Data")
    bad_day = await say(
        engine,
        "root",
        "/rut admin schedule set Data --cadence weekly --weekday funday --time 09:00",
    )
    assert "funday" in bad_day and "mon, tue, wed" in bad_day
    bad_time = await say(
        engine, "root", "/rut admin schedule set Data --cadence weekly --weekday mon --time 25:00"
    )
    assert "25:00" in bad_time and "HH:MM" in bad_time
    assert "cannot be below 3" in await say(
        engine, "root", "/rut admin workspace set --threshold 2"
    )
    assert "no team 'Nope'" in await say(engine, "root", "/rut admin round open Nope")
    assert await rows(ctx, Schedule) == 0
    ok = await say(
        engine, "root", "/rut admin schedule set Data --cadence weekly --weekday mon --time 09:30"
    )
    assert "weekly on Monday at 09:30" in ok  # the day named, not as typed
    async with ctx.sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert sorted(actions) == ["schedule_set", "team_added"]


CHAT_COMMAND_ERRORS = {
    "round clos Platform": "'clos' is not a round action. Use open, close, skip or list. "
    "For help: /rut admin round --help.",
    "frob": "'frob' is not an admin command. Use workspace, admin, person, team, schedule or "
    "round. For help: /rut admin --help.",
    "team members": "Which team members action? Use add or remove. For help: /rut admin team "
    "members --help.",
    "round open": "/rut admin round open needs NAME (the team's name; quote it if it has "
    "spaces). For help: /rut admin round open --help.",
    "schedule set Platform --weekday mon": "/rut admin schedule set needs --cadence (weekly, "
    "biweekly or monthly) and --time (local time, e.g. 09:30). For help: /rut admin schedule "
    "set --help.",
    "workspace set --threshold": "--threshold needs a value. For help: /rut admin workspace "
    "set --help.",
    "round list Platform surplus": "I don't know what to do with 'surplus' here. For help: "
    "/rut admin --help.",
    "team add 'Data": "I couldn't read that: No closing quotation.",
}


async def test_admin_command_errors_in_chat_are_plain_sentences(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    for text, expected in CHAT_COMMAND_ERRORS.items():
        [reply] = await engine.handle(command("root", f"/rut admin {text}"))
        assert reply.tags == ("error",), text
        assert reply.fallback == expected
        assert "`" not in text_of(reply) and "argument" not in text_of(reply)


async def test_admin_help_in_chat_is_formatted_help_not_an_error(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    for text in ("help", "--help", "round --help", "round help", "team members help"):
        [reply] = await engine.handle(command("root", f"/rut admin {text}"))
        assert reply.tags == ("admin_help",), text
        assert "error" not in reply.tags
    [top] = await engine.handle(command("root", "/rut admin help"))
    assert "round: open, close or skip a round by hand" in text_of(top)
    [rnd] = await engine.handle(command("root", "/rut admin round --help"))
    assert "close: close the open round now" in text_of(rnd)
    assert "[-h]" not in text_of(rnd)
    [add] = await engine.handle(command("root", "/rut admin team members add --help"))
    assert "USER …: people, by user id or e-mail address" in text_of(add)
    # `help` as a team's name, not in command position, is still a name
    assert "no team 'help'" in await say(engine, "root", "/rut admin round open help")


async def test_admin_panel_opens_and_closes_rounds(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    panel = (await engine.handle(command("root", "/rut admin")))[0]
    buttons = [b for block in panel.blocks if isinstance(block, Buttons) for b in block.buttons]
    assert ("admin_round", "open|Platform") in [(b.action_id, b.value) for b in buttons]
    opened = await engine.handle(action("root", "admin_round", "open|Platform"))
    assert "is open" in text_of(opened[0])
    refreshed = [
        b for block in opened[1].blocks if isinstance(block, Buttons) for b in block.buttons
    ]
    assert ("admin_round", "ask-close|Platform") in [(b.action_id, b.value) for b in refreshed]
    assert ("admin_round", "open|Platform") not in [(b.action_id, b.value) for b in refreshed]
    assert "Schedule: none" in text_of(opened[1])
    [ask] = await engine.handle(action("root", "admin_round", "ask-close|Platform"))
    assert "admin_close_confirm" in ask.tags
    assert ask.fallback == (
        "Close Platform's round 2026-W48 now? 0 of 0 answered, threshold 5: the results will "
        "be withheld, and the answers deleted. This cannot be undone."
    )
    confirm = [b for block in ask.blocks if isinstance(block, Buttons) for b in block.buttons]
    assert [(b.value, b.style) for b in confirm] == [
        ("close|Platform", "danger"),
        ("panel|Platform", "default"),
    ]
    [back] = await engine.handle(action("root", "admin_round", "panel|Platform"))
    assert "admin_panel" in back.tags  # "Not yet": the panel again, nothing closed
    closed = await engine.handle(action("root", "admin_round", "close|Platform"))
    assert "Withheld: 0 answered" in text_of(closed[0])
    after = [b for block in closed[1].blocks if isinstance(block, Buttons) for b in block.buttons]
    assert [b.action_id for b in after] == ["admin_schedule"]  # no Open for a closed period
    assert "Round 2026-W48 is over. The next one can be opened from 2026-11-30." in text_of(
        closed[1]
    )
    assert "Only Rut Radar admins" in text_of(
        (await engine.handle(action("u0", "admin_round", "open|Platform")))[0]
    )


async def test_close_confirmation_says_who_will_see_the_results(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    for member in world.members[:5]:
        await engine.handle(checkin(member.user_id))
    [ask] = await engine.handle(action("root", "admin_round", "ask-close|Platform"))
    assert "5 of" in ask.fallback and "threshold 5" in ask.fallback
    assert "the results will be released to 1 manager, and the answers deleted" in ask.fallback
    async with ctx.sessions.begin() as session:
        root = await session.get(Person, world.admin.id)
        assert root is not None
        root.locale = "de"
    [frage] = await engine.handle(action("root", "admin_round", "ask-close|Platform"))
    assert "Die Ergebnisse gehen an 1 Manager" in frage.fallback


async def test_admin_plurals_go_through_ngettext_in_both_locales(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    assert "1 member added to Platform: u0." in await say(
        engine, "root", "/rut admin team members add Platform u0"
    )
    assert "Platform: 6 members, 1 manager" in await say(engine, "root", "/rut admin team list")
    async with ctx.sessions.begin() as session:
        root = await session.get(Person, world.admin.id)
        assert root is not None
        root.locale = "de"
    assert "1 Manager zu Platform hinzugefügt: u1." in await say(
        engine, "root", "/rut admin team managers add Platform u1"
    )
    assert "Platform: 5 Mitglieder, 2 Manager" in await say(engine, "root", "/rut admin team list")
    assert "1 Person ist jetzt Admin: u2." in await say(engine, "root", "/rut admin admin add u2")


async def test_forget_me_erases_the_person_but_keeps_counts(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    await engine.handle(checkin("u0"))
    confirm = await say(engine, "u0", "/rut forget-me")
    assert "Erase?" in confirm
    assert await rows(ctx, Person) == 9  # nothing happens before confirming
    done = await engine.handle(action("u0", "forget_me_confirm"))
    assert "no longer knows you" in text_of(done[0])
    async with ctx.sessions() as session:
        assert await session.scalar(select(Person).where(Person.user_id == "u0")) is None
        answered = (
            await session.scalars(select(Delivery).where(Delivery.answered.is_(True)))
        ).all()
        assert len(answered) == 1 and answered[0].person_id is None
        labels = set((await session.scalars(select(AuditEvent.actor_label))).all())
    assert labels == {"erased person", "command line"}


async def test_privacy_shows_what_is_stored_and_who_looked(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    await say(engine, "boss", "/rut summary")
    text = await say(engine, "u0", "/rut privacy")
    assert "Home team: Platform" in text and "U0" in text
    assert "Boss" in text  # the manager's view of the team's results is listed


async def test_retried_event_has_no_second_effect(world: World, ctx: Context) -> None:
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    event = checkin("u0")
    assert await engine.handle(event)
    assert await engine.handle(event) == []
    assert await rows(ctx, Answer) == 1


async def test_a_retry_of_an_event_whose_handling_failed_is_handled_not_dropped(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: the claim of an event whose handler fails after claiming it is
    released, and the failure is `RetryLater` (for the adapter's 503), not an apology, so
    the platform retries the same delivery and the retry does the work."""
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    real = engine_module.record_checkin
    failures = iter([RuntimeError("the database went away mid-way")])

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        for failure in failures:
            raise failure
        return await real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "record_checkin", flaky)
    event = checkin("u0")  # a Teams task/submit: Teams redelivers it when it got no answer
    with pytest.raises(RetryLater) as failed:
        await engine.handle(event)
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert str(failed.value) == "FormSubmitted"  # the kind of event, nothing from it
    assert await rows(ctx, Answer) == 0
    assert await rows(ctx, ProcessedEvent) == 0  # the claim went with the failure

    [handled] = await engine.handle(event)  # the retry
    assert "error" not in handled.tags and await rows(ctx, Answer) == 1
    assert await engine.handle(event) == []  # and now it is a duplicate
    assert await rows(ctx, Answer) == 1


async def test_an_event_never_retried_or_not_claimed_gets_the_apology(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No retry will come for a Slack slash command (nor the playground), and a read is not
    claimed: their unexpected failure is answered to the person, with a short apology."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ChatEngine, "_dispatch", broken)
    engine = ChatEngine(ctx)
    once = dataclasses.replace(command("u0", "pause"), platform_retries=False)
    read = command("u0", "help")  # retried by its platform, but changes nothing
    for event in (once, read):
        [apology] = await engine.handle(event)
        assert "error" in apology.tags
    assert await rows(ctx, ProcessedEvent) == 0


async def test_a_claim_left_by_a_killed_process_runs_out_and_the_retry_does_the_work(
    world: World, ctx: Context, clock: ManualClock
) -> None:
    """At least once across a crash: a process killed between claiming an event and doing its
    work leaves a claim that is not done. Retries within the lease are dropped (the work may
    still be running elsewhere); the first after it takes the claim over and does the work,
    once; a claim that is done is never taken over."""
    engine = ChatEngine(ctx)
    await open_round(ctx, world.cli, world.team)
    event = checkin("u0")
    async with ctx.sessions.begin() as session:  # what the killed process got to do
        assert await repo.claim_event(session, event.event_id, clock.now())

    assert await engine.handle(event) == []  # Slack's first, immediate retry
    clock.advance(repo.CLAIM_LEASE - timedelta(minutes=1))
    assert await engine.handle(event) == []
    assert await rows(ctx, Answer) == 0

    clock.advance(timedelta(minutes=1))  # the lease has run out
    [handled] = await engine.handle(event)
    assert "error" not in handled.tags and await rows(ctx, Answer) == 1
    clock.advance(repo.CLAIM_LEASE * 3)  # done: a duplicate however late it comes
    assert await engine.handle(event) == []
    assert await rows(ctx, Answer) == 1 and await rows(ctx, ProcessedEvent) == 1


async def test_a_polite_refusal_keeps_the_claim_and_a_cancelled_handler_releases_it(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ChatEngine(ctx)
    refused = command("u0", "pause until yesterday")  # a UsageError: answered, so claimed
    [reply] = await engine.handle(refused)
    assert "error" in reply.tags and await engine.handle(refused) == []

    async def cancelled(*args: Any, **kwargs: Any) -> Any:
        raise asyncio.CancelledError  # the process stopping mid-way

    monkeypatch.setattr(ChatEngine, "_dispatch", cancelled)
    stopped = command("u1", "pause")
    claimed_before = await rows(ctx, ProcessedEvent)
    with pytest.raises(asyncio.CancelledError):
        await engine.handle(stopped)
    assert await rows(ctx, ProcessedEvent) == claimed_before
    monkeypatch.undo()
    [paused] = await engine.handle(stopped)  # the redelivery after a restart
    assert "error" not in paused.tags


async def test_work_claimed_by_an_adapter_is_released_when_it_fails(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    with pytest.raises(RetryLater) as failed:
        async with engine.claimed("slack:Ev-fails") as first:
            assert first
            raise RuntimeError("the deletion failed")
    assert isinstance(failed.value.__cause__, RuntimeError)
    async with engine.claimed("slack:Ev-fails") as first:  # the retry does the work
        assert first
    async with engine.claimed("slack:Ev-fails") as first:  # a retry after that: nothing
        assert not first
    assert await rows(ctx, ProcessedEvent) == 1


def test_only_events_that_change_state_are_claimed() -> None:
    reads = ("help", "/rut", "/rut advice routine", "privacy", "checkin", "forget-me", "timezone")
    for text in (*reads, "admin", "frobnicate"):
        assert not changes_state(command("u0", text)), text
    writes = (
        "pause",
        "resume",
        "timezone Europe/Paris",
        "summary",
        "admin team list",
        "/rut pause",
    )
    for text in writes:
        assert changes_state(command("u0", text)), text
    assert not changes_state(action("u0", "advice", "routine"))
    assert not changes_state(action("u0", "checkin_open"))
    for write in ("forget_me_confirm", "pause", "resume", "summary", "admin_round", "new"):
        assert changes_state(action("u0", write)), write
    assert changes_state(checkin("u0"))


async def test_only_a_managers_home_is_claimed(world: World, ctx: Context) -> None:
    """A manager's Home audits the releases it shows, so a redelivery must not show them
    twice; anyone else's Home only reads and leaves no record of the visit."""
    engine = ChatEngine(ctx)
    member = HomeOpened(event_id="ev-home-member", where=where("u0"), user_id="u0")
    assert await engine.handle(member) and await engine.handle(member)
    assert await rows(ctx, ProcessedEvent) == 0
    boss = world.manager.user_id
    manager = HomeOpened(event_id="ev-home-boss", where=where(boss), user_id=boss)
    assert await engine.handle(manager)
    assert await engine.handle(manager) == []  # the redelivery: a duplicate
    assert await rows(ctx, ProcessedEvent) == 1
    assert changes_state(member) and changes_state(manager)  # before the sender is known
    assert not changes_state(member, await world.actor(world.members[0]))


async def test_a_redelivered_read_is_answered_again_and_leaves_no_record(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)
    event = command("u0", "advice routine")
    first = await engine.handle(event)
    assert first and await engine.handle(event) == first
    assert await rows(ctx, ProcessedEvent) == 0


async def test_typed_advice_is_a_personal_reply_and_a_pressed_one_a_dialog(world: World) -> None:
    """Advice asked for by name needs no dialog opened within the request; a practice's
    button (which may be on the Home, where nothing can be said in a chat) opens one."""
    engine = ChatEngine(world.ctx)
    [typed] = await engine.handle(command("u0", "advice routine"))
    [pressed] = await engine.handle(action("u0", "advice", "routine"))
    assert (typed.surface, pressed.surface) == ("chat", "dialog")
    assert typed.blocks == pressed.blocks and typed.cacheable


async def test_advice_send_button_carries_what_it_needs(world: World) -> None:
    engine = ChatEngine(world.ctx)
    result = (await engine.handle(checkin("u0", routine=1)))[0]
    button = next(b for block in result.blocks if isinstance(block, Buttons) for b in block.buttons)
    assert button.value == "" and result.private  # carried by the dialog, not stored
    sent = (await engine.handle(action("u0", button.action_id, private=result.private)))[0]
    assert sent.surface == "chat" and "Overhaul your routine" in text_of(sent)
    forged = (await engine.handle(action("u0", "advice_send", "drop-table:rut|x")))[0]
    assert "no longer valid" in text_of(forged)


async def test_e_mail_addresses_are_refused_where_the_platform_cannot_look_them_up(
    world: World, ctx: Context
) -> None:
    engine = ChatEngine(ctx)  # no adapter that can look people up (playground, Teams)
    reply = await say(engine, "root", "/rut admin team members add Platform ada@example.com")
    assert "I can't look up e-mail addresses" in reply and "ada@example.com" in reply
    assert await rows(ctx, Person) == 9


async def test_an_admin_in_no_team_is_told_how_to_join_one_not_offered_a_check_in(
    world: World, ctx: Context
) -> None:
    from bot.core.events import HomeOpened
    from tests.helpers import where

    engine = ChatEngine(ctx)
    [help_reply] = await engine.handle(command("root", "/rut help"))
    buttons = [
        b.action_id for blk in help_reply.blocks if isinstance(blk, Buttons) for b in blk.buttons
    ]
    assert "checkin_open" not in buttons and "admin_panel" in buttons
    assert "/rut admin team members add TEAM root" in text_of(help_reply)
    # A member (in a team or not) is still offered the check-in.
    [member_help] = await engine.handle(command("u0", "/rut help"))
    assert "checkin_open" in [
        b.action_id for blk in member_help.blocks if isinstance(blk, Buttons) for b in blk.buttons
    ]
    home = await engine.handle(
        HomeOpened(event_id="home-root", where=where("root"), user_id="root")
    )
    member_home = next(m for m in home if "home_member" in m.tags)
    assert "checkin_open" not in [
        b.action_id for blk in member_home.blocks if isinstance(blk, Buttons) for b in blk.buttons
    ]
    assert "members add TEAM root" in text_of(member_home)
    # Checking in anyway: nothing stored, and the admin is told how to add themselves.
    reply = text_of((await engine.handle(checkin("root")))[0])
    assert "nothing was stored" in reply and "/rut admin team members add TEAM root" in reply
    assert "Ask a Rut Radar admin" not in reply
    assert "Ask a Rut Radar admin" in text_of((await engine.handle(checkin("stranger")))[0])


async def test_privacy_names_the_role_and_the_week_of_each_view_never_the_time(
    world: World, ctx: Context
) -> None:
    from datetime import timedelta

    engine = ChatEngine(ctx)
    assert "Role: manager" in await say(engine, "boss", "/rut privacy")
    assert "Role: admin" in await say(engine, "root", "/rut privacy")
    assert "Role: member" in await say(engine, "u0", "/rut privacy")
    await say(engine, "boss", "/rut summary")
    await say(engine, "boss", "/rut summary")  # the same week: listed once
    ctx.clock.advance(timedelta(days=7))  # type: ignore[attr-defined]
    await say(engine, "boss", "/rut summary")
    text = await say(engine, "u0", "/rut privacy")
    assert "Boss, week 2026-W49" in text and "Boss, week 2026-W48" in text
    assert text.index("2026-W49") < text.index("2026-W48")  # newest first
    assert text.count("Boss, week") == 2
    assert "UTC" not in text and "09:00" not in text  # never finer than the week


async def test_check_in_after_checking_in_says_so_before_the_form(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)  # prompt deliveries for the team
    first = (await engine.handle(command("u0", "/rut checkin")))[0]
    assert isinstance(first.form, Form)
    await engine.handle(checkin("u0"))
    again = (await engine.handle(command("u0", "/rut checkin")))[0]
    assert again.form is None and "already checked in for 2026-W48" in text_of(again)
    button = (await engine.handle(action("u0", "checkin_open", "2026-W48")))[0]
    assert button.form is None and "already checked in" in text_of(button)
    # Someone else in the team still gets the form.
    assert isinstance((await engine.handle(command("u1", "/rut checkin")))[0].form, Form)
