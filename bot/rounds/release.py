"""The release rules, as a pure function: what a closed round may show and what it withholds."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages.content import PRACTICE_KEYS
from storage.values import ReleaseStatus

IN_RUT_MEAN = 2.5


@dataclass(frozen=True)
class ComputedRelease:
    status: ReleaseStatus
    respondents: int
    delivered: int
    threshold: int
    data: dict[str, Any] | None  # None when withheld: nothing beyond the counts leaves close


def participation_share(answered: int, delivered: int) -> float | None:
    return round(answered / delivered, 2) if delivered else None


@dataclass(frozen=True)
class AnswerTotals:
    """What the release needs of a round's answers, as sums and counts (the database folds
    them in one aggregate query; `compute_release` folds a list the same way)."""

    respondents: int
    sums: Mapping[str, int]  # per practice: the sum of its scores
    lows: Mapping[str, int]  # per practice: how many scored it 2 or less
    in_rut: int  # answers whose five scores average IN_RUT_MEAN or less

    @staticmethod
    def of(answers: Sequence[Mapping[str, int]]) -> AnswerTotals:
        return AnswerTotals(
            respondents=len(answers),
            sums={k: sum(a[k] for a in answers) for k in PRACTICE_KEYS},
            lows={k: sum(1 for a in answers if a[k] <= 2) for k in PRACTICE_KEYS},
            in_rut=sum(1 for a in answers if sum(a[k] for k in PRACTICE_KEYS) <= IN_RUT_TOTAL),
        )


# An answer is "in a rut" when its mean is ≤ IN_RUT_MEAN; scores are integers, so that is a
# total of at most floor(5 × 2.5) = 12, which SQL can count exactly.
IN_RUT_TOTAL = int(IN_RUT_MEAN * len(PRACTICE_KEYS))


def compute_release(
    answers: Sequence[Mapping[str, int]],
    comments: Sequence[str],
    *,
    delivered: int,
    threshold: int,
    comment_threshold: int,
    rng: random.Random | None = None,
) -> ComputedRelease:
    """Fold a round's answers into aggregates; below the frozen threshold, withhold everything."""
    return release_from_totals(
        AnswerTotals.of(answers),
        comments,
        delivered=delivered,
        threshold=threshold,
        comment_threshold=comment_threshold,
        rng=rng,
    )


def release_from_totals(
    totals: AnswerTotals,
    comments: Sequence[str],
    *,
    delivered: int,
    threshold: int,
    comment_threshold: int,
    rng: random.Random | None = None,
) -> ComputedRelease:
    """The release from the answers' sums and counts; below the frozen threshold, withhold
    everything."""
    respondents = totals.respondents
    if respondents < threshold or respondents == 0:
        return ComputedRelease(ReleaseStatus.WITHHELD, respondents, delivered, threshold, None)

    practices: dict[str, dict[str, float]] = {}
    for key in PRACTICE_KEYS:
        practices[key] = {
            "mean": round(totals.sums[key] / respondents, 1),
            "low_share": round(totals.lows[key] / respondents, 2),
        }
    attention = min(
        PRACTICE_KEYS,
        key=lambda k: (practices[k]["mean"], -practices[k]["low_share"], PRACTICE_KEYS.index(k)),
    )
    shared: list[str] = []
    if respondents >= comment_threshold:
        shared = list(comments)
        (rng or random.SystemRandom()).shuffle(shared)
    return ComputedRelease(
        ReleaseStatus.RELEASED,
        respondents,
        delivered,
        threshold,
        {
            "practices": practices,
            "in_rut_share": round(totals.in_rut / respondents, 2),
            "attention": attention,
            "comments": shared,
        },
    )


def with_trend(data: dict[str, Any], earlier: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Freeze each practice's change since the previous release and its low streak into the
    snapshot at close, so a release never changes afterwards (not even when older releases
    reach their retention). `earlier` holds the team's previous releases' data, oldest first,
    None for a withheld one: withheld rounds neither break nor extend a streak."""
    released = [d for d in earlier if d]
    practices = {}
    for key, row in data["practices"].items():
        before = released[-1]["practices"][key]["mean"] if released else None
        streak = 0
        if row["mean"] <= IN_RUT_MEAN:
            streak = 1
            for previous in reversed(released):
                if previous["practices"][key]["mean"] > IN_RUT_MEAN:
                    break
                streak += 1
        practices[key] = {
            **row,
            "change": round(row["mean"] - before, 1) if before is not None else None,
            "low_streak": streak,
        }
    return {**data, "practices": practices}
