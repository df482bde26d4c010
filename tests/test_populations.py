"""Who is in a round's population, and who may see its release: decided from the population
itself (the round's prompt rows, present until close), never from timestamps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.admin import operations as admin
from bot.chat.engine import ChatEngine
from bot.core.errors import ConflictError
from bot.core.events import ActionInvoked, ConversationRef
from bot.rounds.checkin import Outcome, Scores, record_checkin
from bot.rounds.lifecycle import close_round, open_round
from bot.rounds.summary import team_summary
from storage.models import Delivery, Person, Team, Workspace
from storage.values import MembershipRole
from tests.conftest import World


def scores(value: int) -> Scores:
    return Scores({k: value for k in ("assess", "routine", "training", "strengths", "path")}, None)


async def population(world: World, round_id: int) -> set[str]:
    async with world.ctx.sessions() as session:
        rows = await session.scalars(
            select(Person.user_id)
            .join(Delivery, Delivery.person_id == Person.id)
            .where(Delivery.round_id == round_id, Delivery.kind == "prompt")
        )
        return set(rows.all())


async def summary_audience(world: World, round_id: int) -> set[str]:
    async with world.ctx.sessions() as session:
        rows = await session.scalars(
            select(Person.user_id)
            .join(Delivery, Delivery.person_id == Person.id)
            .where(Delivery.round_id == round_id, Delivery.kind == "summary")
        )
        return set(rows.all())


async def answer_all(world: World, people: list[Person], value: int = 2) -> None:
    for person in people:
        result = await record_checkin(world.ctx, await world.actor(person), scores(value))
        assert result.outcome is Outcome.STORED


async def test_a_member_made_manager_mid_round_gets_neither_its_summary_nor_its_view(
    world: World,
) -> None:
    opened = await open_round(world.ctx, world.cli, world.team)
    turned = world.members[0]
    await answer_all(world, world.members)
    world.ctx.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    await admin.set_members(
        world.ctx, world.cli, "Platform", [turned.user_id], role=MembershipRole.MANAGER, add=True
    )
    closed = await close_round(world.ctx, world.cli, world.team)
    assert closed.release is not None and closed.release.status == "released"
    assert await summary_audience(world, opened.round.id) == {world.manager.user_id}
    async with world.ctx.sessions() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        team = await session.get(Team, world.team.id)
        assert workspace is not None and team is not None
        theirs = await team_summary(session, workspace, team, viewer_id=turned.id)
        managers = await team_summary(session, workspace, team, viewer_id=world.manager.id)
    theirs_json, managers_json = theirs.to_json(), managers.to_json()
    assert theirs_json["status"] == "none" and theirs_json["period"] is None
    assert managers_json["status"] == "released" and managers_json["period"] == "2026-W48"

    # From the next round on they see results like any manager.
    world.ctx.clock.advance(timedelta(days=7))  # type: ignore[attr-defined]
    nxt = await open_round(world.ctx, world.cli, world.team)
    assert turned.user_id not in await population(world, nxt.round.id)
    await answer_all(world, world.members[1:])
    await close_round(world.ctx, world.cli, world.team)
    assert await summary_audience(world, nxt.round.id) == {world.manager.user_id, turned.user_id}


async def test_with_history_is_refused_for_someone_in_the_open_rounds_population(
    world: World,
) -> None:
    await open_round(world.ctx, world.cli, world.team)
    with pytest.raises(ConflictError, match="population of Platform's open round"):
        await admin.set_members(
            world.ctx,
            world.cli,
            "Platform",
            [world.members[0].user_id],
            role=MembershipRole.MANAGER,
            add=True,
            with_history=True,
        )
    # Someone who was not in it may be vouched for.
    result = await admin.set_members(
        world.ctx, world.cli, "Platform", [world.outsider.user_id], role=MembershipRole.MANAGER, add=True,
        with_history=True,
    )  # fmt: skip
    assert "1 manager added" in result.text


async def test_a_member_moved_mid_round_is_in_one_population_per_period(world: World) -> None:
    """The differencing attack: six answer in D1, five move to D2 and answer again the same
    week; subtracting the releases would give the sixth person's answer."""
    await admin.team_add(world.ctx, world.cli, "D2")
    d1 = await open_round(world.ctx, world.cli, world.team)
    await answer_all(world, world.members)
    movers = world.members[:5]
    moved = await admin.set_members(
        world.ctx,
        world.cli,
        "D2",
        [p.user_id for p in movers],
        role=MembershipRole.MEMBER,
        add=True,
    )
    assert "counted in D2 from 2026-11-30" in moved.text
    async with world.ctx.sessions() as session:
        d2_team = (await session.scalars(select(Team).where(Team.name == "D2"))).one()
    d2 = await open_round(world.ctx, world.cli, d2_team)
    assert d2.round.period == d1.round.period == "2026-W48"
    assert await population(world, d2.round.id) == set()
    # They are told why, and nothing is stored.
    result = await record_checkin(world.ctx, await world.actor(movers[0]), scores(5))
    assert result.outcome is Outcome.MOVED

    # Even after D1 closed, D2's rounds of that same week leave them out; the next week not.
    await close_round(world.ctx, world.cli, world.team)
    await close_round(world.ctx, world.cli, d2_team)
    world.ctx.clock.advance(timedelta(days=5))  # type: ignore[attr-defined]
    nxt = await open_round(world.ctx, world.cli, d2_team)
    assert nxt.round.period == "2026-W49"
    assert await population(world, nxt.round.id) == {p.user_id for p in movers}


async def test_moving_after_the_old_round_closed_still_waits_for_the_next_period(
    world: World,
) -> None:
    await admin.team_add(world.ctx, world.cli, "D2")
    await open_round(world.ctx, world.cli, world.team)
    await answer_all(world, world.members)
    await close_round(world.ctx, world.cli, world.team)
    mover = world.members[0]
    await admin.set_members(
        world.ctx, world.cli, "D2", [mover.user_id], role=MembershipRole.MEMBER, add=True
    )
    async with world.ctx.sessions() as session:
        d2_team = (await session.scalars(select(Team).where(Team.name == "D2"))).one()
    same_week = await open_round(world.ctx, world.cli, d2_team)
    assert await population(world, same_week.round.id) == set()


async def test_a_first_team_assignment_is_counted_at_once(world: World) -> None:
    await admin.set_members(
        world.ctx,
        world.cli,
        "Platform",
        [world.outsider.user_id],
        role=MembershipRole.MEMBER,
        add=True,
    )
    opened = await open_round(world.ctx, world.cli, world.team)
    assert world.outsider.user_id in await population(world, opened.round.id)


async def test_an_old_prompt_button_after_close_says_so_before_any_question(world: World) -> None:
    await open_round(world.ctx, world.cli, world.team)
    await close_round(world.ctx, world.cli, world.team)
    member = world.members[0]
    engine = ChatEngine(world.ctx)
    [reply] = await engine.handle(
        ActionInvoked(
            event_id="old-click",
            where=ConversationRef("playground", "T0001", member.user_id),
            user_id=member.user_id,
            action_id="checkin_open",
            value="2026-W48",
        )
    )
    assert reply.form is None  # no five questions
    assert "2026-W48 check-in has closed" in reply.fallback
    assert "advice_menu" not in reply.tags and reply.surface == "dialog"
    assert any(getattr(b, "buttons", None) for b in reply.blocks)  # advice, privately
