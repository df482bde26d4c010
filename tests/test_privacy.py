"""One test (at least) per privacy rule; each fails if its rule breaks. Run on SQLite and,
with RUTRADAR_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, func, select, text
from sqlalchemy.engine import make_url

from bot.admin.operations import RoundAction, round_action, round_list, set_members, workspace_set
from bot.chat.engine import ChatEngine
from bot.core.clock import ManualClock
from bot.core.context import Context
from bot.core.errors import UsageError
from bot.delivery.scheduler import RoundScheduler
from bot.rounds.lifecycle import close_round, open_round
from bot.rounds.release import compute_release
from bot.server.app import RUNTIME, ConfigurationError, build_app, check_settings
from bot.server.cli import main as cli_main
from bot.server.config import Settings
from bot.server.logs import RedactingFilter, configure_logging
from messages.content import PRACTICE_KEYS, load_content
from messages.copy import copy_for
from storage import maintenance
from storage.crypto import SecretBox, SecretKeyError
from storage.db import create_engine, normalize_url
from storage.models import Answer, AuditEvent, Delivery, Membership, Round, Team
from storage.schema import metadata
from storage.values import MembershipRole
from tests.conftest import PG_ENV, World, build_world
from tests.helpers import checkin, command, text_of

ROOT = Path(__file__).resolve().parent.parent
ADVICE = [
    text
    for _key, _level, piece in load_content().pieces()
    for text in (piece.text, piece.after_a_week)
    if text
]


async def answer_ids(ctx: Context) -> list[str]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(Answer.id))).all())


async def count(ctx: Context, model: type, *where: Any) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- rule 1: nothing reaches from an answer to a person ----------------------------------------


def test_rule_1_schema_answers_reach_no_person_or_delivery_and_carry_no_time() -> None:
    scored = [t for t in metadata.sorted_tables if {"assess", "routine"} <= set(t.c.keys())]
    assert [t.name for t in scored] == ["answers"]
    answers = scored[0]
    assert set(answers.c.keys()) == {"id", "round_id", *PRACTICE_KEYS, "comment"}
    assert {fk.column.table.name for fk in answers.foreign_keys} == {"rounds"}
    assert not any(
        isinstance(c.type, DateTime) or "time" in c.name or c.name.endswith("_at")
        for c in answers.c
    )
    assert not any(set(i.columns.keys()) - {"id", "round_id"} for i in answers.indexes)
    assert answers.dialect_options["sqlite"]["with_rowid"] is False  # no rowid order on SQLite
    releases = metadata.tables["releases"]
    assert {fk.column.table.name for fk in releases.foreign_keys} == {"rounds"}


async def test_rule_1_answer_ids_are_random_and_say_nothing_of_order(world: World) -> None:
    engine = ChatEngine(world.ctx)
    extra = [f"x{i}" for i in range(14)]
    await set_members(world.ctx, world.cli, "Platform", extra, role=MembershipRole.MEMBER, add=True)
    await open_round(world.ctx, world.cli, world.team)
    inserted: list[str] = []
    for user in [f"u{i}" for i in range(6)] + extra:
        known = set(await answer_ids(world.ctx))
        await engine.handle(checkin(user))
        inserted += sorted(set(await answer_ids(world.ctx)) - known)
    assert len(inserted) == len(set(inserted)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in inserted)
    assert inserted != sorted(inserted)  # ids carry no order (20! to 1 against by chance)
    if world.ctx.database.dialect.name == "sqlite":  # WITHOUT ROWID: stored by id, not by arrival
        assert await answer_ids(world.ctx) == sorted(inserted)


# --- rule 2 and 3 of the design (issue's rule 2): nothing left after close ---------------------


async def test_rule_2_after_close_no_answers_no_flags_and_nothing_in_the_files(
    world: World, db_url: str
) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(6):
        await engine.handle(checkin(f"u{i}", routine=2, comment=f"line {i}", share=True))
    ids = await answer_ids(world.ctx)
    assert len(ids) == 6
    files_before = await relation_files(world.ctx)
    outcome = await close_round(world.ctx, world.cli, world.team)
    assert not outcome.scrub_pending
    async with world.ctx.sessions() as session:
        assert (await session.scalars(select(Round.scrub_pending))).all() == [False]
    assert await count(world.ctx, Answer) == 0
    assert await count(world.ctx, Delivery, Delivery.kind != "summary") == 0  # no answered flags
    if world.ctx.database.dialect.name == "sqlite":
        database = Path(make_url(db_url).database or "")
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                raw = path.read_bytes()
                leaked = [i for i in ids if i.encode() in raw]
                assert leaked == [], f"{path.name} still holds answer ids"
    else:  # rewritten (VACUUM FULL): new files; tests/test_privacy_attacks.py reads their pages
        after = await relation_files(world.ctx)
        assert all(after[name] != files_before[name] for name in after), (files_before, after)


async def relation_files(ctx: Context) -> dict[str, int]:
    """PostgreSQL: the file number of each scrubbed table (a rewrite gives it a new one)."""
    if ctx.database.dialect.name != "postgresql":
        return {}
    async with ctx.database.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('answers', 'deliveries')"
            )
        )
        return {str(name): int(node) for name, node in rows}


# --- rule 3 (issue): logs and metrics -----------------------------------------------------------


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    """The project's most verbose level, with its clamps and redacting filter, library
    loggers included: every line that would reach the log."""
    root = logging.getLogger()
    before = (
        root.level,
        list(root.handlers),
        {n: logging.getLogger(n).level for n in logging.root.manager.loggerDict},
    )
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    capture = Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root.addHandler(capture)
    configure_logging("DEBUG")
    assert any(isinstance(f, RedactingFilter) for f in capture.filters)
    try:
        yield lines
    finally:
        root.removeHandler(capture)
        root.setLevel(before[0])
        for name, level in before[2].items():
            logging.getLogger(name).setLevel(level)


async def test_rule_3_a_whole_round_logs_nothing_tying_a_score_or_advice_to_a_person(
    world: World, captured_logs: list[str]
) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(6):
        await engine.handle(checkin(f"u{i}", routine=1, path=2, comment="secret line"))
    await engine.handle(command("boss", "/rut summary"))
    await close_round(world.ctx, world.cli, world.team)
    await engine.handle(command("boss", "/rut summary"))
    # What libraries would print at DEBUG: the clamps must drop these, whatever the level...
    for name in ("sqlalchemy.engine.Engine", "slack_bolt.App", "slack_sdk.web.async_base_client"):
        logging.getLogger(name).debug("INSERT INTO answers (routine) VALUES (%s, %s)", "u0", 1)
    # ...and the redacting filter must drop a body that reaches any logger at all.
    logging.getLogger("bot.chat.engine").info(
        'received payload={"user": "u0", "values": {"routine": "1"}}'
    )
    people = [f"u{i}" for i in range(6)]
    for line in captured_logs:
        assert "secret line" not in line
        assert not any(piece in line for piece in ADVICE), line
        if any(re.search(rf"\b{p}\b", line) for p in people):
            assert not re.search(r"\b(assess|routine|training|strengths|path)\b", line), line


# --- rule 4: nothing derived from an answer is stored with the person --------------------------


async def test_rule_4_a_check_in_changes_nothing_about_the_person(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    await engine.handle(command("u0", "/rut help"))  # first contact already happened

    async def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        skip = {"answers", "deliveries", "processed_events", "alembic_version"}
        out: dict[str, list[tuple[Any, ...]]] = {}
        async with world.ctx.database.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name not in skip:
                    out[table.name] = sorted(
                        map(tuple, (await conn.execute(table.select())).all()), key=repr
                    )
        return out

    before = await snapshot()
    result = await engine.handle(checkin("u0", routine=1, training=1))
    assert "Counted" in text_of(result[0])
    assert await snapshot() == before


# --- rule 5: release rules ------------------------------------------------------------------------


async def test_rule_5_open_rounds_show_counts_only_and_k_minus_1_is_withheld(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(4):  # k − 1 with k = 5
        await engine.handle(checkin(f"u{i}", routine=1))
    during = text_of((await engine.handle(command("boss", "/rut summary")))[0])
    assert "4 of 4 have answered" in during and "Mean" not in during
    outcome = await close_round(world.ctx, world.cli, world.team)
    assert outcome.release is not None
    assert (outcome.release.status, outcome.release.respondents, outcome.release.data) == (
        "withheld",
        4,
        None,
    )
    after = text_of((await engine.handle(command("boss", "/rut summary")))[0])
    assert "withheld because fewer than 5" in after and "Mean" not in after


async def test_rule_5_the_threshold_cannot_go_below_3(world: World) -> None:
    with pytest.raises(UsageError, match="cannot be below 3"):
        await workspace_set(world.ctx, world.cli, threshold="2")
    with pytest.raises(UsageError, match="comment threshold cannot be below"):
        await workspace_set(world.ctx, world.cli, comment_threshold="3")


async def test_rule_5_managers_are_not_counted_and_new_managers_do_not_see_their_round(
    world: World,
) -> None:
    outcome = await open_round(world.ctx, world.cli, world.team)
    async with world.ctx.sessions() as session:
        population = set(
            (
                await session.scalars(
                    select(Delivery.person_id).where(Delivery.round_id == outcome.round.id)
                )
            ).all()
        )
    assert world.manager.id not in population
    engine = ChatEngine(world.ctx)
    for i in range(6):
        await engine.handle(checkin(f"u{i}"))
    await set_members(
        world.ctx, world.cli, "Platform", ["u0"], role=MembershipRole.MANAGER, add=True
    )
    await close_round(world.ctx, world.cli, world.team)
    assert "No round has closed yet" in text_of(
        (await engine.handle(command("u0", "/rut summary")))[0]
    )
    async with world.ctx.sessions() as session:
        summaries = (
            await session.scalars(select(Delivery.person_id).where(Delivery.kind == "summary"))
        ).all()
    assert summaries == [world.manager.id]  # not pushed to the member made manager either


# --- rule 6: whole teams, their managers only -----------------------------------------------------


async def test_rule_6_non_managers_and_other_teams_managers_are_refused_politely(
    world: World,
) -> None:
    engine = ChatEngine(world.ctx)
    async with world.ctx.sessions.begin() as session:
        other = Team(workspace_id=world.workspace.id, name="Data")
        session.add(other)
        await session.flush()
        session.add(Membership(person_id=world.outsider.id, team_id=other.id, role="manager"))
    member = text_of((await engine.handle(command("u1", "/rut summary Platform")))[0])
    stranger = text_of((await engine.handle(command("stranger", "/rut summary Platform")))[0])
    assert "managers" in member and "Traceback" not in member
    assert "Only the managers of Platform" in stranger
    assert await count(world.ctx, AuditEvent, AuditEvent.action == "summary_viewed") == 0


# --- rule 7: shared lines -----------------------------------------------------------------------


async def test_rule_7_unshared_lines_never_stored_shared_only_at_the_comment_threshold(
    world: World,
) -> None:
    engine = ChatEngine(world.ctx)
    await workspace_set(world.ctx, world.cli, comment_threshold="6")
    await open_round(world.ctx, world.cli, world.team)
    await engine.handle(checkin("u0", comment="kept to myself"))
    for i in range(1, 6):
        await engine.handle(checkin(f"u{i}", comment=f"for the team {i}", share=True))
    async with world.ctx.sessions() as session:
        stored = set((await session.scalars(select(Answer.comment))).all())
    assert "kept to myself" not in stored and len(stored - {None}) == 5
    outcome = await close_round(world.ctx, world.cli, world.team)  # 6 respondents, threshold 6
    assert outcome.release is not None and outcome.release.data is not None
    assert sorted(outcome.release.data["comments"]) == [f"for the team {i}" for i in range(1, 6)]


async def test_rule_7_below_the_comment_threshold_lines_are_dropped(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await workspace_set(world.ctx, world.cli, comment_threshold="7")
    await open_round(world.ctx, world.cli, world.team)
    for i in range(6):
        await engine.handle(checkin(f"u{i}", comment="please", share=True))
    outcome = await close_round(world.ctx, world.cli, world.team)
    assert outcome.release is not None and outcome.release.data is not None
    assert outcome.release.status == "released" and outcome.release.data["comments"] == []


# --- rule 8: the release rules over random teams ------------------------------------------------

scores = st.fixed_dictionaries({k: st.integers(1, 5) for k in PRACTICE_KEYS})


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(scores, max_size=25),
    threshold=st.integers(3, 8),
    comment_extra=st.integers(0, 5),
    delivered_extra=st.integers(0, 5),
)
def test_rule_8_release_rules_hold_for_random_teams(
    answers: list[dict[str, int]], threshold: int, comment_extra: int, delivered_extra: int
) -> None:
    comments = [f"c{i}" for i in range(len(answers))]
    result = compute_release(
        answers,
        comments,
        delivered=len(answers) + delivered_extra,
        threshold=threshold,
        comment_threshold=threshold + comment_extra,
    )
    assert result.respondents == len(answers) and result.delivered >= result.respondents
    if len(answers) < threshold:
        assert result.status == "withheld" and result.data is None  # the count, nothing else
        return
    assert result.data is not None
    assert set(result.data) == {"practices", "in_rut_share", "attention", "comments"}
    for row in result.data["practices"].values():
        assert set(row) == {"mean", "low_share"}  # aggregates only: no per-person values
    shown = result.data["comments"]
    assert (
        (shown == [])
        if len(answers) < threshold + comment_extra
        else (sorted(shown) == sorted(comments))
    )


# --- /rut privacy and docs/privacy.md say the same ----------------------------------------------


def test_the_privacy_statement_and_the_docs_agree() -> None:
    doc = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    t = copy_for("en")
    for i in range(1, 6):
        assert t.say(f"privacy_rule_{i}") in doc, f"privacy_rule_{i} is not in docs/privacy.md"


# --- rule 3: the scrub after close, when it cannot finish at once (issue 11) -------------------


async def test_rule_3_sqlite_scrub_pending_is_logged_once_counted_and_retried(
    sqlite_url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(
        Settings(RUTRADAR_DATABASE_URL=sqlite_url, RUTRADAR_PLAYGROUND=True),
        clock=clock,
        background=False,
    )
    runtime = app[RUNTIME]
    world = await build_world(runtime.ctx)
    await open_round(world.ctx, world.cli, world.team)
    await ChatEngine(world.ctx).handle(checkin("u0"))
    reader = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM answers").fetchone()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            caplog.set_level(logging.INFO)
            outcome = await close_round(world.ctx, world.cli, world.team)
            assert outcome.scrub_pending
            closed = await round_action(world.ctx, world.cli, "Platform", RoundAction.CLOSE)
            assert "already closed" in closed.text
            metrics = await (await client.get("/metrics")).text()
            assert "rutradar_rounds_scrub_pending 1.0" in metrics
            report = await RoundScheduler(world.ctx).run_once()  # the reader still holds on
            assert report.scrubbed == 0 and not report.did_something
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "scrub pending" in warnings[0], warnings  # once, not per pass
        report = await RoundScheduler(world.ctx).run_once()
        assert report.scrubbed == 1 and "scrubbed 1" in report.summary()
        metrics = await (await client.get("/metrics")).text()
        assert "rutradar_rounds_scrub_pending 0.0" in metrics
    listed = await round_list(world.ctx, world.cli, "Platform")
    assert listed.data[0]["scrub_pending"] is False and "scrub pending" not in listed.text


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rule_3_postgres_waits_for_transactions_older_than_the_close(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VACUUM FULL keeps rows an open snapshot may still see: it runs only once none is older
    than the close, and it never queues long for its lock."""
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(6):
        await engine.handle(checkin(f"u{i}", comment=f"kept until the scrub {i}", share=True))
    other = create_engine(world.ctx.database.url.render_as_string(hide_password=False))
    try:
        async with other.connect() as old:  # a report someone left open before the close
            await old.execute(text("SELECT count(*) FROM teams"))
            outcome = await close_round(world.ctx, world.cli, world.team)
            assert outcome.scrub_pending
            assert "scrub pending" in (await round_list(world.ctx, world.cli, "Platform")).text
            assert (await RoundScheduler(world.ctx).run_once()).scrubbed == 0
            await old.rollback()

            # A newer transaction holding a lock on deliveries: the rewrite gives up quickly.
            monkeypatch.setattr(maintenance, "LOCK_TIMEOUT_MS", 50)
            await old.execute(text("SELECT count(*) FROM deliveries"))
            result = await maintenance.scrub(world.ctx.database)
            assert not result.done and "VACUUM FULL could not run" in result.reason
            await old.rollback()
    finally:
        await other.dispose()
    assert (await RoundScheduler(world.ctx).run_once()).scrubbed == 1
    assert "scrub pending" not in (await round_list(world.ctx, world.cli, "Platform")).text


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rule_3_postgres_waits_for_a_write_older_than_the_close_in_another_database(
    world: World,
) -> None:
    """VACUUM FULL's own snapshot starts at the oldest transaction id running anywhere in the
    cluster, and it keeps every row that snapshot could see: a write left open in another
    database (another application on the same server) kept the deleted rows' bytes while the
    scrub said it was done. It waits for that transaction like for one in its own database."""
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for i in range(6):
        await engine.handle(checkin(f"u{i}", comment=f"kept until the scrub {i}", share=True))
    # The database the throwaway test database was made from: another one on the server.
    neighbour = create_engine(normalize_url(os.environ[PG_ENV]))
    try:
        async with neighbour.connect() as other:  # holds a transaction id from before the close
            await other.execute(text("SELECT pg_current_xact_id()"))
            outcome = await close_round(world.ctx, world.cli, world.team)
            assert outcome.scrub_pending
            assert (await RoundScheduler(world.ctx).run_once()).scrubbed == 0
            await other.rollback()
    finally:
        await neighbour.dispose()
    assert (await RoundScheduler(world.ctx).run_once()).scrubbed == 1
    async with world.ctx.database.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        pages = int(await auto.scalar(text("SELECT pg_relation_size('answers') / 8192")) or 0)
        raw = b""
        for n in range(pages):
            page = await auto.scalar(text("SELECT get_raw_page('answers', 'main', :n)"), {"n": n})
            raw += bytes(page)
    assert b"kept until the scrub" not in raw


# --- rule 12: secrets at rest, and reads that never write (issue 11) --------------------------


def test_rule_12_oauth_without_a_key_or_with_a_bad_key_is_refused_in_one_line() -> None:
    oauth: dict[str, Any] = {
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_CLIENT_ID": "1.2",
        "SLACK_CLIENT_SECRET": "c",
        "RUTRADAR_PLAYGROUND": False,
    }
    with pytest.raises(ConfigurationError) as missing:
        check_settings(Settings(**oauth))
    assert "RUTRADAR_SECRET_KEY" in str(missing.value) and "\n" not in str(missing.value)
    with pytest.raises(ConfigurationError, match="key 2 is not a Fernet key"):
        check_settings(
            Settings(**oauth, RUTRADAR_SECRET_KEY=f"{Fernet.generate_key().decode()},nope")
        )
    check_settings(Settings(**oauth, RUTRADAR_SECRET_KEY=Fernet.generate_key().decode()))
    check_settings(Settings(SLACK_SIGNING_SECRET="s", SLACK_BOT_TOKEN="xoxb-env"))  # nothing stored


async def test_rule_12_the_store_refuses_to_keep_a_token_without_a_key(sqlite_url: str) -> None:
    from slack_sdk.oauth.installation_store.models.installation import Installation

    from storage.slack_store import EncryptedInstallationStore

    engine = create_engine(sqlite_url)
    try:
        store = EncryptedInstallationStore("1.2", engine, None)
        with pytest.raises(SecretKeyError, match="RUTRADAR_SECRET_KEY is not set"):
            await store.async_save(
                Installation(app_id="A1", team_id="T1", user_id="U1", bot_token="xoxb-secret")
            )
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM slack_bots"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_rule_12_keys_rotate_new_first_then_rotate_then_drop_the_old(sqlite_url: str) -> None:
    from slack_sdk.oauth.installation_store.models.installation import Installation

    from storage.slack_store import EncryptedInstallationStore, reencrypt_tokens

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    engine = create_engine(sqlite_url)
    try:
        await EncryptedInstallationStore("1.2", engine, old).async_save(
            Installation(app_id="A1", team_id="T1", user_id="U1", bot_token="xoxb-secret")
        )
        # 1. The new key first: it encrypts from now on, the old one still decrypts.
        both = EncryptedInstallationStore("1.2", engine, f"{new},{old}")
        bot = await both.async_find_bot(enterprise_id=None, team_id="T1")
        assert bot is not None and bot.bot_token == "xoxb-secret"
        # 2. `rutradar secrets rotate`: everything stored is re-encrypted with the new key.
        assert await reencrypt_tokens(engine, SecretBox(f"{new},{old}")) == {
            "slack_bots": 1,
            "slack_installations": 1,
        }
        # 3. The old key dropped: everything still reads.
        found = await EncryptedInstallationStore("1.2", engine, new).async_find_installation(
            enterprise_id=None, team_id="T1"
        )
        assert found is not None and found.bot_token == "xoxb-secret"
        with pytest.raises(SecretKeyError, match="does not decrypt"):
            await EncryptedInstallationStore("1.2", engine, old).async_find_bot(
                enterprise_id=None, team_id="T1"
            )
    finally:
        await engine.dispose()


def test_rule_12_the_cli_generates_a_key_and_rotates_only_with_one(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUTRADAR_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("RUTRADAR_SECRET_KEY", raising=False)
    assert cli_main(["secrets", "generate"]) == 0
    key = capsys.readouterr().out.strip()
    assert SecretBox(key).decrypt(SecretBox(key).encrypt("x")) == "x"
    assert cli_main(["secrets", "rotate"]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line: what is missing and what to do
    monkeypatch.setenv("RUTRADAR_SECRET_KEY", key)
    assert cli_main(["secrets", "rotate"]) == 0
    assert "Re-encrypted 0 stored tokens" in capsys.readouterr().out
