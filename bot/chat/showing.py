"""Showing a team's summary: the one flow every showing goes through.

Built as the viewer may see it (`bot.rounds.summary.team_summary`), audited in the same
transaction (a member's `/rut privacy` lists who viewed their team's results), then rendered.
`/rut summary` and its overview (`via="chat"`), App Home (`"home"`), the summary pushed to
managers after a close (`"delivery"`) and `rutradar summary` (`"cli"`) all come through here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import views
from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import AuditAction
from bot.core.context import Context
from bot.rounds.summary import Summary, team_summary
from messages.copy import Copy
from messages.model import Message
from storage.models import Team


async def view_summary(
    session: AsyncSession,
    actor: Actor,
    team: Team,
    at: datetime,
    *,
    via: str,
    period: str | None = None,
) -> Summary:
    """The summary of `team` as `actor` may see it (the latest closed round, or `period`), with
    the audit event of this view added to the caller's transaction: it is committed with the
    view or not at all. The event names the period asked for, else the one shown (None when
    no round has closed yet)."""
    summary = await team_summary(session, actor.workspace, team, period, viewer_id=actor.person_id)
    audit.record(
        session,
        actor,
        AuditAction.SUMMARY_VIEWED,
        at,
        team_id=team.id,
        period=period or summary.period,
        via=via,
    )
    return summary


async def show_summary(
    ctx: Context,
    actor: Actor,
    team: Team,
    t: Copy,
    *,
    via: str,
    period: str | None = None,
    tag: str | None = None,
) -> Message:
    """`view_summary` in a transaction of its own, then rendered: the summary dialog, or with
    `tag` a chat message tagged so (App Home, the summary pushed to a manager)."""
    async with ctx.sessions.begin() as session:
        summary = await view_summary(session, actor, team, ctx.clock.now(), via=via, period=period)
    shown = views.summary_message(t, t.locale, summary)
    if tag is None:
        return shown
    return Message(fallback=shown.fallback, blocks=shown.blocks, tags=(tag,), locale=shown.locale)
