"""The release rules as a pure function, including a property-based check."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.context import Context
from bot.rounds.lifecycle import open_round
from bot.rounds.release import (
    IN_RUT_TOTAL,
    AnswerTotals,
    compute_release,
    release_from_totals,
    with_trend,
)
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.models import Answer
from tests.conftest import build_world


def answer(**scores: int) -> dict[str, int]:
    return {k: scores.get(k, 3) for k in PRACTICE_KEYS}


def test_below_threshold_is_withheld_with_counts_only() -> None:
    result = compute_release([answer()] * 4, ["hi"], delivered=8, threshold=5, comment_threshold=5)
    assert result.status == "withheld"
    assert (result.respondents, result.delivered, result.data) == (4, 8, None)


def test_release_computes_means_low_shares_and_attention() -> None:
    answers = [
        answer(routine=1),
        answer(routine=2),
        answer(routine=2),
        answer(routine=4),
        answer(routine=5),
    ]
    result = compute_release(answers, [], delivered=6, threshold=5, comment_threshold=5)
    assert result.status == "released"
    assert result.data is not None
    routine = result.data["practices"]["routine"]
    assert routine == {"mean": 2.8, "low_share": 0.6}
    assert result.data["practices"]["assess"] == {"mean": 3.0, "low_share": 0.0}
    assert result.data["attention"] == "routine"


def test_in_rut_share_counts_respondents_whose_mean_is_at_most_2_5() -> None:
    low = answer(assess=2, routine=2, training=3, strengths=3, path=2)  # mean 2.4
    high = answer(assess=3, routine=3, training=3, strengths=3, path=3)
    result = compute_release(
        [low, high, high, high, high], [], delivered=5, threshold=5, comment_threshold=5
    )
    assert result.data is not None
    assert result.data["in_rut_share"] == 0.2


def test_comments_only_at_comment_threshold_and_shuffled() -> None:
    comments = [f"line {i}" for i in range(6)]
    below = compute_release([answer()] * 6, comments, delivered=6, threshold=5, comment_threshold=7)
    assert below.data is not None and below.data["comments"] == []
    at = compute_release(
        [answer()] * 6,
        comments,
        delivered=6,
        threshold=5,
        comment_threshold=6,
        rng=random.Random(1),
    )
    assert at.data is not None
    assert sorted(at.data["comments"]) == comments
    assert at.data["comments"] != comments  # shuffled: submission order is not kept


scores = st.fixed_dictionaries({k: st.integers(1, 5) for k in PRACTICE_KEYS})


@settings(max_examples=200, deadline=None)
@given(
    answers=st.lists(scores, max_size=30),
    threshold=st.integers(3, 10),
    extra_delivered=st.integers(0, 10),
)
def test_release_rules_hold_for_any_team(
    answers: list[dict[str, int]], threshold: int, extra_delivered: int
) -> None:
    delivered = len(answers) + extra_delivered
    result = compute_release(
        answers,
        ["c"] * len(answers),
        delivered=delivered,
        threshold=threshold,
        comment_threshold=threshold,
    )
    assert result.respondents == len(answers)
    if len(answers) < threshold:
        assert result.status == "withheld" and result.data is None
        return
    assert result.status == "released" and result.data is not None
    for key in PRACTICE_KEYS:
        values = [a[key] for a in answers]
        row = result.data["practices"][key]
        assert min(values) - 0.05 <= row["mean"] <= max(values) + 0.05
        assert 0.0 <= row["low_share"] <= 1.0
    assert result.data["attention"] in PRACTICE_KEYS
    assert len(result.data["comments"]) == len(answers)


def test_change_and_low_streak_are_frozen_into_the_snapshot() -> None:
    def released(routine: float) -> dict[str, Any]:
        return {
            "practices": {
                k: {"mean": routine if k == "routine" else 3.5, "low_share": 0.0}
                for k in PRACTICE_KEYS
            }
        }

    now = released(2.0)
    # oldest first: a low round, a withheld one (None: neither breaks nor extends), another low one
    frozen = with_trend(now, [released(3.0), released(2.4), None, released(2.5)])
    assert frozen["practices"]["routine"]["change"] == -0.5
    assert frozen["practices"]["routine"]["low_streak"] == 3
    assert frozen["practices"]["assess"] == {
        "mean": 3.5,
        "low_share": 0.0,
        "change": 0.0,
        "low_streak": 0,
    }
    first = with_trend(now, [])
    assert (
        first["practices"]["routine"]["change"] is None
        and first["practices"]["routine"]["low_streak"] == 1
    )


async def test_the_database_folds_answers_as_the_release_rules_do(ctx: Context) -> None:
    """The close folds answers in SQL (`answer_totals`); the sums and counts, and so the
    release, are exactly the pure function's on the same answers, on both backends."""
    world = await build_world(ctx)
    rnd = (await open_round(ctx, world.cli, world.team)).round
    rng = random.Random(12)
    answers = [{k: rng.randint(1, 5) for k in PRACTICE_KEYS} for _ in range(200)]
    answers += [answer(), answer(assess=1, routine=2, training=3, strengths=3, path=3)]  # 12
    async with ctx.sessions.begin() as session:
        session.add_all(Answer(round_id=rnd.id, **a) for a in answers)
    async with ctx.sessions() as session:
        respondents, sums, lows, in_rut = await repo.answer_totals(
            session, rnd.id, PRACTICE_KEYS, IN_RUT_TOTAL
        )
    assert AnswerTotals(respondents, sums, lows, in_rut) == AnswerTotals.of(answers)
    assert release_from_totals(
        AnswerTotals.of(answers), [], delivered=202, threshold=5, comment_threshold=5
    ) == compute_release(answers, [], delivered=202, threshold=5, comment_threshold=5)
