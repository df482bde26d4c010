"""A team's summary: the latest closed round, its trend, and the open round's participation
counts (never scores while a round is open).

`team_summary` builds it as a `Summary`, frozen dataclasses all the way down, which the views
read by attribute; `Summary.to_json()` gives the design's JSON shape ("Interfaces that must
hold": `rutradar summary --json`, pinned by tests/test_summary_json.py), the only place that
shape is spelled out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rounds.release import participation_share, with_trend
from messages.content import PRACTICE_KEYS, load_content
from storage import repositories as repo
from storage.models import Membership, Release, Round, Team, Workspace
from storage.values import ReleaseStatus

TREND_LENGTH = 8
ACTIONS_SHOWN = 3
NO_ROUND = "none"  # the JSON status of a team with no closed round yet


@dataclass(frozen=True, slots=True)
class PracticeRow:
    """One practice's indicators in a released round."""

    mean: float
    low_share: float  # the share of answers of 1–2
    change: float | None  # since the previous released round shown; None with none before
    low_streak: int | None  # released rounds in a row with a mean ≤ 2.5 (None: not frozen)

    @staticmethod
    def from_release(row: Mapping[str, Any]) -> PracticeRow:
        """From a release's stored `practices` entry (bot/rounds/release.py)."""
        return PracticeRow(row["mean"], row["low_share"], row.get("change"), row.get("low_streak"))

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "low_share": self.low_share,
            "change": self.change,
            "low_streak": self.low_streak,
        }


@dataclass(frozen=True, slots=True)
class Findings:
    """What a released round shows beyond its counts."""

    practices: Mapping[str, PracticeRow]  # every practice, in PRACTICE_KEYS order
    in_rut_share: float  # the share of respondents whose five answers average ≤ 2.5
    attention: str  # the practice key needing attention most
    actions: tuple[str, ...]  # team actions for it, in the workspace's language
    comments: tuple[str, ...]  # the shared lines, shuffled at close


@dataclass(frozen=True, slots=True)
class ClosedRound:
    """The latest closed round: its counts, and its findings when it was released."""

    period: str
    status: ReleaseStatus
    respondents: int
    delivered: int
    participation: float | None  # respondents / delivered; None when nothing was delivered
    findings: Findings | None = None  # None when withheld


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """A closed round in the trend: a withheld one has no means (a gap in the chart)."""

    period: str
    status: ReleaseStatus
    means: Mapping[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        means = dict(self.means) if self.means is not None else None
        return {"period": self.period, "status": self.status.value, "means": means}


@dataclass(frozen=True, slots=True)
class OpenRound:
    """The open round's participation: counts only, never scores."""

    period: str
    answered: int
    delivered: int

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "answered": self.answered, "delivered": self.delivered}


@dataclass(frozen=True, slots=True)
class Summary:
    """A team's summary as one viewer may see it."""

    team: str
    workspace: str  # the platform's external id
    threshold: int  # the latest closed round's frozen k; the workspace's with none closed
    latest: ClosedRound | None = None  # None: no closed round (yet, or visible to the viewer)
    trend: tuple[TrendPoint, ...] = ()  # oldest first, the latest closed round last
    open: OpenRound | None = None  # only without a period asked for, while a round is open

    @property
    def period(self) -> str | None:
        return self.latest.period if self.latest is not None else None

    @property
    def findings(self) -> Findings | None:
        return self.latest.findings if self.latest is not None else None

    def to_json(self) -> dict[str, Any]:
        """The design's `summary --json` shape: every key always there (null when it does not
        apply), except `open`, present only while a round is open."""
        latest, findings = self.latest, self.findings
        out: dict[str, Any] = {
            "team": self.team,
            "workspace": self.workspace,
            "period": self.period,
            "status": latest.status.value if latest is not None else NO_ROUND,
            "respondents": latest.respondents if latest is not None else None,
            "delivered": latest.delivered if latest is not None else None,
            "participation": latest.participation if latest is not None else None,
            "threshold": self.threshold,
            "practices": None,
            "in_rut_share": None,
            "attention": None,
            "actions": None,
            "comments": None,
            "trend": [point.to_json() for point in self.trend],
        }
        if findings is not None:
            out.update(
                practices={key: row.to_json() for key, row in findings.practices.items()},
                in_rut_share=findings.in_rut_share,
                attention=findings.attention,
                actions=list(findings.actions),
                comments=list(findings.comments),
            )
        if self.open is not None:
            out["open"] = self.open.to_json()
        return out


History = list[tuple[Round, Release]]


async def team_summary(
    session: AsyncSession,
    workspace: Workspace,
    team: Team,
    period: str | None = None,
    *,
    viewer_id: int | None = None,
) -> Summary:
    """The summary as `viewer_id` may see it: a new manager sees rounds closed after they
    became one, never one whose population they were in."""
    history, hidden = await _visible_history(session, team, viewer_id)
    if period is not None:
        cut = next((i for i, (r, _) in enumerate(history) if r.period == period), None)
        history = history[: cut + 1] if cut is not None else []
    latest = _closed_round(workspace, history, hidden) if history else None
    return Summary(
        team=team.name,
        workspace=workspace.external_id,
        threshold=history[-1][1].threshold if history else workspace.threshold,
        latest=latest,
        trend=tuple(_trend_point(r, rel) for r, rel in history[-TREND_LENGTH:]),
        open=await _open_round(session, team) if period is None else None,
    )


async def _visible_history(
    session: AsyncSession, team: Team, viewer_id: int | None
) -> tuple[History, bool]:
    """The team's closed rounds with their releases, oldest first, that the viewer may see,
    and whether any were hidden from them."""
    history = list(await repo.closed_rounds_with_releases(session, team.id))
    results_from: datetime | None = None
    if viewer_id is not None:
        results_from = await session.scalar(
            select(Membership.results_from).where(
                Membership.person_id == viewer_id, Membership.team_id == team.id
            )
        )
    if results_from is None:
        return history, False
    # Rounds that closed after they could see results; a round whose population they
    # were in moved `results_from` to its close (`lifecycle.summary_audience`).
    visible = [(r, rel) for r, rel in history if r.closes_at > results_from]
    return visible, len(visible) < len(history)


def _closed_round(workspace: Workspace, history: History, hidden: bool) -> ClosedRound:
    """The last round of `history`, with its findings when it was released."""
    rnd, release = history[-1]
    findings = None
    if release.status == ReleaseStatus.RELEASED and release.data:
        data = release.data
        if hidden:
            # The frozen change and streak would reveal the rounds this viewer may not
            # see (mean − change = the hidden mean): recompute them from what is visible.
            data = with_trend(data, [rel.data for _, rel in history[:-1]])
        findings = _findings(data, workspace.locale)
    return ClosedRound(
        period=rnd.period,
        status=release.status,
        respondents=release.respondents,
        delivered=release.delivered,
        participation=participation_share(release.respondents, release.delivered),
        findings=findings,
    )


def _findings(data: Mapping[str, Any], locale: str) -> Findings:
    """A released round's stored data (bot/rounds/release.py) as findings, with the team
    actions for its practice needing attention."""
    attention = data["attention"]
    return Findings(
        practices={key: PracticeRow.from_release(data["practices"][key]) for key in PRACTICE_KEYS},
        in_rut_share=data["in_rut_share"],
        attention=attention,
        actions=tuple(load_content(locale).actions[attention][:ACTIONS_SHOWN]),
        comments=tuple(data.get("comments") or ()),
    )


def _trend_point(rnd: Round, release: Release) -> TrendPoint:
    means = None
    if release.status == ReleaseStatus.RELEASED and release.data:
        means = {key: release.data["practices"][key]["mean"] for key in PRACTICE_KEYS}
    return TrendPoint(rnd.period, release.status, means)


async def _open_round(session: AsyncSession, team: Team) -> OpenRound | None:
    rnd = await repo.open_round(session, team.id)
    if rnd is None:
        return None
    answered, delivered = await repo.participation(session, rnd.id)
    return OpenRound(rnd.period, answered, delivered)
