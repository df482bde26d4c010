"""`rutradar demo`: a playground workspace with enough history that every screen has content.

A team of eight with a manager and an admin, several released rounds (and one withheld, so
trends show a gap), and an open round in which five teammates have already answered, so a
newcomer's own check-in and a close show a real release.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.core.context import Context
from bot.core.events import ConversationRef
from bot.rounds.periods import weekly_period
from bot.rounds.release import compute_release, with_trend
from messages.content import PRACTICE_KEYS
from storage.models import Answer, Delivery, Membership, Person, Release, Round, Team, Workspace
from storage.values import DeliveryKind, DeliveryStatus, MembershipRole, PersonRole, RoundStatus

DEMO_WORKSPACE = "demo"
DEMO_TEAM = "Platform"
DEMO_ZONE = "Europe/Berlin"
MEMBERS = (
    ("U-ada", "Ada Lovelace"),
    ("U-alan", "Alan Turing"),
    ("U-barbara", "Barbara Liskov"),
    ("U-edsger", "Edsger Dijkstra"),
    ("U-frances", "Frances Allen"),
    ("U-katherine", "Katherine Johnson"),
    ("U-ken", "Ken Thompson"),
    ("U-margaret", "Margaret Hamilton"),
)
MANAGER = ("U-grace", "Grace Hopper")
ADMIN = ("U-radia", "Radia Perlman")
# Team means per past round, oldest first: routine slides into a rut, training recovers.
HISTORY = (
    {"assess": 3.4, "routine": 3.0, "training": 2.4, "strengths": 3.8, "path": 3.2},
    {"assess": 3.3, "routine": 2.7, "training": 2.6, "strengths": 3.7, "path": 3.1},
    None,  # withheld: only three answered
    {"assess": 3.2, "routine": 2.3, "training": 3.0, "strengths": 3.9, "path": 3.0},
    {"assess": 3.1, "routine": 2.0, "training": 3.3, "strengths": 3.8, "path": 2.9},
)
RESPONDENTS = (7, 6, 3, 6, 7)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    workspace: str


def _answers(
    means: dict[str, float] | None, count: int, rng: random.Random
) -> list[dict[str, int]]:
    out = []
    for _ in range(count):
        row = {}
        for key in PRACTICE_KEYS:
            centre = means[key] if means else 3.0
            row[key] = max(1, min(5, round(rng.gauss(centre, 0.6))))
        out.append(row)
    return out


async def seed_demo(ctx: Context, *, reset: bool = False) -> DemoResult:
    now = ctx.clock.now()
    rng = random.Random(48)
    async with ctx.sessions.begin() as session:
        existing = await session.scalar(
            select(Workspace).where(
                Workspace.platform == "playground", Workspace.external_id == DEMO_WORKSPACE
            )
        )
        if existing is not None and not reset:
            return DemoResult(False, DEMO_WORKSPACE)
        if existing is not None:
            await session.delete(existing)
            await session.flush()
        workspace = Workspace(
            platform="playground",
            external_id=DEMO_WORKSPACE,
            name="Demo workspace",
            timezone=DEMO_ZONE,
            locale="en",
            threshold=5,
            comment_threshold=5,
        )
        session.add(workspace)
        await session.flush()

        def person(user_id: str, name: str, role: PersonRole = PersonRole.MEMBER) -> Person:
            ref = ConversationRef("playground", DEMO_WORKSPACE, user_id).to_json()
            p = Person(
                workspace_id=workspace.id,
                user_id=user_id,
                display_name=name,
                role=role,
                timezone=DEMO_ZONE,
                conversation_ref=ref,
            )
            session.add(p)
            return p

        members = [person(u, n) for u, n in MEMBERS]
        manager = person(*MANAGER)
        person(*ADMIN, role=PersonRole.ADMIN)
        team = Team(workspace_id=workspace.id, name=DEMO_TEAM)
        session.add(team)
        await session.flush()
        session.add_all(
            Membership(person_id=m.id, team_id=team.id, role=MembershipRole.MEMBER) for m in members
        )
        session.add(Membership(person_id=manager.id, team_id=team.id, role=MembershipRole.MANAGER))

        weeks = len(HISTORY)
        earlier: list[dict[str, Any] | None] = []
        for index, (means, count) in enumerate(zip(HISTORY, RESPONDENTS, strict=True)):
            opened = now - timedelta(weeks=weeks - index)
            rnd = Round(
                team_id=team.id,
                period=weekly_period(opened, DEMO_ZONE),
                opens_at=opened,
                closes_at=opened + timedelta(hours=72),
                threshold=5,
                comment_threshold=5,
                status=RoundStatus.RELEASED,
            )
            session.add(rnd)
            await session.flush()
            computed = compute_release(
                _answers(means, count, rng),
                ["More pairing on the on-call rota, please."] if count >= 7 else [],
                delivered=len(members),
                threshold=5,
                comment_threshold=5,
                rng=rng,
            )
            rnd.status = RoundStatus(computed.status)
            data = with_trend(computed.data, earlier) if computed.data else None
            earlier.append(computed.data)
            session.add(
                Release(
                    round_id=rnd.id,
                    status=computed.status,
                    respondents=count,
                    delivered=len(members),
                    threshold=5,
                    computed_at=rnd.closes_at,
                    data=data,
                )
            )

        current = Round(
            team_id=team.id,
            period=weekly_period(now, DEMO_ZONE),
            opens_at=now,
            closes_at=now + timedelta(hours=72),
            threshold=5,
            comment_threshold=5,
            status=RoundStatus.OPEN,
        )
        session.add(current)
        await session.flush()
        answered = members[1:6]  # five teammates; Ada (the newcomer's first pick) has not
        for m in members:
            done = m in answered
            session.add(
                Delivery(
                    round_id=current.id,
                    person_id=m.id,
                    kind=DeliveryKind.PROMPT,
                    not_before=now,
                    status=DeliveryStatus.SENT if done else DeliveryStatus.PENDING,
                    answered=done,
                )
            )
        for row in _answers(HISTORY[-1], len(answered), rng):
            session.add(Answer(round_id=current.id, **row))
    ctx.wake_dispatcher()
    return DemoResult(True, DEMO_WORKSPACE)
