"""What a button carries: the one module that writes a button's value (or a dialog's `private`,
which its buttons send back) and reads it again. Views encode; the engine decodes. Nothing is
stored to look up (design privacy rule 10), so the value is all there is.

`decode` never raises: a value this module did not write (forged, cut short, from a release
that wrote another format) decodes to None, which the engine answers as a button that is no
longer valid. `encode` refuses, with a ValueError at construction, what it could not write so
that it reads back the same: that is a bug in the caller, not input.

The formats are the ones buttons already sitting in people's chats carry, so they keep working:

- `CarriedAdvice`, the check-in result's "Send me this advice" (in the dialog's `private`):
  `routine:rut;path:middle|2026-W48|care`: each practice `key:level`, joined by `;`; then `|`
  and the period; then `|care` when the answers were very low (the DM shows the distress line).
- `RoundButton`, the admin panel's round buttons: `ask-close|Platform`: a verb, `|`, and the
  team's name as it is (it may hold `|` itself: only the first one separates).

Every other button carries one plain field as it is: a period (`checkin_open`), a practice
(`advice`), a team's name (`summary`, `admin_schedule`), or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.admin.operations import RoundAction
from messages.content import LEVELS, PRACTICE_KEYS, Level

FIELDS = "|"
TARGETS = ";"
LEVEL = ":"

# Carried after the targets and the period when the answers were very low, so the advice DM
# shows the distress line too.
DISTRESS_FLAG = "care"

_LEVELS: dict[str, Level] = {level: level for level in LEVELS}


@dataclass(frozen=True, slots=True)
class CarriedAdvice:
    """The advice a check-in result can send as a DM: which practices at which level, the
    period (it picks the rotation), and whether the answers were very low."""

    targets: tuple[tuple[str, Level], ...]
    period: str = ""
    distress: bool = False

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("carried advice needs at least one practice")
        for key, level in self.targets:
            if key not in PRACTICE_KEYS or level not in _LEVELS:
                raise ValueError(f"not a practice and level: {key!r}, {level!r}")
        if FIELDS in self.period:
            raise ValueError(f"a period cannot hold {FIELDS!r}: {self.period!r}")

    def encode(self) -> str:
        targets = TARGETS.join(f"{key}{LEVEL}{level}" for key, level in self.targets)
        fields = [targets, self.period, *([DISTRESS_FLAG] if self.distress else [])]
        return FIELDS.join(fields)

    @classmethod
    def decode(cls, value: str) -> CarriedAdvice | None:
        """The advice `value` carries; None if it is not one `encode` wrote. A missing period
        reads as none (the current week's rotation)."""
        targets_field, *rest = value.split(FIELDS)
        period, flags = (rest[0], rest[1:]) if rest else ("", [])
        if any(flag != DISTRESS_FLAG for flag in flags):
            return None
        targets = []
        for item in targets_field.split(TARGETS):
            key, _, raw_level = item.partition(LEVEL)
            level = _LEVELS.get(raw_level)
            if key not in PRACTICE_KEYS or level is None:
                return None
            targets.append((key, level))
        return cls(tuple(targets), period, DISTRESS_FLAG in flags)


class RoundVerb(StrEnum):
    """What an admin panel's round button asks for: one of the round actions every admin
    surface shares (`bot.admin.operations.RoundAction`, `action`), or one of the panel's own
    steps."""

    OPEN = RoundAction.OPEN.value
    CLOSE = RoundAction.CLOSE.value
    SKIP = RoundAction.SKIP.value
    ASK_CLOSE = "ask-close"  # the panel's Close: closing cannot be undone, so it asks first
    PANEL = "panel"  # the confirmation's Cancel: back to the panel

    @property
    def action(self) -> RoundAction | None:
        """The round action this verb runs; None for the panel's own steps."""
        return _ACTIONS.get(self.value)


@dataclass(frozen=True, slots=True)
class RoundButton:
    verb: RoundVerb
    team: str

    def encode(self) -> str:
        return f"{self.verb}{FIELDS}{self.team}"

    @classmethod
    def decode(cls, value: str) -> RoundButton | None:
        """The verb and team `value` names; None if it is not one `encode` wrote."""
        word, separated, team = value.partition(FIELDS)
        verb = _VERBS.get(word)
        if not separated or verb is None:
            return None
        return cls(verb, team)


_VERBS: dict[str, RoundVerb] = {verb.value: verb for verb in RoundVerb}
_ACTIONS: dict[str, RoundAction] = {action.value: action for action in RoundAction}
