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


def trend_svg_paths(
    series: TrendSeries, width: int = 360, height: int = 140
) -> list[dict[str, Any]]:
    """One chart's worth per practice: polylines per run of points (a withheld round, None,
    breaks the line), the dots, and the latest value."""
    pad = 8
    n = max(len(series.periods) - 1, 1)
    span = series.high - series.low

    def xy(i: int, v: float) -> str:
        x = pad + i * (width - 2 * pad) / n
        y = pad + (series.high - v) * (height - 2 * pad) / span
        return f"{x:.1f},{y:.1f}"

    out = []
    for index, line in enumerate(series.lines):
        runs: list[list[str]] = [[]]
        for i, value in enumerate(line.points):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(xy(i, value))
        out.append(
            {
                "label": line.label,
                "color": PALETTE[index % len(PALETTE)],
                "runs": [" ".join(r) for r in runs if r],
                "dots": [p for r in runs for p in r],
                "last": next((v for v in reversed(line.points) if v is not None), None),
            }
        )
    return out


def render_message(message: Message) -> str:
    return _env.get_template("message.html").render(
        message=message, kind=_kind, trend_paths=trend_svg_paths
    )
