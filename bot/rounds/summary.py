"""A team's summary in the design's JSON shape: the latest closed round, its trend, and the
open round's participation counts (never scores while a round is open)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rounds.release import participation_share, with_trend
from messages.content import PRACTICE_KEYS, load_content
from storage import repositories as repo
from storage.models import Membership, Team, Workspace

TREND_LENGTH = 8


async def team_summary(
    session: AsyncSession,
    workspace: Workspace,
    team: Team,
    period: str | None = None,
    *,
    viewer_id: int | None = None,
) -> dict[str, Any]:
    """The summary as `viewer_id` may see it: a new manager sees rounds closed after they
    became one, never one whose population they were in."""
    history = list(await repo.closed_rounds_with_releases(session, team.id))
    results_from = None
    if viewer_id is not None:
        results_from = await session.scalar(
            select(Membership.results_from).where(
                Membership.person_id == viewer_id, Membership.team_id == team.id
            )
        )
    hidden = False
    if results_from is not None:
        # Rounds that closed after they could see results; a round whose population they
        # were in moved `results_from` to its close (`rounds._summary_audience`).
        visible = [(r, rel) for r, rel in history if r.closes_at > results_from]
        hidden = len(visible) < len(history)
        history = visible
    if period is not None:
        cut = next((i for i, (r, _) in enumerate(history) if r.period == period), None)
        history = history[: cut + 1] if cut is not None else []
    summary: dict[str, Any] = {
        "team": team.name,
        "workspace": workspace.external_id,
        "period": None,
        "status": "none",
        "respondents": None,
        "delivered": None,
        "participation": None,
        "threshold": workspace.threshold,
        "practices": None,
        "in_rut_share": None,
        "attention": None,
        "actions": None,
        "comments": None,
        "trend": [
            {
                "period": r.period,
                "status": rel.status,
                "means": (
                    {k: rel.data["practices"][k]["mean"] for k in PRACTICE_KEYS}
                    if rel.status == "released" and rel.data
                    else None
                ),
            }
            for r, rel in history[-TREND_LENGTH:]
        ],
    }
    if history:
        rnd, release = history[-1]
        summary.update(
            period=rnd.period,
            status=release.status,
            respondents=release.respondents,
            delivered=release.delivered,
            participation=participation_share(release.respondents, release.delivered),
            threshold=release.threshold,
        )
        if release.status == "released" and release.data:
            data = release.data
            if hidden:
                # The frozen change and streak would reveal the rounds this viewer may not
                # see (mean − change = the hidden mean): recompute them from what is visible.
                data = with_trend(data, [rel.data for _, rel in history[:-1]])
            practices = {
                key: {
                    field: data["practices"][key].get(field)
                    for field in ("mean", "low_share", "change", "low_streak")
                }
                for key in PRACTICE_KEYS
            }
            attention = release.data["attention"]
            summary.update(
                practices=practices,
                in_rut_share=release.data["in_rut_share"],
                attention=attention,
                actions=list(load_content(workspace.locale).actions[attention][:3]),
                comments=list(release.data.get("comments") or []),
            )
    if period is None:
        open_rnd = await repo.open_round(session, team.id)
        if open_rnd is not None:
            answered, delivered = await repo.participation(session, open_rnd.id)
            summary["open"] = {
                "period": open_rnd.period,
                "answered": answered,
                "delivered": delivered,
            }
    return summary
