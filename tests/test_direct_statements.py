"""storage/direct.py: statements compiled by SQLAlchemy and run on the driver's own connection
give what SQLAlchemy gives (the same values in, the same values out), refuse what they cannot
do as SQLAlchemy would, report the tables they write, and never give a failed connection back
to the pool."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.context import Context
from bot.rounds.lifecycle import open_round
from storage import repositories as repo
from storage.db import WRITING_VERBS, Sessions
from storage.direct import NotDirect, ReadOnlySession, compile_for
from storage.models import Base, Delivery, Person
from storage.values import DeliveryStatus
from tests.conftest import START, World

DELIVERIES = Base.metadata.tables["deliveries"]
PEOPLE = Base.metadata.tables["people"]
DIALECTS = [postgresql.asyncpg.dialect(), sqlite.dialect()]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_what_needs_sqlalchemy_s_execution_is_refused_when_compiled(dialect: Any) -> None:
    """An "expanding" list is rendered per execution, and a Python-side default (the random
    id) computed per execution: neither can be run from SQL compiled once."""
    expanding = select(DELIVERIES.c.id).where(DELIVERIES.c.status.in_(["sent", "pending"]))
    with pytest.raises(NotDirect, match="expanding"):
        compile_for(expanding, dialect, WRITING_VERBS)
    defaulted = insert(DELIVERIES).values(round_id=bindparam("round_id"))
    with pytest.raises(NotDirect, match="default"):
        compile_for(defaulted, dialect, WRITING_VERBS)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_the_tables_a_statement_writes_are_known_from_the_statement(dialect: Any) -> None:
    read = compile_for(select(DELIVERIES.c.id), dialect, WRITING_VERBS)
    assert (read.writes, read.tables) == (False, frozenset())
    marked = update(DELIVERIES).values(answered=True).where(DELIVERIES.c.id == bindparam("id"))
    written = compile_for(marked, dialect, WRITING_VERBS)
    assert (written.writes, written.tables) == (True, frozenset({"deliveries"}))


def test_the_one_statement_check_in_is_known_to_write_answers_and_deliveries() -> None:
    """It is a SELECT with data-modifying WITHs: it writes, and says which tables (the
    per-process cache hears of both: bot/core/lookups.py)."""
    compiled = compile_for(repo._CHECKIN_AT_ONCE, DIALECTS[0], WRITING_VERBS)
    assert compiled.sql.lstrip().startswith("WITH")
    assert (compiled.writes, compiled.tables) == (True, frozenset({"answers", "deliveries"}))


async def test_values_go_in_and_come_out_through_the_types_processors(
    world: World, ctx: Context
) -> None:
    """An aware datetime, an enum and JSON written and read on the driver's connection are
    what the ORM reads, and what it reads back."""
    assert isinstance(ctx.sessions, Sessions)
    await open_round(ctx, world.cli, world.team)
    member = world.members[0]
    due = START + timedelta(hours=3, microseconds=250)
    ref = {"platform": "playground", "channel_id": "T0001:u0", "message_id": "1.2", "n": [1]}
    write = (
        update(DELIVERIES)
        .where(DELIVERIES.c.person_id == bindparam("person_id"))
        .values(
            not_before=bindparam("due"), status=bindparam("status"), message_ref=bindparam("ref")
        )
    )
    async with ctx.sessions.writing() as conn:
        changed = await conn.execute(
            write, {"person_id": member.id, "due": due, "status": DeliveryStatus.SENT, "ref": ref}
        )
    assert changed.rowcount == 1
    read = select(DELIVERIES.c.not_before, DELIVERIES.c.status, DELIVERIES.c.message_ref).where(
        DELIVERIES.c.person_id == bindparam("person_id")
    )
    async with ctx.sessions.reading() as conn:
        direct = (await conn.execute(read, {"person_id": member.id})).first()
    async with ctx.sessions() as session:
        loaded = (
            await session.execute(
                select(Delivery.not_before, Delivery.status, Delivery.message_ref).where(
                    Delivery.person_id == member.id
                )
            )
        ).one()
    assert direct == tuple(loaded) == (due, DeliveryStatus.SENT, ref)
    assert direct is not None and direct[0].utcoffset() == timedelta(0)
    assert isinstance(direct[1], DeliveryStatus)


async def test_a_reading_connection_refuses_the_one_statement_check_in(
    world: World, ctx: Context
) -> None:
    assert isinstance(ctx.sessions, Sessions)
    if ctx.database.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's one-statement check-in")
    await open_round(ctx, world.cli, world.team)
    with pytest.raises(ReadOnlySession):
        async with ctx.sessions.reading() as conn:
            await repo.store_checkin_at_once(
                conn, world.team.id, world.members[0].id, START.date(), {}, None, "en"
            )


async def test_a_failed_transaction_is_rolled_back_and_its_connection_discarded(
    world: World, ctx: Context
) -> None:
    """What failed on a driver's connection may have left it in a transaction, or broken: it
    is invalidated, not given back, and what the block wrote is not kept. The next request
    gets a working connection, and this process's caches hear of no change."""
    assert isinstance(ctx.sessions, Sessions)
    heard: list[frozenset[str]] = []
    ctx.sessions.on_commit.append(heard.append)
    invalidated: list[Any] = []
    event.listen(ctx.database.sync_engine, "invalidate", lambda *a: invalidated.append(a))
    member = world.members[0]
    rename = update(PEOPLE).where(PEOPLE.c.id == bindparam("id"))
    rename = rename.values(display_name=bindparam("name"))
    with pytest.raises(RuntimeError, match="after the write"):
        async with ctx.sessions.writing() as conn:
            await conn.execute(rename, {"id": member.id, "name": "Renamed"})
            raise RuntimeError("after the write")
    assert len(invalidated) == 1 and heard == []
    async with ctx.sessions() as session:
        assert (await session.get(Person, member.id)).display_name == "U0"  # type: ignore[union-attr]
    async with ctx.sessions.writing() as conn:
        await conn.execute(rename, {"id": member.id, "name": "Renamed"})
    assert len(invalidated) == 1 and heard == [frozenset({"people"})]
    async with ctx.sessions() as session:
        assert (await session.get(Person, member.id)).display_name == "Renamed"  # type: ignore[union-attr]
