"""The content rules through the engine: very low answers always bring the distress line, in
the check-in result and in the advice DM, with the workspace's support link once an admin sets
it from chat; nothing about it is stored or logged (design privacy rule 4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.chat.buttons import DISTRESS_FLAG
from bot.chat.engine import ChatEngine
from bot.rounds.lifecycle import open_round
from messages.copy import copy_for
from messages.model import Buttons, Message, Paragraph
from storage.schema import metadata
from tests.conftest import World
from tests.helpers import action, checkin, command, text_of

LINE = copy_for("en").say("distress_line")
LINK = "https://help.example.com/eap?lang=en&from=rutradar"
ALL_ONES = {k: 1 for k in ("assess", "routine", "training", "strengths", "path")}


async def say(engine: ChatEngine, user: str, text: str) -> str:
    return "\n".join(text_of(r) for r in await engine.handle(command(user, text)))


def distress_lines(message: Message) -> list[str]:
    return [b.text for b in message.blocks if isinstance(b, Paragraph) and LINE in b.text]


async def check_in_and_send(
    engine: ChatEngine, user: str, **scores: int
) -> tuple[Message, Message]:
    """A check-in, then the result dialog's "Send me this advice" button."""
    (result,) = await engine.handle(
        checkin(
            user,
            assess=scores["assess"],
            routine=scores["routine"],
            training=scores["training"],
            strengths=scores["strengths"],
            path=scores["path"],
        )
    )
    button = next(b for block in result.blocks if isinstance(block, Buttons) for b in block.buttons)
    (sent,) = await engine.handle(action(user, button.action_id, private=result.private))
    return result, sent


async def test_all_ones_bring_the_distress_line_to_the_result_and_the_dm(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    for member in world.members:  # each its own rotation of the advice
        result, sent = await check_in_and_send(engine, member.user_id, **ALL_ONES)
        assert "Counted for 2026-W48" in text_of(result)
        assert distress_lines(result) == [LINE] and distress_lines(sent) == [LINE]
        assert sent.surface == "chat" and "Where to start" in text_of(sent)
    # Not in a team: nothing stored, and still the line.
    result, sent = await check_in_and_send(engine, "stranger", **ALL_ONES)
    assert distress_lines(result) == [LINE] and distress_lines(sent) == [LINE]


async def test_three_practices_at_1_are_enough_and_mild_lows_are_not(world: World) -> None:
    engine = ChatEngine(world.ctx)
    result, sent = await check_in_and_send(
        engine, "u0", assess=1, routine=1, training=1, strengths=5, path=5
    )
    assert distress_lines(result) and distress_lines(sent)
    result, sent = await check_in_and_send(
        engine, "u1", assess=1, routine=2, training=2, strengths=2, path=2
    )
    assert not distress_lines(result) and not distress_lines(sent)
    assert result.private.count("|") == 1  # targets|period, no flag


async def test_the_support_link_is_set_from_chat_and_shown_with_the_line(world: World) -> None:
    engine = ChatEngine(world.ctx)
    refused = await say(engine, "u0", f"/rut admin workspace set --support-url {LINK}")
    assert "admin" in refused.lower()
    bad = await say(
        engine, "root", "/rut admin workspace set --support-url http://help.example.com"
    )
    assert "https://" in bad
    saved = await say(engine, "root", f"/rut admin workspace set --support-url '{LINK}'")
    assert f"support url {LINK}" in saved
    result, sent = await check_in_and_send(engine, "u0", **ALL_ONES)
    support = copy_for("en").say("distress_support", url=LINK)
    assert distress_lines(result) == [f"{LINE} {support}"]
    assert distress_lines(sent) == [f"{LINE} {support}"]
    # The link is the workspace's current one when the DM is sent, not carried in the dialog.
    assert LINK not in result.private
    await say(engine, "root", "/rut admin workspace set --support-url none")
    (sent,) = await engine.handle(action("u0", "advice_send", private=result.private))
    assert distress_lines(sent) == [LINE]


async def test_german_members_read_the_line_in_german(world: World) -> None:
    engine = ChatEngine(world.ctx)
    await say(engine, "root", "/rut admin workspace set --locale de")
    result, sent = await check_in_and_send(engine, "u0", **ALL_ONES)
    german = copy_for("de").say("distress_line")
    assert german != LINE
    for message in (result, sent):
        assert [b.text for b in message.blocks if isinstance(b, Paragraph) and german in b.text]


async def test_a_forged_flag_is_refused(world: World) -> None:
    engine = ChatEngine(world.ctx)
    for private in ("routine:rut|2026-W48|drop", "routine:rut|2026-W48|care|x", "routine:x"):
        (reply,) = await engine.handle(action("u0", "advice_send", private=private))
        assert "no longer valid" in text_of(reply), private
    (reply,) = await engine.handle(action("u0", "advice_send", private="routine:rut"))
    assert "Overhaul your routine" in text_of(reply) and not distress_lines(reply)


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{record.name} {record.getMessage()} {record.__dict__}")

    root = logging.getLogger()
    handler, level = Capture(level=logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_the_line_is_neither_stored_nor_logged(world: World, logged: list[str]) -> None:
    engine = ChatEngine(world.ctx)
    await open_round(world.ctx, world.cli, world.team)
    await engine.handle(command("u0", "/rut help"))  # first contact already happened

    async def snapshot() -> dict[str, Any]:
        skip = {"answers", "deliveries", "processed_events", "alembic_version"}
        out: dict[str, Any] = {}
        async with world.ctx.database.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name not in skip:
                    rows = (await conn.execute(table.select())).all()
                    out[table.name] = sorted(map(tuple, rows), key=repr)
        return out

    before = await snapshot()
    result, sent = await check_in_and_send(engine, "u0", **ALL_ONES)
    assert distress_lines(result) and distress_lines(sent)
    assert await snapshot() == before
    flag = f"|{DISTRESS_FLAG}"
    for line in logged:
        assert LINE not in line and flag not in line, line
