"""Neutral messages → HTML fragments, with Jinja2's autoescaping doing all the escaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from messages.model import (
    Bullets,
    Buttons,
    Checkbox,
    ChoiceQuestion,
    Heading,
    Message,
    Paragraph,
    Section,
    TextInput,
    TrendSeries,
)

TEMPLATES = Path(__file__).parent / "templates"
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _kind(block: object) -> str:
    kinds: dict[type, str] = {
        Heading: "heading",
        Paragraph: "paragraph",
        Section: "section",
        Bullets: "bullets",
        ChoiceQuestion: "choice",
        TextInput: "text_input",
        Checkbox: "checkbox",
        Buttons: "buttons",
        TrendSeries: "trend",
    }
    return kinds[type(block)]


# A chart's frame: room on the left for the 1–5 scale, underneath for the round names.
CHART_WIDTH, CHART_HEIGHT = 200, 104
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 18, 14, 8, 18


def trend_chart(
    series: TrendSeries, width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> dict[str, Any]:
    """The geometry every practice's chart shares: the scale's ticks (y), the rounds' names
    (x) with the withheld ones flagged, a band over each withheld round, and the dashed rut
    line; and per practice its polylines (a withheld round breaks the line), dots and latest
    value."""
    left, right = PAD_LEFT, width - PAD_RIGHT
    top, bottom = PAD_TOP, height - PAD_BOTTOM
    count = len(series.periods)
    step = (right - left) / max(count - 1, 1)
    span = (series.high - series.low) or 1.0

    def x(i: int) -> float:
        return round(left + i * step if count > 1 else (left + right) / 2, 1)

    def y(v: float) -> float:
        return round(top + (series.high - v) * (bottom - top) / span, 1)

    withheld = set(series.withheld)
    band = max(min(step * 0.6, 18.0), 8.0)
    lines = []
    for index, line in enumerate(series.lines):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(line.points):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x(i), y(value)))
        lines.append(
            {
                "label": line.label,
                "color": PALETTE[index % len(PALETTE)],
                "runs": [" ".join(f"{px},{py}" for px, py in r) for r in runs if r],
                "dots": [pt for r in runs for pt in r],
                "last": next((v for v in reversed(line.points) if v is not None), None),
            }
        )
    levels = range(int(series.low), int(series.high) + 1)
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "y_ticks": [{"y": y(level), "label": str(level)} for level in levels],
        "x_ticks": [
            {"x": x(i), "label": series.label(i), "withheld": i in withheld} for i in range(count)
        ],
        "bands": [
            {"x": round(x(i) - band / 2, 1), "width": round(band, 1)}
            for i in sorted(withheld)
            if i < count
        ],
        "rut": y(series.rut_line) if series.rut_line is not None else None,
        "lines": lines,
    }


def render_message(message: Message) -> str:
    return _env.get_template("message.html").render(
        message=message, kind=_kind, trend_chart=trend_chart
    )
