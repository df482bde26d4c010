"""The content as data: questions, advice and team actions, validated on load.

Advice is chosen by a hash of (person, period, practice), so the choice is stable for a
person within a round and rotates across rounds without storing anything about it.

The rules the data must keep (docs/content.md) are checked here, so a file that breaks one
fails at start-up and in the tests, never in front of a person: at least four pieces per
practice and level, at least one of them marked `inclusive` (no money, no desk, no control of
one's calendar, ten minutes), an `after_a_week` follow-up on every piece for a rut, and for
every practice a team action about workload or follow-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTENT_DIR = Path(__file__).parent / "content"
PRACTICE_KEYS: tuple[str, ...] = ("assess", "routine", "training", "strengths", "path")

Level = Literal["rut", "middle", "thriving"]
LEVELS: tuple[Level, ...] = ("rut", "middle", "thriving")
PIECES_MIN = 4  # per practice and level, so rotation has room and never feels repetitive

# Very low answers: the check-in result always points to people and support (docs/content.md).
DISTRESS_MEAN_MAX = 1.6
DISTRESS_ONES_MIN = 3


def level_for(score: int) -> Level:
    if score <= 2:
        return "rut"
    if score == 3:
        return "middle"
    return "thriving"


def in_distress(scores: Mapping[str, int]) -> bool:
    """Answers low enough that advice alone is not the right reply: a mean of at most 1.6, or
    three or more practices at 1. Decided from the answers in hand, never stored."""
    values = [scores[key] for key in PRACTICE_KEYS]
    # mean ≤ 1.6 in whole numbers: 10 · sum ≤ 16 · count, with no float rounding at the edge
    low_mean = 10 * sum(values) <= round(10 * DISTRESS_MEAN_MAX) * len(values)
    return low_mean or values.count(1) >= DISTRESS_ONES_MIN


class Practice(BaseModel):
    key: str
    name: str
    short: str
    question: str = Field(max_length=150)
    low_label: str
    high_label: str
    synonyms: list[str]


class Advice(BaseModel):
    """One piece of advice: one action and its reason, in one to three sentences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=40, max_length=420)
    # Doable by anyone: no money, no desk, no control of one's calendar, ten minutes.
    inclusive: bool = False
    # For a rut: one line to come back to a week later (did it help? what next?).
    after_a_week: str | None = Field(default=None, min_length=20, max_length=200)

    @model_validator(mode="after")
    def _one_line(self) -> Advice:
        if self.after_a_week is not None and "\n" in self.after_a_week.strip():
            raise ValueError("after_a_week is one line")
        return self


class AdviceLevels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rut: list[Advice] = Field(min_length=PIECES_MIN)
    middle: list[Advice] = Field(min_length=PIECES_MIN)
    thriving: list[Advice] = Field(min_length=PIECES_MIN)

    @model_validator(mode="after")
    def _rules(self) -> AdviceLevels:
        for level in LEVELS:
            if not any(piece.inclusive for piece in getattr(self, level)):
                raise ValueError(f"{level}: no piece marked inclusive")
        missing = [piece.text[:40] for piece in self.rut if not piece.after_a_week]
        if missing:
            raise ValueError(f"rut pieces without an after_a_week follow-up: {missing}")
        return self


class TeamAction(BaseModel):
    """One thing a manager can do for the whole team, never pointing at anyone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=40, max_length=300)
    about: Literal["workload", "follow-up"] | None = None


class _Files(BaseModel):
    practices: list[Practice]
    advice: dict[str, AdviceLevels]
    actions: dict[str, list[TeamAction]]

    @model_validator(mode="after")
    def _complete(self) -> _Files:
        keys = tuple(p.key for p in self.practices)
        if keys != PRACTICE_KEYS:
            raise ValueError(f"practices must be {PRACTICE_KEYS}, got {keys}")
        for name, table in (("advice", self.advice), ("actions", self.actions)):
            if set(table) != set(PRACTICE_KEYS):
                raise ValueError(f"{name} must cover exactly {PRACTICE_KEYS}")
        for key, actions in self.actions.items():
            # The summary suggests the first three: all of them count.
            if not 2 <= len(actions) <= 3:
                raise ValueError(f"actions for {key}: two or three, got {len(actions)}")
            if not any(action.about for action in actions):
                raise ValueError(f"actions for {key}: none about workload or follow-up")
        return self


@dataclass(frozen=True)
class Content:
    practices: tuple[Practice, ...]
    advice: dict[str, AdviceLevels]
    team_actions: dict[str, list[TeamAction]]
    locale: str = "en"  # the language the content is written in (English when falling back)

    @property
    def actions(self) -> dict[str, list[str]]:
        """The team actions' text per practice, as the summary shows them."""
        return {key: [a.text for a in actions] for key, actions in self.team_actions.items()}

    def pieces(self) -> Iterator[tuple[str, Level, Advice]]:
        """Every piece of advice with its practice and level."""
        for key in PRACTICE_KEYS:
            for level in LEVELS:
                for piece in getattr(self.advice[key], level):
                    yield key, level, piece

    def practice(self, key: str) -> Practice:
        for practice in self.practices:
            if practice.key == key:
                return practice
        raise KeyError(key)

    def find_practice(self, words: str) -> Practice | None:
        """Match what a person typed ("learning", "new path", "Routine") to a practice."""
        wanted = " ".join(words.lower().replace("-", " ").split())
        if not wanted:
            return None
        return self._names.get(wanted)

    @cached_property
    def _names(self) -> dict[str, Practice]:
        """Every name a practice answers to, lower-cased: built once, not at every
        `/rut advice`. The first practice to claim a name keeps it."""
        names: dict[str, Practice] = {}
        for practice in self.practices:
            spelled = (practice.key, practice.name, practice.short, *practice.synonyms)
            for name in spelled:
                names.setdefault(name.lower(), practice)
        return names

    def pick_advice(
        self, key: str, level: Level, seed: str, count: int = 1, *, inclusive_only: bool = False
    ) -> list[Advice]:
        """`count` pieces in the rotation's order for this seed. When two or more are shown
        together, at least one is inclusive (anyone can do it, in ten minutes); with
        `inclusive_only`, every one is."""
        pieces: list[Advice] = getattr(self.advice[key], level)
        if inclusive_only:
            pieces = [piece for piece in pieces if piece.inclusive]
        start = _stable_index(f"{seed}|{key}|{level}", len(pieces))
        order = [pieces[(start + i) % len(pieces)] for i in range(len(pieces))]
        chosen = order[: min(count, len(order))]
        if len(chosen) > 1 and not any(piece.inclusive for piece in chosen):
            chosen[-1] = next(piece for piece in order if piece.inclusive)
        return chosen


def _stable_index(seed: str, modulo: int) -> int:
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def _load_yaml(path: Path) -> object:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def load_content(locale: str = "en") -> Content:
    """Content for a locale, falling back to English where a locale has none of its own."""
    folder = CONTENT_DIR / locale
    if not (folder / "practices.yaml").exists():
        folder = CONTENT_DIR / "en"
    practices = _load_yaml(folder / "practices.yaml")
    files = _Files.model_validate(
        {
            "practices": practices["practices"] if isinstance(practices, dict) else practices,
            "advice": _load_yaml(folder / "advice.yaml"),
            "actions": _load_yaml(folder / "actions.yaml"),
        }
    )
    return Content(tuple(files.practices), files.advice, files.actions, locale=folder.name)
