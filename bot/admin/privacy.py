"""What a member may know and undo about themselves: `/rut privacy` and `/rut forget-me`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import audit
from bot.core.actor import Actor
from bot.core.audit import ERASED, AuditAction, said_actor
from bot.core.context import Context
from bot.rounds.notices import drop_checked_in
from messages.copy import Copy
from messages.model import Bullets, Heading, Message, Paragraph, Section
from storage import repositories as repo
from storage.models import AuditEvent, Delivery, Person
from storage.values import DeliveryKind, DeliveryStatus


async def privacy_message(ctx: Context, actor: Actor, t: Copy) -> Message:
    """The privacy statement, then exactly what is stored about this person."""
    assert actor.person is not None
    person = actor.person
    async with ctx.sessions() as session:
        pending = len(
            (
                await session.scalars(
                    select(Delivery.id).where(
                        Delivery.person_id == person.id,
                        Delivery.status.in_(
                            (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
                        ),  # not on the wire yet
                    )
                )
            ).all()
        )
        skipped = len(
            (
                await session.scalars(
                    select(Delivery.id).where(
                        Delivery.person_id == person.id, Delivery.status == DeliveryStatus.SKIPPED
                    )
                )
            ).all()
        )
        viewers: list[str] = []
        if actor.home_team is not None:
            views = await session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.team_id == actor.home_team.id,
                    AuditEvent.action == AuditAction.SUMMARY_VIEWED,
                )
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(200)
            )
            viewers = _viewers(t, views.all())
    paused = (
        t.say("privacy_not_paused")
        if person.paused_until is None
        else t.say("privacy_paused", date=person.paused_until.isoformat())
    )
    stored = [
        t.say("privacy_name", name=person.display_name or person.user_id, user_id=person.user_id),
        t.say("privacy_zone", zone=person.timezone or actor.workspace.timezone),
        t.say("privacy_role", role=_role(t, actor)),
        t.say("privacy_team", team=actor.home_team.name if actor.home_team else "–"),
        paused,
        t.say("privacy_deliveries", pending=pending),
    ]
    if skipped:
        stored.append(t.say("privacy_skipped", count=skipped))
    if actor.managed:
        stored.append(t.say("privacy_manages", teams=", ".join(x.name for x in actor.managed)))
    return Message(
        locale=t.locale,
        fallback=t.say("privacy_title"),
        surface="dialog",
        title=t.say("privacy_title"),
        blocks=(
            Heading(t.say("privacy_title")),
            Bullets(tuple(t.say(f"privacy_rule_{i}") for i in range(1, 6))),
            Section(title=t.say("privacy_stored_title"), text="\n".join(stored)),
            Section(
                title=t.say("privacy_viewers_title"),
                text="\n".join(viewers) if viewers else t.say("privacy_no_viewers"),
            ),
            Paragraph(t.say("privacy_controls")),
        ),
        tags=("privacy",),
    )


def _role(t: Copy, actor: Actor) -> str:
    """Every role the person holds: admin, manager (of any team), member (of a home team)."""
    roles = []
    if actor.is_admin:
        roles.append(t.say("role_admin"))
    if actor.managed:
        roles.append(t.say("role_manager"))
    if actor.home_team is not None or not roles:
        roles.append(t.say("role_member"))
    return ", ".join(roles)


def _viewers(t: Copy, events: Sequence[AuditEvent], most: int = 20) -> list[str]:
    """Who saw the team's results, newest first: each viewer once per ISO week (the week
    of the view, never the day or the time)."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for event in events:
        year, week, _ = event.at.isocalendar()
        # A person's own name stays as it is; a row with no person names a system actor.
        who = event.actor_label if event.actor_person_id else said_actor(t, event.actor_label)
        key = (who, f"{year}-W{week:02d}")
        if key in seen:
            continue
        seen.add(key)
        out.append(t.say("privacy_viewer", viewer=key[0], week=key[1]))
        if len(out) == most:
            break
    return out


async def forget_person(ctx: Context, actor: Actor) -> None:
    """`/rut forget-me`: the person erases themselves."""
    assert actor.person is not None
    async with ctx.sessions.begin() as session:
        await erase_person(session, actor.workspace.id, actor.person.id, ctx.clock.now(), by=ERASED)


async def erase_person(
    session: AsyncSession, workspace_id: int, person_id: int, now: datetime, *, by: str
) -> None:
    """Delete the person and memberships; deliveries keep only round, kind, status and
    answered (so counts stay true); audit events name an "erased person". A "checked in" edit
    still waiting for one of their prompts goes: it names their conversation."""
    prompts = await session.scalars(
        select(Delivery).where(
            Delivery.person_id == person_id,
            Delivery.kind == DeliveryKind.PROMPT,
            Delivery.answered.is_(True),
        )
    )
    await drop_checked_in(session, prompts.all())
    await session.execute(
        update(Delivery)
        .where(Delivery.person_id == person_id)
        .values(person_id=None, message_ref=None)
    )
    person = await session.get(Person, person_id)
    # The trail forgets them: their events relabelled, details naming them by platform id too.
    await audit.forget(session, workspace_id, {person_id: person.user_id} if person else {})
    for membership in await repo.memberships_of(session, person_id):
        await session.delete(membership)
    audit.record(session, audit.System(workspace_id, by), AuditAction.PERSON_ERASED, now)
    if person is not None:
        await session.delete(person)
