"""The content as data: questions, advice and team actions, validated on load.

Advice is chosen by a hash of (person, period, practice), so the choice is stable for a
person within a round and rotates across rounds without storing anything about it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

CONTENT_DIR = Path(__file__).parent / "content"
PRACTICE_KEYS: tuple[str, ...] = ("assess", "routine", "training", "strengths", "path")

Level = Literal["rut", "middle", "thriving"]
LEVELS: tuple[Level, ...] = ("rut", "middle", "thriving")


def level_for(score: int) -> Level:
    if score <= 2:
        return "rut"
    if score == 3:
        return "middle"
    return "thriving"


class Practice(BaseModel):
    key: str
    name: str
    short: str
    question: str = Field(max_length=150)
    low_label: str
    high_label: str
    synonyms: list[str]


class AdviceLevels(BaseModel):
    rut: list[str] = Field(min_length=3)
    middle: list[str] = Field(min_length=3)
    thriving: list[str] = Field(min_length=3)


class _Files(BaseModel):
    practices: list[Practice]
    advice: dict[str, AdviceLevels]
    actions: dict[str, list[str]]

    @model_validator(mode="after")
    def _complete(self) -> _Files:
        keys = tuple(p.key for p in self.practices)
        if keys != PRACTICE_KEYS:
            raise ValueError(f"practices must be {PRACTICE_KEYS}, got {keys}")
        for name, table in (("advice", self.advice), ("actions", self.actions)):
            if set(table) != set(PRACTICE_KEYS):
                raise ValueError(f"{name} must cover exactly {PRACTICE_KEYS}")
        return self


@dataclass(frozen=True)
class Content:
    practices: tuple[Practice, ...]
    advice: dict[str, AdviceLevels]
    actions: dict[str, list[str]]

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
        for practice in self.practices:
            names = {practice.key, practice.name.lower(), practice.short.lower()}
            names.update(s.lower() for s in practice.synonyms)
            if wanted in names:
                return practice
        return None

    def pick_advice(self, key: str, level: Level, seed: str, count: int = 1) -> list[str]:
        pieces = getattr(self.advice[key], level)
        start = _stable_index(f"{seed}|{key}|{level}", len(pieces))
        return [pieces[(start + i) % len(pieces)] for i in range(min(count, len(pieces)))]


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
    return Content(tuple(files.practices), files.advice, files.actions)
