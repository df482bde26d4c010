"""The round/release contract: open freezes the population, close releases or withholds and
leaves no raw answers or per-person rows behind."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.errors import ConflictError
from bot.core.ports import SentRef
from bot.rounds.checkin import CheckinResult, Outcome, Scores, checked_in_edit, record_checkin
from bot.rounds.lifecycle import close_round, open_round, skip_round
from storage import repositories as repo
from storage.db import Sessions
from storage.models import Answer, Delivery, Membership, Person, Release, Round
from storage.repositories import OpenRound
from tests.conftest import START, World, until_a_session_waits_on_a_lock


def scores(**values: int) -> Scores:
    return Scores(
        {k: values.get(k, 3) for k in ("assess", "routine", "training", "strengths", "path")}, None
    )


async def count(ctx: Context, model: type, *where: Any) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_open_freezes_population_of_home_members_without_managers(world: World) -> None:
    outcome = await open_round(world.ctx, world.cli, world.team)
    assert outcome.changed and outcome.round.period == "2026-W48"
    async with world.ctx.sessions() as session:
        people = set(
            (
                await session.scalars(select(Delivery.person_id).where(Delivery.kind == "prompt"))
            ).all()
        )
    assert people == {p.id for p in world.members}
    assert world.manager.id not in people


async def test_paused_members_are_skipped_and_late_joiners_not_asked(
    world: World, ctx: Context
) -> None:
    async with ctx.sessions.begin() as session:
        paused = await session.get(Person, world.members[0].id)
        assert paused is not None
        paused.paused_until = date(2026, 12, 31)
    await open_round(ctx, world.cli, world.team)
    assert (
        await count(
            ctx, Delivery, Delivery.person_id == world.members[0].id, Delivery.status == "skipped"
        )
        == 1
    )
    async with ctx.sessions.begin() as session:
        session.add(Membership(person_id=world.outsider.id, team_id=world.team.id, role="member"))
    late = await world.actor(world.outsider)
    result = await record_checkin(ctx, late, scores())
    assert result.outcome is Outcome.PRIVATE
    assert await count(ctx, Answer) == 0


async def test_open_is_idempotent_and_a_closed_period_cannot_reopen(
    world: World, ctx: Context
) -> None:
    first = await open_round(ctx, world.cli, world.team)
    again = await open_round(ctx, world.cli, world.team)
    assert again.round.id == first.round.id and not again.changed
    await close_round(ctx, world.cli, world.team)
    with pytest.raises(ConflictError, match="already"):
        await open_round(ctx, world.cli, world.team)
    repeat = await close_round(ctx, world.cli, world.team)
    assert not repeat.changed


async def test_checkin_is_stored_once_with_its_delivery(world: World, ctx: Context) -> None:
    await open_round(ctx, world.cli, world.team)
    member = await world.actor(world.members[0])
    first = await record_checkin(ctx, member, scores(routine=1))
    second = await record_checkin(ctx, member, scores(routine=5))
    assert (first.outcome, second.outcome) == (Outcome.STORED, Outcome.ALREADY)
    assert first.period == "2026-W48"
    assert await count(ctx, Answer) == 1
    assert await count(ctx, Delivery, Delivery.answered.is_(True)) == 1


async def sent_prompt(ctx: Context, person: Person, status: str = "sent") -> None:
    """The person's prompt as the dispatcher leaves it: on the platform, with its reference."""
    ref = SentRef("playground", f"T0001:{person.user_id}", "1700000000.000001").to_json()
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.person_id == person.id, Delivery.kind == "prompt")
            .values(status=status, message_ref=ref)
        )


async def test_a_stale_read_of_the_prompt_still_counts_once(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check-in's statements are built once (storage/repositories.py); the compare-and-set
    still decides. A read that says "not answered" after another check-in committed (another
    replica's, read just before) stores nothing a second time: no answer, no edit."""
    await open_round(ctx, world.cli, world.team)
    await sent_prompt(ctx, world.members[0])
    read = repo.open_round_and_prompt

    async def stale(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        rnd, prompt = await read(*args, **kwargs)
        return rnd, replace(prompt, answered=False) if prompt is not None else None

    monkeypatch.setattr(repo, "open_round_and_prompt", stale)
    member = await world.actor(world.members[0])
    outcomes = [(await record_checkin(ctx, member, scores())).outcome for _ in range(3)]
    assert outcomes == [Outcome.STORED, Outcome.ALREADY, Outcome.ALREADY]
    assert await count(ctx, Answer) == 1
    assert await count(ctx, Delivery, Delivery.answered.is_(True)) == 1
    assert await count(ctx, Delivery, Delivery.kind == "checked_in") == 1


async def test_an_answer_row_holds_its_round_scores_and_shared_line_with_or_without_an_edit(
    world: World, ctx: Context
) -> None:
    """With its prompt's "checked in" edit (a prompt on the platform: on PostgreSQL the two
    rows go in one statement) or without (a prompt not sent yet), the answer is the same
    row: a random id, the round, the five scores and the shared line."""
    outcome = await open_round(ctx, world.cli, world.team)
    await sent_prompt(ctx, world.members[0])
    with_edit = Scores({**scores(routine=1).values}, "a shared line")
    first = await record_checkin(ctx, await world.actor(world.members[0]), with_edit)
    second = await record_checkin(ctx, await world.actor(world.members[1]), scores(path=5))
    assert (first.edit_queued, second.edit_queued) == (True, False)
    async with ctx.sessions() as session:
        answers = (await session.scalars(select(Answer))).all()
        edits = (await session.scalars(select(Delivery).where(Delivery.kind == "checked_in"))).all()
    keys = ("assess", "routine", "training", "strengths", "path")
    rows = sorted(
        ((a.round_id, tuple(getattr(a, k) for k in keys), a.comment) for a in answers),
        key=lambda row: row[1],
    )
    assert rows == [
        (outcome.round.id, (3, 1, 3, 3, 3), "a shared line"),
        (outcome.round.id, (3, 3, 3, 3, 5), None),
    ]
    assert all(len(a.id) == 32 and int(a.id, 16) >= 0 for a in answers)
    assert answers[0].id != answers[1].id
    (edit,) = edits
    assert (edit.person_id, edit.answered, edit.status) == (None, False, "pending")
    assert (edit.attempts, edit.lookups, edit.next_attempt_at, edit.lease_until) == (
        0,
        0,
        None,
        None,
    )
    assert edit.not_before == outcome.round.opens_at and len(edit.id) == 32
    assert edit.id not in {a.id for a in answers}


async def test_concurrent_submissions_of_one_member_count_once(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four submissions of one member at once, through the transaction. On PostgreSQL (its
    one-statement path turned off: the next test races that one) all four transactions read
    the prompt unanswered before any of them writes (they wait for each other after the
    read), so the compare-and-set alone keeps the count at one; on SQLite the writers queue,
    and each later one reads the prompt answered."""
    await open_round(ctx, world.cli, world.team)
    await sent_prompt(ctx, world.members[0])
    member = await world.actor(world.members[0])
    read = repo.open_round_and_prompt
    racing = 4
    if ctx.database.dialect.name == "postgresql":
        monkeypatch.setattr(repo, "stores_at_once", lambda _engine: False)
        all_read = asyncio.Barrier(racing)

        async def together(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
            found = await read(*args, **kwargs)
            assert found[1] is not None and not found[1].answered
            await all_read.wait()
            return found

        monkeypatch.setattr(repo, "open_round_and_prompt", together)
    results = await asyncio.wait_for(
        asyncio.gather(*(record_checkin(ctx, member, scores()) for _ in range(racing))), 30
    )
    assert sorted(r.outcome.value for r in results) == ["already"] * 3 + ["stored"]
    assert await count(ctx, Answer) == 1
    assert await count(ctx, Delivery, Delivery.answered.is_(True)) == 1
    assert await count(ctx, Delivery, Delivery.kind == "checked_in") == 1
    assert sum(r.edit_queued for r in results) == 1


def postgres_only(ctx: Context) -> None:
    if ctx.database.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's one-statement check-in (SQLite stores through the transaction)")


async def test_one_statement_check_ins_racing_count_once(world: World, ctx: Context) -> None:
    """Eight submissions of one member at once on PostgreSQL, each its own one-statement
    check-in on its own connection: the row lock on the prompt makes all but one find it
    answered; those change nothing and their transactions say "already"."""
    postgres_only(ctx)
    await open_round(ctx, world.cli, world.team)
    await sent_prompt(ctx, world.members[0])
    member = await world.actor(world.members[0])
    racing = 8
    results = await asyncio.wait_for(
        asyncio.gather(*(record_checkin(ctx, member, scores()) for _ in range(racing))), 30
    )
    assert sorted(r.outcome.value for r in results) == ["already"] * (racing - 1) + ["stored"]
    assert await count(ctx, Answer) == 1
    assert await count(ctx, Delivery, Delivery.answered.is_(True)) == 1
    assert await count(ctx, Delivery, Delivery.kind == "checked_in") == 1


async def test_one_statement_stores_what_the_transaction_stores(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One member's check-in stored by the one statement (the transaction's read made to
    fail, so it cannot have been that path), another's by the transaction: the same outcome,
    the same answer row, the same prompt status and the same "checked in" edit, whose
    reference and locale are what `checked_in_edit` writes."""
    postgres_only(ctx)
    outcome = await open_round(ctx, world.cli, world.team)
    first, second = world.members[:2]
    for person in (first, second):
        await sent_prompt(ctx, person, status="claimed")
    async with ctx.sessions.begin() as session:
        await session.execute(update(Person).where(Person.id == first.id).values(locale="de"))

    async def not_this_path(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("stored through the transaction")

    answer = Scores(scores(routine=1, path=5).values, "a shared line")
    read = repo.open_round_and_prompt
    monkeypatch.setattr(repo, "open_round_and_prompt", not_this_path)
    at_once = await record_checkin(ctx, await world.actor(first), answer)
    monkeypatch.setattr(repo, "open_round_and_prompt", read)
    monkeypatch.setattr(repo, "stores_at_once", lambda _engine: False)
    in_transaction = await record_checkin(ctx, await world.actor(second), answer)
    assert at_once == in_transaction
    assert at_once == CheckinResult(Outcome.STORED, outcome.round.period, edit_queued=True)

    keys = ("round_id", "assess", "routine", "training", "strengths", "path", "comment")
    async with ctx.sessions() as session:
        answers = (await session.scalars(select(Answer))).all()
        prompts = {
            d.person_id: d
            for d in await session.scalars(select(Delivery).where(Delivery.kind == "prompt"))
        }
        edits = (await session.scalars(select(Delivery).where(Delivery.kind == "checked_in"))).all()
    assert [tuple(getattr(a, k) for k in keys) for a in answers] == [
        (outcome.round.id, 3, 1, 3, 3, 5, "a shared line")
    ] * 2
    assert len({a.id for a in answers} | {e.id for e in edits}) == 4
    for person in (first, second):
        assert (prompts[person.id].status, prompts[person.id].answered) == ("sent", True)

    rnd = OpenRound(outcome.round.id, outcome.round.period, outcome.round.opens_at)
    refs = {person.id: prompts[person.id].message_ref or {} for person in (first, second)}
    expected = [
        checked_in_edit(rnd, refs[person.id], locale).message_ref
        for person, locale in ((first, "de"), (second, world.workspace.locale))
    ]
    assert sorted((e.message_ref for e in edits), key=str) == sorted(expected, key=str)
    columns = [c.key for c in Delivery.__table__.columns if c.key not in {"id", "message_ref"}]
    first_edit, second_edit = ({c: getattr(e, c) for c in columns} for e in edits)
    assert first_edit == second_edit
    assert first_edit["not_before"] == outcome.round.opens_at


async def test_a_prompt_sent_while_the_one_statement_waits_gets_its_edit(
    world: World, ctx: Context
) -> None:
    """The dispatcher records the prompt as sent (its reference) while a check-in's one
    statement waits on the prompt's row: the statement takes the reference of the row's
    newest version, and the "checked in" edit is queued with it."""
    postgres_only(ctx)
    await open_round(ctx, world.cli, world.team)
    member = world.members[0]
    ref = SentRef("playground", f"T0001:{member.user_id}", "1700000000.000002").to_json()
    actor = await world.actor(member)
    async with ctx.database.connect() as dispatcher:
        await dispatcher.execute(
            update(Delivery)
            .where(Delivery.person_id == member.id, Delivery.kind == "prompt")
            .values(status="sent", message_ref=ref)
        )
        checkin = asyncio.get_running_loop().create_task(record_checkin(ctx, actor, scores()))
        try:
            await until_a_session_waits_on_a_lock(ctx)
        finally:
            await dispatcher.commit()
        result = await asyncio.wait_for(checkin, 30)
    assert (result.outcome, result.edit_queued) == (Outcome.STORED, True)
    async with ctx.sessions() as session:
        edit = await session.scalar(select(Delivery).where(Delivery.kind == "checked_in"))
    assert edit is not None and edit.message_ref == {**ref, "locale": "en"}


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("paused today", Outcome.PRIVATE),
        ("skipped", Outcome.PRIVATE),
        ("failed", Outcome.PRIVATE),
        ("answered", Outcome.ALREADY),
        ("no prompt", Outcome.PRIVATE),
        ("no round", Outcome.PRIVATE),
    ],
)
async def test_what_cannot_be_stored_in_one_statement_changes_nothing(
    world: World, ctx: Context, state: str, outcome: Outcome
) -> None:
    """Each reason the transaction gives for not storing a check-in, met by the one
    statement: it returns nothing and changes no row, and the transaction then gives the
    reason. (Paused until yesterday is not paused: that one is stored.)"""
    postgres_only(ctx)
    member = world.members[0]
    if state != "no round":
        await open_round(ctx, world.cli, world.team)
        await sent_prompt(ctx, member, status=state if state in {"skipped", "failed"} else "sent")
    today = START.date()
    async with ctx.sessions.begin() as session:
        if state == "paused today":
            await session.execute(
                update(Person).where(Person.id == member.id).values(paused_until=today)
            )
        elif state == "answered":
            await session.execute(
                update(Delivery).where(Delivery.person_id == member.id).values(answered=True)
            )
        elif state == "no prompt":
            await session.execute(delete(Delivery).where(Delivery.person_id == member.id))

    async def snapshot() -> list[Any]:
        async with ctx.sessions() as session:
            rows = await session.execute(select(Delivery.__table__).order_by(Delivery.id))
            deliveries = [tuple(row) for row in rows.all()]
        return [deliveries, await count(ctx, Answer)]

    before = await snapshot()
    assert before[1] == 0
    actor = await world.actor(member)
    assert actor.person is not None and actor.home_team is not None
    assert isinstance(ctx.sessions, Sessions)
    async with ctx.sessions.single_statement() as conn:
        stored = await repo.store_checkin_at_once(
            conn, actor.home_team.id, member.id, today, scores().values, None, "en"
        )
    assert stored is None
    assert await snapshot() == before
    assert (await record_checkin(ctx, actor, scores())).outcome is outcome
    assert await snapshot() == before


async def test_paused_until_yesterday_is_stored_in_one_statement(
    world: World, ctx: Context
) -> None:
    postgres_only(ctx)
    await open_round(ctx, world.cli, world.team)
    member = world.members[0]
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.id == member.id)
            .values(paused_until=START.date() - timedelta(days=1))
        )
    actor = await world.actor(member)
    assert actor.home_team is not None
    assert isinstance(ctx.sessions, Sessions)
    async with ctx.sessions.single_statement() as conn:
        stored = await repo.store_checkin_at_once(
            conn, actor.home_team.id, member.id, START.date(), scores().values, None, "en"
        )
    assert stored == repo.StoredAtOnce("2026-W48", edit_queued=False)
    assert conn.changed == {"deliveries", "answers"}
    assert await count(ctx, Answer) == 1
    assert await count(ctx, Delivery, Delivery.kind == "checked_in") == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [("pending", "sent"), ("claimed", "sent"), ("sending", "sending"), ("sent", "sent")],
)
async def test_an_answered_prompt_counts_as_delivered(
    world: World, ctx: Context, before: str, after: str
) -> None:
    """A prompt still pending or only claimed by a dispatcher is sent from the answer on (so
    answered never exceeds delivered and the claim's send is lost); one whose send is in
    flight, or done, keeps its status."""
    await open_round(ctx, world.cli, world.team)
    await sent_prompt(ctx, world.members[0], status=before)
    result = await record_checkin(ctx, await world.actor(world.members[0]), scores())
    assert result.outcome is Outcome.STORED
    async with ctx.sessions() as session:
        status, answered = (
            await session.execute(
                select(Delivery.status, Delivery.answered).where(
                    Delivery.person_id == world.members[0].id, Delivery.kind == "prompt"
                )
            )
        ).one()
    assert (status, answered) == (after, True)


async def test_no_round_or_no_team_stores_nothing(world: World, ctx: Context) -> None:
    member = await world.actor(world.members[0])
    assert (await record_checkin(ctx, member, scores())).outcome is Outcome.PRIVATE
    stranger = await world.actor(world.outsider)
    assert (await record_checkin(ctx, stranger, scores())).outcome is Outcome.NO_TEAM
    assert await count(ctx, Answer) == 0


async def test_close_releases_at_threshold_and_deletes_raw_data(world: World, ctx: Context) -> None:
    await open_round(ctx, world.cli, world.team)
    for person in world.members[:5]:
        await record_checkin(ctx, await world.actor(person), scores(routine=2))
    async with ctx.sessions.begin() as session:
        await session.execute(update(Delivery).values(status="sent"))
    outcome = await close_round(ctx, world.cli, world.team)
    assert outcome.release is not None and outcome.release.status == "released"
    assert (outcome.release.respondents, outcome.release.delivered) == (5, 6)
    assert outcome.release.data is not None
    assert outcome.release.data["practices"]["routine"] == {
        "mean": 2.0,
        "low_share": 1.0,
        "change": None,
        "low_streak": 1,
    }
    assert await count(ctx, Answer) == 0
    assert await count(ctx, Delivery, Delivery.kind != "summary") == 0
    assert (
        await count(
            ctx, Delivery, Delivery.kind == "summary", Delivery.person_id == world.manager.id
        )
        == 1
    )
    assert await count(ctx, Round, Round.status == "released") == 1


async def test_close_below_threshold_withholds(world: World, ctx: Context) -> None:
    await open_round(ctx, world.cli, world.team)
    for person in world.members[:4]:
        await record_checkin(ctx, await world.actor(person), scores())
    outcome = await close_round(ctx, world.cli, world.team)
    assert outcome.release is not None
    assert (outcome.release.status, outcome.release.respondents, outcome.release.data) == (
        "withheld",
        4,
        None,
    )
    assert await count(ctx, Answer) == 0


async def test_threshold_is_frozen_at_open(world: World, ctx: Context) -> None:
    await open_round(ctx, world.cli, world.team)
    from bot.admin.operations import workspace_set

    await workspace_set(ctx, world.cli, threshold="3")
    for person in world.members[:4]:
        await record_checkin(ctx, await world.actor(person), scores())
    outcome = await close_round(ctx, world.cli, world.team)
    assert outcome.release is not None and outcome.release.status == "withheld"


async def test_skip_marks_the_period_and_refuses_an_open_round(
    world: World, ctx: Context, clock: ManualClock
) -> None:
    skipped = await skip_round(ctx, world.cli, world.team)
    assert skipped.round.status == "skipped"
    assert not (await skip_round(ctx, world.cli, world.team)).changed
    with pytest.raises(ConflictError):
        await open_round(ctx, world.cli, world.team)
    clock.advance(timedelta(days=7))
    await open_round(ctx, world.cli, world.team)
    with pytest.raises(ConflictError):
        await skip_round(ctx, world.cli, world.team)
    assert await count(ctx, Release) == 0
