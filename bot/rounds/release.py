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
    respondents = len(answers)
    if respondents < threshold or respondents == 0:
        return ComputedRelease(ReleaseStatus.WITHHELD, respondents, delivered, threshold, None)

    practices: dict[str, dict[str, float]] = {}
    for key in PRACTICE_KEYS:
        scores = [a[key] for a in answers]
        practices[key] = {
            "mean": round(sum(scores) / respondents, 1),
            "low_share": round(sum(1 for s in scores if s <= 2) / respondents, 2),
        }
    in_rut = sum(1 for a in answers if sum(a[k] for k in PRACTICE_KEYS) / 5 <= IN_RUT_MEAN)
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
            "in_rut_share": round(in_rut / respondents, 2),
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
