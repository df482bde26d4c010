"""`rutradar summary --json` pinned against real rounds: every key, every value's JSON type, and
the values themselves, for a released round with history and an open round, a withheld round,
and a team with no closed round. The design names this shape an interface ("Interfaces that
must hold"), so a refactor of how the summary is built or read must leave it byte for byte."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.core.clock import ManualClock
from bot.rounds.checkin import Scores, record_checkin
from bot.rounds.lifecycle import close_round, open_round
from bot.server import cli
from messages.content import load_content
from storage.models import Delivery, Team
from tests.conftest import World

PRACTICES = ("assess", "routine", "training", "strengths", "path")

# The JSON type of every key, as `json.loads` hands it back: `float` stays float even for a
# whole number (2.0), `int` stays int, `None` is null. A key missing or added fails.
NUMBER_ROW = {"mean": float, "low_share": float, "change": float, "low_streak": int}
RELEASED_TYPES: dict[str, Any] = {
    "team": str,
    "workspace": str,
    "period": str,
    "status": str,
    "respondents": int,
    "delivered": int,
    "participation": float,
    "threshold": int,
    "practices": dict,
    "in_rut_share": float,
    "attention": str,
    "actions": list,
    "comments": list,
    "trend": list,
    "open": dict,
}


def scores(comment: str | None = None, **values: int) -> Scores:
    return Scores({k: values.get(k, 3) for k in PRACTICES}, comment)


async def run_round(
    world: World, answers: list[Scores], clock: ManualClock, *, close: bool = True
) -> None:
    """Open the team's round, mark its prompts sent, record `answers` (one per member, in
    order) and close it, a week after the previous one."""
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.kind == "prompt").values(status="sent")
        )
    for person, answer in zip(world.members, answers, strict=False):
        await record_checkin(ctx, await world.actor(person), answer)
    if close:
        await close_round(ctx, world.cli, world.team)
        clock.advance(timedelta(days=7))


async def summary_json(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """The CLI's own `summary --json` handler, run on the test's database and clock."""
    ns = cli.build_parser().parse_args(["summary", *args, "--json", "--workspace", "T0001"])
    capsys.readouterr()
    assert await cli._summary(world.ctx, ns) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return json.loads(out)


def json_types(value: Any) -> Any:
    """The value with every leaf replaced by its JSON type, to compare shapes alone."""
    if isinstance(value, dict):
        return {k: json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_types(v) for v in value]
    return type(value)


async def test_summary_json_of_a_released_round_with_history_and_an_open_round(
    world: World, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    # W48 released: routine low for everyone, one shared line.
    await run_round(
        world,
        [scores("More pairing", routine=1), *[scores(routine=2, path=4)] * 5],
        clock,
    )
    # W49 withheld: three answers under the threshold of five.
    await run_round(world, [scores(routine=2)] * 3, clock)
    # W50 released: routine still low, training down, two shared lines.
    await run_round(
        world,
        [
            scores("Fewer meetings", routine=2, training=1),
            scores("A course", routine=1, training=2),
            *[scores(routine=2, strengths=5)] * 4,
        ],
        clock,
    )
    # W51 open: two answered so far.
    await run_round(world, [scores()] * 2, clock, close=False)

    summary = await summary_json(world, capsys, "Platform")

    assert list(summary) == list(RELEASED_TYPES)  # the keys, in the printed order
    assert {k: type(v) for k, v in summary.items()} == RELEASED_TYPES
    assert list(summary["practices"]) == list(PRACTICES)
    for key in PRACTICES:
        assert json_types(summary["practices"][key]) == NUMBER_ROW, key
    assert json_types(summary["trend"]) == [
        {"period": str, "status": str, "means": {k: float for k in PRACTICES}},
        {"period": str, "status": str, "means": type(None)},
        {"period": str, "status": str, "means": {k: float for k in PRACTICES}},
    ]
    assert json_types(summary["open"]) == {"period": str, "answered": int, "delivered": int}

    comments = summary.pop("comments")
    assert sorted(comments) == ["A course", "Fewer meetings"]  # shuffled at close
    assert summary == {
        "team": "Platform",
        "workspace": "T0001",
        "period": "2026-W50",
        "status": "released",
        "respondents": 6,
        "delivered": 6,
        "participation": 1.0,
        "threshold": 5,
        "practices": {
            "assess": {"mean": 3.0, "low_share": 0.0, "change": 0.0, "low_streak": 0},
            "routine": {"mean": 1.8, "low_share": 1.0, "change": 0.0, "low_streak": 2},
            "training": {"mean": 2.5, "low_share": 0.33, "change": -0.5, "low_streak": 1},
            "strengths": {"mean": 4.3, "low_share": 0.0, "change": 1.3, "low_streak": 0},
            "path": {"mean": 3.0, "low_share": 0.0, "change": -0.8, "low_streak": 0},
        },
        "in_rut_share": 0.33,
        "attention": "routine",
        "actions": list(load_content("en").actions["routine"][:3]),
        "trend": [
            {
                "period": "2026-W48",
                "status": "released",
                "means": {
                    "assess": 3.0,
                    "routine": 1.8,
                    "training": 3.0,
                    "strengths": 3.0,
                    "path": 3.8,
                },
            },
            {"period": "2026-W49", "status": "withheld", "means": None},
            {
                "period": "2026-W50",
                "status": "released",
                "means": {
                    "assess": 3.0,
                    "routine": 1.8,
                    "training": 2.5,
                    "strengths": 4.3,
                    "path": 3.0,
                },
            },
        ],
        "open": {"period": "2026-W51", "answered": 2, "delivered": 6},
    }


async def test_summary_json_of_a_withheld_round(
    world: World, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_round(world, [scores(routine=1)] * 6, clock)
    await run_round(world, [scores(routine=2)] * 3, clock)
    await run_round(world, [scores()] * 1, clock, close=False)

    summary = await summary_json(world, capsys, "Platform", "--period", "2026-W49")

    assert summary == {
        "team": "Platform",
        "workspace": "T0001",
        "period": "2026-W49",
        "status": "withheld",
        "respondents": 3,
        "delivered": 6,
        "participation": 0.5,
        "threshold": 5,
        "practices": None,
        "in_rut_share": None,
        "attention": None,
        "actions": None,
        "comments": None,
        "trend": [
            {
                "period": "2026-W48",
                "status": "released",
                "means": {
                    "assess": 3.0,
                    "routine": 1.0,
                    "training": 3.0,
                    "strengths": 3.0,
                    "path": 3.0,
                },
            },
            {"period": "2026-W49", "status": "withheld", "means": None},
        ],
    }  # no `open` with --period: the summary of that period alone


async def test_summary_json_with_no_closed_round(
    world: World, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    async with world.ctx.sessions.begin() as session:
        session.add(Team(workspace_id=world.workspace.id, name="New"))
    assert await summary_json(world, capsys, "New") == {
        "team": "New",
        "workspace": "T0001",
        "period": None,
        "status": "none",
        "respondents": None,
        "delivered": None,
        "participation": None,
        "threshold": 5,
        "practices": None,
        "in_rut_share": None,
        "attention": None,
        "actions": None,
        "comments": None,
        "trend": [],
    }  # no `open` key while no round is open

    await run_round(world, [scores()] * 6, clock, close=False)
    summary = await summary_json(world, capsys, "Platform")
    assert (summary["status"], summary["period"], summary["trend"]) == ("none", None, [])
    assert summary["open"] == {"period": "2026-W48", "answered": 6, "delivered": 6}
    assert list(summary)[-1] == "open"
