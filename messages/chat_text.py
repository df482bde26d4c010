"""Text-only drawing shared by the chat renderers (Slack Block Kit, Teams Adaptive Cards).

Adapters never import each other, so what both draw the same way lives here, beside the
neutral model it reads: sparklines for surfaces with no charts, their legend, and the ids
that keep repeated buttons and inputs unique within one message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from messages.model import TrendSeries

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_GAP = "·"


def sparkline(points: Sequence[float | None], low: float = 1.0, high: float = 5.0) -> str:
    """One character per period: ▁ at `low` … █ at `high`, `·` for a withheld round.

    A chat surface has no charts, and a withheld round must read as "no data", never as a low
    score, so gaps get a character outside the bar range.
    """
    span = high - low
    out = []
    for value in points:
        if value is None:
            out.append(SPARK_GAP)
            continue
        frac = (value - low) / span if span > 0 else 0.5
        index = math.floor(frac * (len(SPARK_CHARS) - 1) + 0.5)  # half up, not to even
        out.append(SPARK_CHARS[min(max(index, 0), len(SPARK_CHARS) - 1)])
    return "".join(out)


def trend_legend(block: TrendSeries) -> list[str]:
    """What the sparklines mean, line by line: the rounds they span in order (the x-axis),
    the scale from ▁ to █, and which rounds are withheld, marked `·`. There is no dashed line
    in a sparkline, so the rut line's legend stays with the charts that draw one."""
    out = []
    if block.periods:
        first, last = block.periods[0], block.periods[-1]
        span = first if first == last else f"{first} → {last}"
        # The rounds in order, one per mark, when they have short names (the x-axis).
        labels = " ".join(block.labels)
        out.append(f"{span}: {labels}" if len(block.periods) > 1 and labels else span)
    if block.scale_label:
        out.append(f"{SPARK_CHARS[0]} … {SPARK_CHARS[-1]} {block.scale_label}")
    if block.withheld and block.withheld_label:
        names = ", ".join(block.label(i) for i in block.withheld if i < len(block.periods))
        out.append(f"{SPARK_GAP} {block.withheld_label} ({names})")
    return out


class UniqueIds:
    """Hands out ids unique within one message, view or card.

    Slack rejects a view whose action_ids repeat and the adaptivecards library a card whose
    input ids do, while the neutral model reuses ids on purpose (every advice button is
    `advice`, each admin team row has `admin_round`). The first use keeps the bare id;
    repeats get `#2`, `#3`…, which `base_id` strips again.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def unique(self, raw: str) -> str:
        count = self._seen.get(raw, 0) + 1
        self._seen[raw] = count
        return raw if count == 1 else f"{raw}#{count}"


def base_id(raw: str) -> str:
    """The neutral id behind a rendered one: `advice#3` → `advice`, `advice` → `advice`."""
    base, sep, suffix = raw.rpartition("#")
    if sep and base and suffix.isdigit():
        return base
    return raw
