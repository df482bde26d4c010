"""The home surface (Slack App Home): what each role needs at a glance, as neutral messages."""

from __future__ import annotations

from bot.admin import operations
from bot.chat.showing import show_summary
from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.lookups import PromptState
from messages.copy import Copy
from messages.model import Bullets, Button, Buttons, Heading, Message, Paragraph
from storage import repositories as repo


async def home_messages(
    ctx: Context, actor: Actor, t: Copy, prompt: PromptState | None
) -> list[Message]:
    """Member: the next check-in, pause/resume, privacy. Manager: each team's latest release.
    Admin: teams, schedules and the threshold. Viewing releases here is audited like any view.
    `prompt`: the member's prompt state in their home team (the engine's, often cached)."""
    out = [await _member_home(ctx, actor, t, prompt)]
    for team in actor.managed:
        out.append(await show_summary(ctx, actor, team, t, via="home", tag="home_summary"))
    if actor.is_admin:
        out.append(await _admin_home(ctx, actor, t))
    return out


async def _member_home(ctx: Context, actor: Actor, t: Copy, prompt: PromptState | None) -> Message:
    blocks: list[object] = [Heading(t.say("home_title"))]
    buttons = [Button("checkin_open", t.say("button_checkin"), style="primary")]
    if actor.home_team is None and actor.is_admin and actor.person is not None:
        # An admin in no team: no check-in is due, and they can add themselves to a team.
        blocks.append(Paragraph(t.say("home_admin_no_team", user_id=actor.person.user_id)))
        buttons = []
    elif actor.home_team is None:
        blocks.append(Paragraph(t.say("home_no_team")))
    else:
        period = prompt.period if prompt is not None and prompt.prompted else None
        if period is not None and prompt is not None and not prompt.answered:
            blocks.append(
                Paragraph(t.say("home_round_open", team=actor.home_team.name, period=period))
            )
        elif period is not None:
            blocks.append(Paragraph(t.say("home_round_done", period=period)))
        else:
            async with ctx.sessions() as session:
                schedule = operations.schedule_json(
                    await repo.schedule_of(session, actor.home_team.id),
                    actor.home_team,
                    actor.workspace,
                )
            blocks.append(
                Paragraph(t.say("home_next", schedule=operations.describe_schedule(schedule, t)))
            )
    person = actor.person
    if person is not None and person.paused_until is not None:
        blocks.append(Paragraph(t.say("privacy_paused", date=person.paused_until.isoformat())))
        buttons.append(Button("resume", t.say("button_resume")))
    else:
        buttons.append(Button("pause", t.say("button_pause")))
    buttons.append(Button("advice", t.say("button_advice")))
    blocks.append(Buttons(tuple(buttons)))
    blocks.append(Heading(t.say("privacy_title")))
    blocks.append(Bullets(tuple(t.say(f"privacy_rule_{i}") for i in range(1, 6))))
    return Message(
        locale=t.locale,
        fallback=t.say("home_title"),
        blocks=tuple(blocks),  # type: ignore[arg-type]
        tags=("home_member",),
    )


async def _admin_home(ctx: Context, actor: Actor, t: Copy) -> Message:
    rows = []
    async with ctx.sessions() as session:
        workspace = actor.workspace
        for team in await repo.teams_in(session, workspace.id):
            schedule = operations.schedule_json(
                await repo.schedule_of(session, team.id), team, workspace
            )
            rows.append(f"{team.name}: {operations.describe_schedule(schedule, t)}")
    blocks = (
        Heading(t.say("admin_title")),
        Paragraph(
            t.say(
                "home_threshold",
                threshold=actor.workspace.threshold,
                comment_threshold=actor.workspace.comment_threshold,
            )
        ),
        Bullets(tuple(rows)) if rows else Paragraph(t.say("admin_no_teams")),
        Buttons((Button("admin_panel", t.say("button_admin")),)),
    )
    return Message(
        locale=t.locale, fallback=t.say("admin_title"), blocks=blocks, tags=("home_admin",)
    )
