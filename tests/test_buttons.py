"""Button values (bot/chat/buttons.py): what a view writes, the engine reads back the same; what
it did not write is refused as None, never a crash, and through the engine as a polite reply."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.chat.buttons import DISTRESS_FLAG, CarriedAdvice, RoundButton, RoundVerb
from bot.chat.engine import ChatEngine
from messages.content import LEVELS, PRACTICE_KEYS
from tests.conftest import World
from tests.helpers import action, text_of

targets = st.lists(
    st.tuples(st.sampled_from(PRACTICE_KEYS), st.sampled_from(LEVELS)), min_size=1, max_size=5
).map(tuple)
periods = st.text().filter(lambda period: "|" not in period)
carried = st.builds(CarriedAdvice, targets, periods, st.booleans())
rounds = st.builds(RoundButton, st.sampled_from(RoundVerb), st.text())

# Near misses: the pieces the formats are made of, in any order, so malformed values come
# close to well-formed ones (a stray separator, a level without its practice, a second flag…).
pieces = st.sampled_from(
    [*PRACTICE_KEYS, *LEVELS, *RoundVerb, DISTRESS_FLAG, "|", ";", ":", "", "2026-W48", "x", " "]
)
near_misses = st.lists(pieces, max_size=8).map("".join)
anything = st.one_of(near_misses, st.text())


@given(carried)
def test_carried_advice_reads_back_as_written(value: CarriedAdvice) -> None:
    assert CarriedAdvice.decode(value.encode()) == value


@given(rounds)
@example(RoundButton(RoundVerb.OPEN, "R&D | Platform"))  # only the first | separates
def test_round_buttons_read_back_as_written(value: RoundButton) -> None:
    assert RoundButton.decode(value.encode()) == value


@settings(max_examples=500)
@given(anything)
def test_anything_else_decodes_to_none_or_to_a_value_written_the_same_way(raw: str) -> None:
    for kind in (CarriedAdvice, RoundButton):
        decoded = kind.decode(raw)  # never raises
        if decoded is not None:
            assert isinstance(decoded, kind)
            assert kind.decode(decoded.encode()) == decoded


def test_the_formats_are_the_ones_buttons_in_chat_already_carry() -> None:
    """Buttons sent before a release stay in people's chats: the format may not change."""
    advice = CarriedAdvice((("routine", "rut"), ("path", "middle")), "2026-W48", distress=True)
    assert advice.encode() == "routine:rut;path:middle|2026-W48|care"
    assert CarriedAdvice((("routine", "rut"),), "2026-W48").encode() == "routine:rut|2026-W48"
    assert CarriedAdvice.decode("routine:rut") == CarriedAdvice((("routine", "rut"),))
    assert RoundButton(RoundVerb.ASK_CLOSE, "Platform").encode() == "ask-close|Platform"
    assert [verb.value for verb in RoundVerb] == ["open", "close", "skip", "ask-close", "panel"]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "routine",
        "routine:",
        "routine:bad",
        "knitting:rut",
        "routine:rut;",
        ";routine:rut",
        "routine:rut|2026-W48|drop",
        "routine:rut|2026-W48|care|x",
        "drop-table:rut|x",
    ],
)
def test_malformed_advice_is_refused(raw: str) -> None:
    assert CarriedAdvice.decode(raw) is None


@pytest.mark.parametrize("raw", ["", "open", "Platform", "frobnicate|Platform", "OPEN|Platform"])
def test_malformed_round_buttons_are_refused(raw: str) -> None:
    assert RoundButton.decode(raw) is None


def test_what_could_not_be_read_back_is_not_written() -> None:
    for bad in (
        lambda: CarriedAdvice(()),
        lambda: CarriedAdvice((("knitting", "rut"),)),
        lambda: CarriedAdvice((("routine", "rut"),), "2026|W48"),
    ):
        with pytest.raises(ValueError):
            bad()


@pytest.mark.parametrize(
    ("action_id", "value", "private"),
    [
        ("advice_send", "", "routine:rut|2026-W48|care|care|x"),
        ("advice_send", "routine:thriving;", ""),
        ("admin_round", "frobnicate|Platform", ""),
        ("admin_round", "open", ""),
        ("admin_round", "", ""),
    ],
)
async def test_a_malformed_value_gets_a_polite_reply(
    world: World, action_id: str, value: str, private: str
) -> None:
    engine = ChatEngine(world.ctx)
    (reply,) = await engine.handle(action("root", action_id, value, private=private))
    assert "no longer valid" in text_of(reply)
    assert reply.tags == ("error",)
