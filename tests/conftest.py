"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when configured),
an injected clock, and small builders for workspaces, teams and people."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.admin.identities import actor_for
from bot.core.actor import Actor, cli_actor
from bot.core.clock import ManualClock, SystemClock
from bot.core.context import Context
from bot.core.events import ConversationRef
from storage.db import create_engine, create_session_factory, normalize_url
from storage.migrate import upgrade
from storage.models import Membership, Person, Team, Workspace
from storage.schema import metadata

# Wednesday of ISO week 2026-W48, mid-morning in Europe.
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PG_ENV = "RUTRADAR_TEST_DATABASE_URL"
PG_SKIP = f"{PG_ENV} is not set: the PostgreSQL tests are skipped (set it to a PostgreSQL URL to run them)"


@pytest.fixture(autouse=True)
def no_wall_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path a test drives takes its time from an injected clock: reading the machine's
    time in-process fails the test, so no test can depend on today's date. Tests that run
    real processes (which are meant to live in real time) mark themselves `wall_clock`."""
    if request.node.get_closest_marker("wall_clock"):
        return

    def refuse(_self: SystemClock) -> datetime:
        raise AssertionError(
            "this test read the wall clock (SystemClock.now); inject a ManualClock instead"
        )

    monkeypatch.setattr(SystemClock, "now", refuse)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("db_url") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """One throwaway PostgreSQL database per test session, migrated once."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    import asyncio

    admin_url = normalize_url(base)
    name = f"rutradar_test_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        engine = create_engine(admin_url)
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql(sql)
        await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    try:
        yield url
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: Alembic runs once per session, not per test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "rutradar.db"
        target.write_bytes(sqlite_template.read_bytes())
        yield f"sqlite+aiosqlite:///{target}"
        return
    url = request.getfixturevalue("pg_database")
    if url is None:
        pytest.skip(PG_SKIP)
    yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "rutradar.db"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def _truncate_all(ctx: Context) -> None:
    if ctx.database.dialect.name != "postgresql":
        return
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with ctx.database.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def ctx(db_url: str, clock: ManualClock) -> AsyncIterator[Context]:
    engine = create_engine(db_url)
    context = Context(database=engine, sessions=create_session_factory(engine), clock=clock)
    await _truncate_all(context)
    try:
        yield context
    finally:
        await _truncate_all(context)
        await engine.dispose()


@dataclass
class World:
    """A workspace with one team: `members`, one `manager`, one `admin`, one `outsider`."""

    ctx: Context
    workspace: Workspace
    team: Team
    members: list[Person]
    manager: Person
    admin: Person
    outsider: Person

    async def actor(self, person: Person) -> Actor:
        async with self.ctx.sessions() as session:
            fresh = await session.get(Person, person.id)
            ws = await session.get(Workspace, self.workspace.id)
            assert fresh is not None and ws is not None
            return await actor_for(session, ws, fresh)

    @property
    def cli(self) -> Actor:
        return cli_actor(self.workspace)


def slack_id(name: str) -> str:
    """A test person's id in Slack's shape (`^[A-Z0-9]+$`): u0 → U0, boss → UBOSS."""
    return name.upper() if name[:1] == "u" else "U" + name.upper()


async def build_world(
    ctx: Context,
    *,
    members: int = 6,
    threshold: int = 5,
    platform: str = "playground",
    slack_ids: bool = False,
) -> World:
    """`slack_ids`: people's ids in Slack's shape (U0…U5, UBOSS, UROOT, USTRANGER), as the
    Slack adapter accepts them; otherwise u0…u5, boss, root, stranger."""
    async with ctx.sessions.begin() as session:
        workspace = Workspace(
            platform=platform,
            external_id="T0001",
            name="Acme",
            timezone="Europe/Berlin",
            threshold=threshold,
            comment_threshold=threshold,
        )
        session.add(workspace)
        await session.flush()

        def person(name: str, role: str = "member") -> Person:
            user_id = slack_id(name) if slack_ids else name
            ref = ConversationRef(platform, "T0001", user_id).to_json()
            p = Person(
                workspace_id=workspace.id,
                user_id=user_id,
                display_name=name.title(),
                role=role,
                conversation_ref=ref,
            )
            session.add(p)
            return p

        people = [person(f"u{i}") for i in range(members)]
        manager = person("boss")
        admin = person("root", role="admin")
        outsider = person("stranger")
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        await session.flush()
        for p in people:
            session.add(Membership(person_id=p.id, team_id=team.id, role="member"))
        session.add(Membership(person_id=manager.id, team_id=team.id, role="manager"))
    return World(ctx, workspace, team, people, manager, admin, outsider)


@pytest.fixture
async def world(ctx: Context) -> World:
    return await build_world(ctx)


async def until_a_session_waits_on_a_lock(ctx: Context) -> None:
    """PostgreSQL: polls until a session of this test's database waits on a lock (a race a
    test set up has reached the point it meant to reach). Fails after 10,000 looks."""
    waiting = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " WHERE NOT l.granted AND a.datname = current_database()"
    )
    async with ctx.database.connect() as conn:
        for _ in range(10_000):
            if await conn.scalar(waiting):
                return
    raise AssertionError("no session waited on a lock")
