"""What leaves the system about teams, and how long it stays: exports of releases (never raw
answers), the audit trail, and retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from bot.admin.identities import require_team
from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import AuditAction
from bot.core.context import Context
from bot.core.errors import UsageError
from bot.rounds.release import participation_share
from messages.content import PRACTICE_KEYS
from storage import repositories as repo
from storage.models import Delivery, ProcessedEvent, Release, Round, Team, Workspace
from storage.values import RoundStatus

EXPORT_FORMATS = ("csv", "json")
# Platform event ids are kept only while the platform may still retry them (privacy rule 12):
# Slack retries an Events API delivery at most 3 times, over about 5 minutes (immediately,
# after 1 minute, after 5); Bot Framework redelivers a Teams activity within the same minutes.
# Twice Slack's window leaves room for a slow first handling and for replicas' clocks; longer
# would only date members' contacts. Applied by every scheduler pass (every 30 s by default).
PROCESSED_EVENTS_KEPT = timedelta(minutes=10)


async def export_releases(ctx: Context, actor: Actor, name: str, fmt: str) -> str:
    """A team's released and withheld rounds as CSV or JSON: aggregates only. Audited, as
    every showing of a team's results is."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError("not_an_export_format", value=fmt)
    actor.require_admin()
    async with ctx.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        team = await require_team(session, workspace, name)
        rows = [
            _row(rnd, rel) for rnd, rel in await repo.closed_rounds_with_releases(session, team.id)
        ]
        audit.record(
            session,
            actor,
            AuditAction.RESULTS_EXPORTED,
            ctx.clock.now(),
            team_id=team.id,
            format=fmt,
            rounds=len(rows),
        )
    if fmt == "json":
        return json.dumps(
            {"team": team.name, "workspace": workspace.external_id, "releases": rows}, indent=2
        )
    out = io.StringIO()
    fields = [
        "period",
        "status",
        "respondents",
        "delivered",
        "participation",
        "threshold",
        "in_rut_share",
        "attention",
    ] + [f"{k}_{m}" for k in PRACTICE_KEYS for m in ("mean", "low_share", "change", "low_streak")]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = {k: v for k, v in row.items() if k != "practices"}
        for key, values in (row["practices"] or {}).items():
            for measure, value in values.items():
                flat[f"{key}_{measure}"] = value
        writer.writerow(flat)
    return out.getvalue()


def _row(rnd: Round, release: Release) -> dict[str, Any]:
    data = release.data or {}
    return {
        "period": rnd.period,
        "status": release.status,
        "respondents": release.respondents,
        "delivered": release.delivered,
        "participation": participation_share(release.respondents, release.delivered),
        "threshold": release.threshold,
        "in_rut_share": data.get("in_rut_share"),
        "attention": data.get("attention"),
        "practices": data.get("practices"),
        "comments": data.get("comments"),
    }


async def audit_list(ctx: Context, workspace: Workspace, limit: int = 200) -> list[dict[str, Any]]:
    async with ctx.sessions() as session:
        teams = {t.id: t.name for t in await repo.teams_in(session, workspace.id)}
        events = await repo.audit_events(session, workspace.id, limit=limit)
    return [
        {
            "at": event.at.isoformat(),
            "actor": event.actor_label,
            # No person behind it (the command line, a platform, retention, someone erased):
            # only such labels are words of ours, said in the reader's language when shown.
            "system": event.actor_person_id is None,
            "action": event.action,
            "team": teams.get(event.team_id) if event.team_id else None,
            "detail": event.detail,
        }
        for event in events
    ]


async def purge(ctx: Context, now: datetime | None = None) -> dict[str, int]:
    """Apply each workspace's release retention, and forget platform event ids no retry
    can come for any more."""
    now = now or ctx.clock.now()
    removed = {"rounds": 0, "processed_events": 0}
    async with ctx.sessions.begin() as session:
        workspaces = (
            await session.scalars(select(Workspace).where(Workspace.retention_days.is_not(None)))
        ).all()
        for workspace in workspaces:
            try:
                cutoff = now - timedelta(days=workspace.retention_days or 0)
            except OverflowError:
                continue  # a retention longer than the calendar: nothing is old enough
            old = (
                await session.scalars(
                    select(Round.id)
                    .join(Team, Team.id == Round.team_id)
                    .where(
                        Team.workspace_id == workspace.id,
                        Round.status != RoundStatus.OPEN,
                        Round.closes_at < cutoff,
                        # Its mark is what keeps the scrub retried: never purged before it.
                        Round.scrub_pending.is_(False),
                    )
                )
            ).all()
            if old:
                await session.execute(delete(Delivery).where(Delivery.round_id.in_(old)))
                await session.execute(delete(Release).where(Release.round_id.in_(old)))
                await session.execute(delete(Round).where(Round.id.in_(old)))
                audit.record(
                    session,
                    audit.System.retention(workspace.id),
                    AuditAction.RELEASES_PURGED,
                    now,
                    rounds=len(old),
                )
                removed["rounds"] += len(old)
        result = await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.seen_at < now - PROCESSED_EVENTS_KEPT)
        )
        removed["processed_events"] = int(getattr(result, "rowcount", 0) or 0)
    return removed
