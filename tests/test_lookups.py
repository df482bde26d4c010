"""The per-process cache of actors and prompt states (bot/core/lookups.py): served within its TTL of the injected
clock, emptied by this process's own writes, never used for an event that changes its sender.
No timings here: the benchmarks measure what it saves."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from bot.chat.engine import ChatEngine
from bot.core.actor import Actor
from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.events import HomeOpened
from bot.core.lookups import Lookups, PromptState
from bot.rounds.lifecycle import close_round, open_round
from messages.model import Form, Message
from storage.db import Sessions, create_engine, create_session_factory
from storage.models import Answer, Membership, Person, Workspace
from storage.values import PersonRole
from tests.conftest import World
from tests.helpers import action, checkin, command, text_of, where

TTL = 10.0


def cached_context(world: World, clock: ManualClock) -> Context:
    """This process: the same database, its own sessions, the cache on."""
    engine = world.ctx.database
    return Context(
        database=engine,
        sessions=create_session_factory(engine),
        clock=clock,
        lookups=Lookups(clock, ttl=TTL),
    )


async def say(engine: ChatEngine, user: str, text: str) -> str:
    return "\n".join(text_of(r) for r in await engine.handle(command(user, text)))


async def promote(ctx: Context, user: str, role: str = "admin") -> None:
    async with ctx.sessions.begin() as session:
        await session.execute(update(Person).where(Person.user_id == user).values(role=role))


async def test_a_role_changed_elsewhere_takes_effect_within_the_ttl(
    world: World, clock: ManualClock
) -> None:
    ctx = cached_context(world, clock)
    assert ctx.lookups is not None
    engine = ChatEngine(ctx)
    assert "/rut admin" not in await say(engine, "u0", "help")
    assert "/rut admin" not in await say(engine, "u0", "help")
    assert ctx.lookups.hits == 1

    await promote(world.ctx, "u0")  # another replica (another session factory) writes
    clock.advance(timedelta(seconds=TTL - 1))
    assert "/rut admin" not in await say(engine, "u0", "help")  # still within the TTL
    clock.advance(timedelta(seconds=1))
    assert "/rut admin" in await say(engine, "u0", "help")  # the TTL, by the injected clock


async def test_this_process_s_own_writes_empty_the_cache(world: World, clock: ManualClock) -> None:
    ctx = cached_context(world, clock)
    assert ctx.lookups is not None
    engine = ChatEngine(ctx)
    assert "/rut admin" not in await say(engine, "u0", "help")
    generation = ctx.lookups.generation

    await promote(ctx, "u0")  # a bulk UPDATE through this process's sessions
    assert ctx.lookups.generation > generation
    assert "/rut admin" in await say(engine, "u0", "help")  # no clock movement needed

    async with ctx.sessions.begin() as session:  # an ORM change, flushed and committed
        loaded = await session.scalar(select(Person).where(Person.user_id == "u0"))
        assert loaded is not None
        loaded.role = PersonRole.MEMBER
    assert "/rut admin" not in await say(engine, "u0", "help")


async def test_writes_to_other_tables_and_rollbacks_keep_the_cache(
    world: World, clock: ManualClock
) -> None:
    ctx = cached_context(world, clock)
    assert ctx.lookups is not None
    engine = ChatEngine(ctx)
    await say(engine, "u0", "help")
    generation = ctx.lookups.generation
    await say(engine, "u0", "pause")  # writes the person: emptied
    assert ctx.lookups.generation > generation
    await say(engine, "u0", "help")
    generation = ctx.lookups.generation
    try:
        async with ctx.sessions.begin() as session:
            await session.execute(update(Person).where(Person.user_id == "u0").values(role="admin"))
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert ctx.lookups.generation == generation  # nothing was committed


async def test_a_bare_connection_s_writes_empty_the_cache_as_a_session_s_do(
    world: World, clock: ManualClock
) -> None:
    """`sessions.writing()` (the check-in's transaction, Core statements on a bare connection)
    reports the tables it changed when it commits, as a session does: a watched table empties
    the cache, others (a check-in's answers and deliveries) keep it, a rollback reports
    nothing."""
    ctx = cached_context(world, clock)
    assert ctx.lookups is not None and isinstance(ctx.sessions, Sessions)
    engine = ChatEngine(ctx)
    await say(engine, "u0", "help")
    generation = ctx.lookups.generation
    await open_round(ctx, world.cli, world.team)  # rounds written: prompt states emptied
    generation = ctx.lookups.generation
    await engine.handle(checkin("u0"))  # answers and deliveries, through `writing()`
    assert ctx.lookups.generation == generation
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Answer)) == 1
    with pytest.raises(RuntimeError):
        async with ctx.sessions.writing() as conn:
            await conn.execute(update(Person).where(Person.user_id == "u0").values(role="admin"))
            raise RuntimeError("rolled back")
    assert ctx.lookups.generation == generation
    async with ctx.sessions() as session:
        assert await session.scalar(select(Person.role).where(Person.user_id == "u0")) == "member"
    assert "/rut admin" not in await say(engine, "u0", "help")
    async with ctx.sessions.writing() as conn:
        await conn.execute(update(Person).where(Person.user_id == "u0").values(role="admin"))
    assert ctx.lookups.generation > generation
    assert "/rut admin" in await say(engine, "u0", "help")  # no clock movement needed


async def test_a_lookup_that_began_before_a_commit_is_not_kept(
    world: World, clock: ManualClock
) -> None:
    lookups = Lookups(clock, ttl=TTL)
    actor = await world.actor(world.members[0])
    event = command(world.members[0].user_id, "help")
    before = lookups.generation
    lookups.written({"people"})  # committed while the lookup was under way
    lookups.keep(event, actor, before)
    assert lookups.actor(event) is None
    lookups.keep(event, actor, lookups.generation)
    assert lookups.actor(event) is actor
    lookups.written({"answers", "deliveries"})  # not about who anyone is
    assert lookups.actor(event) is actor
    lookups.written({"*"})  # a statement whose table could not be told
    assert lookups.actor(event) is None


async def test_an_event_that_changes_its_sender_is_not_served_from_the_cache(
    world: World, clock: ManualClock
) -> None:
    lookups = Lookups(clock, ttl=TTL)
    person = world.members[0]
    actor = await world.actor(person)
    plain = command(person.user_id, "help")
    lookups.keep(plain, actor, lookups.generation)
    assert lookups.actor(plain) is actor
    renamed = command(person.user_id, "help")
    object.__setattr__(renamed, "display_name", "Someone Else")
    assert lookups.actor(renamed) is None
    granted = command(person.user_id, "help")
    object.__setattr__(granted, "grants_admin", True)
    assert lookups.actor(granted) is None


async def test_off_by_default_and_bounded(world: World, clock: ManualClock) -> None:
    assert world.ctx.lookups is not None and not world.ctx.lookups.enabled
    lookups = Lookups(clock, ttl=TTL, max_entries=2)
    for person in world.members[:3]:
        lookups.keep(command(person.user_id, "help"), await world.actor(person), 0)
    assert lookups.actor(command(world.members[0].user_id, "help")) is None  # the oldest went
    assert lookups.actor(command(world.members[2].user_id, "help")) is not None


def test_spread_entries_expire_between_half_and_all_of_the_ttl(clock: ManualClock) -> None:
    """People first seen together do not all expire together, and none outlives the TTL."""
    lookups = Lookups(clock, ttl=TTL, spread=0.5, rng=random.Random(7))
    events = [command(f"u{i}", "help") for i in range(40)]
    for event in events:
        person = Person(user_id=event.user_id, stub=False, conversation_ref=event.where.to_json())
        actor = Actor(workspace=Workspace(platform="playground"), person=person, is_admin=False)
        lookups.keep(event, actor, lookups.generation)

    def cached() -> int:
        return sum(1 for event in events if lookups.actor(event) is not None)

    clock.advance(timedelta(seconds=TTL / 2 - 0.01))
    assert cached() == 40
    clock.advance(timedelta(seconds=TTL / 4))
    assert 0 < cached() < 40  # some gone already, some not yet
    clock.advance(timedelta(seconds=TTL / 4 + 0.01))
    assert cached() == 0
    with pytest.raises(ValueError, match="spread"):
        Lookups(clock, ttl=TTL, spread=1.0)


async def test_past_half_its_life_an_actor_is_served_and_looked_up_again(
    world: World, clock: ManualClock
) -> None:
    """Refresh-ahead: the cached actor is served while a background lookup replaces it, so a
    change made elsewhere shows within the TTL and someone who keeps writing never waits for
    a miss; the refresh is asked for once."""
    ctx = cached_context(world, clock)
    assert ctx.lookups is not None
    spawned: list[Awaitable[None]] = []
    engine = ChatEngine(ctx, spawn=lambda work, _name: spawned.append(work))
    assert "/rut admin" not in await say(engine, "u0", "help")  # a miss: looked up
    await promote(world.ctx, "u0")  # another replica writes
    clock.advance(timedelta(seconds=TTL / 2))
    assert "/rut admin" not in await say(engine, "u0", "help")  # served from the cache…
    assert len(spawned) == 1  # …and a lookup started
    assert "/rut admin" not in await say(engine, "u0", "help")
    assert len(spawned) == 1  # once
    await spawned.pop()
    hits = ctx.lookups.hits
    assert "/rut admin" in await say(engine, "u0", "help")  # the refreshed actor
    assert ctx.lookups.hits == hits + 1


# --- prompt states: what the check-in button must know ---------------------------------------


def statements(ctx: Context) -> list[str]:
    """Every SQL statement `ctx`'s database runs from now on, through SQLAlchemy's execution
    or on a driver's connection (storage/direct.py)."""
    seen: list[str] = []
    sa_event.listen(
        ctx.database.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_rest: seen.append(statement),
    )
    assert isinstance(ctx.sessions, Sessions)
    ctx.sessions.statements.observers.append(seen.append)
    return seen


async def press(engine: ChatEngine, user: str, period: str) -> Message:
    return (await engine.handle(action(user, "checkin_open", period)))[0]


async def test_a_check_in_button_pressed_again_reads_nothing(
    world: World, clock: ManualClock
) -> None:
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    seen = statements(ctx)
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    assert seen  # the first press reads the sender and the prompt state
    seen.clear()
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    assert seen == []  # the burst after a round's prompts: served from this process's cache
    clock.advance(timedelta(seconds=TTL))
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    assert any("deliveries" in s for s in seen)  # read again once the TTL ran out


async def test_a_first_press_reads_the_sender_and_the_prompt_state_in_one_statement(
    world: World, clock: ManualClock
) -> None:
    """The burst after a round's prompts is mostly first presses, not yet in the cache: one
    read each, and what it brings is right for the answered, the unanswered and the member
    of a team with no round open."""
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    elsewhere = ChatEngine(world.ctx)  # another replica
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    await elsewhere.handle(checkin("u0"))
    seen = statements(ctx)
    done = await press(engine, "u0", rnd.period)
    assert done.form is None and "already checked in" in text_of(done)
    assert len(seen) == 1 and "deliveries" in seen[0]
    seen.clear()
    assert isinstance((await press(engine, "u1", rnd.period)).form, Form)
    assert len(seen) == 1
    seen.clear()
    assert isinstance((await press(engine, "u1", rnd.period)).form, Form)
    assert seen == []  # kept beside the actor
    await close_round(world.ctx, world.cli, world.team)  # elsewhere: this cache still lags
    seen.clear()
    closed = await press(engine, "u2", rnd.period)
    assert closed.form is None and closed.tags == ("round_closed",)
    assert len(seen) == 1


@pytest.mark.parametrize("typed", ["checkin", "/rut check-in", "CHECKIN"])
async def test_checkin_typed_reads_the_sender_and_the_prompt_state_in_one_statement(
    world: World, clock: ManualClock, typed: str
) -> None:
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    await open_round(world.ctx, world.cli, world.team)
    seen = statements(ctx)
    [form] = await engine.handle(command("u0", typed))
    assert isinstance(form.form, Form)
    assert len(seen) == 1 and "deliveries" in seen[0]


async def home(engine: ChatEngine, user: str) -> str:
    opened = HomeOpened(event_id=f"home-{user}", where=where(user), user_id=user)
    return text_of((await engine.handle(opened))[0])


async def test_a_members_home_during_a_round_is_one_read_and_says_where_they_stand(
    world: World, clock: ManualClock
) -> None:
    """The Home shows the member's prompt state from the same read as the sender (and from
    the cache after a check-in button): open, done, or, for someone who joined the team after
    the round opened and has no prompt in it, the next scheduled check-in."""
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    async with world.ctx.sessions.begin() as session:
        late = Person(workspace_id=world.workspace.id, user_id="late", display_name="Late")
        session.add(late)
        await session.flush()
        session.add(Membership(person_id=late.id, team_id=world.team.id, role="member"))
    await ChatEngine(world.ctx).handle(checkin("u1"))  # elsewhere
    seen = statements(ctx)
    assert f"check-in for {rnd.period} is open" in await home(engine, "u0")
    assert len(seen) == 1
    seen.clear()
    assert f"You checked in for {rnd.period}" in await home(engine, "u1")
    assert len(seen) == 1
    assert isinstance((await press(engine, "u2", rnd.period)).form, Form)
    seen.clear()
    assert "is open" in await home(engine, "u2")
    assert seen == []  # the press's read serves the Home too
    assert "Next check-in" in await home(engine, "late")


async def test_this_process_s_check_in_and_close_show_at_once(
    world: World, clock: ManualClock
) -> None:
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    await engine.handle(checkin("u0"))
    done = await press(engine, "u0", rnd.period)
    assert done.form is None and "already checked in" in text_of(done)

    assert isinstance((await press(engine, "u1", rnd.period)).form, Form)
    await close_round(ctx, world.cli, world.team)  # this process writes the round
    closed = await press(engine, "u1", rnd.period)
    assert closed.form is None and closed.tags == ("round_closed",)


async def test_a_close_or_check_in_elsewhere_shows_within_the_ttl_and_never_counts_twice(
    world: World, clock: ManualClock
) -> None:
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    elsewhere = ChatEngine(world.ctx)  # another replica: its own sessions, no shared cache
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    for user in ("u0", "u1"):
        assert isinstance((await press(engine, user, rnd.period)).form, Form)

    await elsewhere.handle(checkin("u0"))
    stale = await press(engine, "u0", rnd.period)
    assert isinstance(stale.form, Form)  # within the TTL the form still opens…
    again = "\n".join(text_of(m) for m in await engine.handle(checkin("u0")))
    assert "already" in again  # …and the database, not the cache, refuses a second count
    async with world.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Answer)) == 1

    await close_round(world.ctx, world.cli, world.team)
    assert isinstance((await press(engine, "u1", rnd.period)).form, Form)
    clock.advance(timedelta(seconds=TTL))
    closed = await press(engine, "u1", rnd.period)
    assert closed.form is None and closed.tags == ("round_closed",)


@asynccontextmanager
async def replica(world: World, clock: ManualClock) -> AsyncIterator[Context]:
    """Another replica: the same database through an engine of its own, so nothing it writes
    empties this process's cache."""
    engine = create_engine(world.ctx.database.url.render_as_string(hide_password=False))
    try:
        yield Context(database=engine, sessions=create_session_factory(engine), clock=clock)
    finally:
        await engine.dispose()


async def test_a_round_opened_elsewhere_opens_its_form_at_once(
    world: World, clock: ManualClock
) -> None:
    """A member's Home remembered "no round"; another replica (here the command line's
    context) opens one and sends the prompt. Its button must open the form, not say the round
    closed: a prompt for another period than the remembered one is checked in the database."""
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    await home(engine, "u0")
    async with replica(world, clock) as elsewhere:
        rnd = (await open_round(elsewhere, world.cli, world.team)).round
    clock.advance(timedelta(seconds=2))  # the prompt arrives; the Home is still remembered
    pressed = await press(engine, "u0", rnd.period)
    assert isinstance(pressed.form, Form), text_of(pressed)
    seen = statements(ctx)
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    assert seen == []  # and what the database said is remembered


async def test_a_pause_made_elsewhere_keeps_the_next_check_in_private(
    world: World, clock: ManualClock
) -> None:
    """The member's actor is remembered here; they pause through another replica and then
    answer here within the TTL: the check-in's transaction reads the pause itself."""
    ctx = cached_context(world, clock)
    engine = ChatEngine(ctx)
    rnd = (await open_round(world.ctx, world.cli, world.team)).round
    assert isinstance((await press(engine, "u0", rnd.period)).form, Form)
    async with replica(world, clock) as elsewhere:
        await say(ChatEngine(elsewhere), "u0", "pause")
    said = "\n".join(text_of(m) for m in await engine.handle(checkin("u0")))
    assert "nothing was stored" in said
    async with world.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Answer)) == 0


def test_prompt_states_expire_and_are_emptied_by_round_writes(clock: ManualClock) -> None:
    lookups = Lookups(clock, ttl=TTL)
    state = PromptState("2026-W48", answered=False)
    before = lookups.generation
    lookups.written({"rounds"})  # a round closed while the read was under way
    lookups.keep_prompt_state(1, 2, state, before)
    assert lookups.prompt_state(1, 2) is None
    lookups.keep_prompt_state(1, 2, state, lookups.generation)
    assert lookups.prompt_state(1, 2) is state
    lookups.written({"answers", "deliveries"})  # a dispatcher's sends: not a round's state
    assert lookups.prompt_state(1, 2) is state
    lookups.checked_in(1, 2)  # their next press reads the database: nothing kept of it
    assert lookups.prompt_state(1, 2) is None
    lookups.keep_prompt_state(1, 2, state, lookups.generation)
    lookups.written({"memberships"})  # someone moved between teams
    assert lookups.prompt_state(1, 2) is None
    off = Lookups(clock, ttl=0)
    off.keep_prompt_state(1, 2, state, off.generation)
    assert off.prompt_state(1, 2) is None


def test_attack_a_memory_dump_says_neither_who_answered_nor_when(clock: ManualClock) -> None:
    """The attacker reads the process's cache (a core dump, a debugger) hours after a round:
    no entry outlives its TTL once anything else is stored, and a check-in leaves none."""
    lookups = Lookups(clock, ttl=TTL)
    pressed = PromptState("2026-W48", answered=False)
    lookups.keep_prompt_state(1, 100, pressed, lookups.generation)  # u100 opens the form…
    lookups.checked_in(1, 100)  # …and answers: nothing of it remains
    lookups.keep_prompt_state(1, 101, pressed, lookups.generation)  # u101 only looks
    assert set(lookups._prompts) == {(1, 101)}
    clock.advance(timedelta(hours=6))
    lookups.keep_prompt_state(2, 7, pressed, lookups.generation)  # anyone, later
    assert set(lookups._prompts) == {(2, 7)}  # the expired entry went with it
