"""Every message the bot renders, for the Teams renderer's tests: built by bot/chat/views.py from
fixed data, and asked of the engine over the demo workspace (a team with released history,
a withheld round and an open round), including hostile names and comments."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.chat import views
from bot.chat.engine import CHAT_COMMANDS, ChatEngine
from bot.core.actor import Actor
from bot.core.context import Context
from bot.core.events import (
    ActionInvoked,
    CommandReceived,
    ConversationRef,
    FormSubmitted,
    HomeOpened,
)
from bot.rounds.summary import (
    ClosedRound,
    Findings,
    OpenRound,
    PracticeRow,
    Summary,
    TrendPoint,
)
from bot.server.demo import seed_demo
from messages.content import Level, load_content
from messages.copy import copy_for
from messages.model import Message
from storage.models import Team, Workspace
from storage.values import ReleaseStatus

T = copy_for("en")
PERIOD = "2026-W48"
HOSTILE = (
    "**Urgent** _read_ [log in](https://evil.example/login) <at>Ada</at> &amp; `rm` ~~x~~ "
    "{{DATE(2026-11-25T09:00:00Z, SHORT)}}\n# Heading\n- bullet\n1. ordered\n    code \\*"
)
HOSTILE_TEAM = "*Ops* [x](https://evil.example) <b>&"


def workspace() -> Workspace:
    return Workspace(
        platform="teams",
        external_id="tenant-1",
        name="Acme",
        timezone="UTC",
        locale="en",
        threshold=5,
        comment_threshold=5,
    )


def actor(*, admin: bool = False, manages: tuple[str, ...] = ()) -> Actor:
    ws = workspace()
    return Actor(
        workspace=ws,
        person=None,
        is_admin=admin,
        managed=tuple(Team(name=name) for name in manages),
    )


def released_summary(team: str = "Platform <R&D>") -> Summary:
    """What bot.rounds.summary.team_summary returns: W47 released, W46 withheld, W48 open."""
    means = [
        {"assess": 3.2, "routine": 2.6, "training": 3.0, "strengths": 3.8, "path": 3.1},
        None,
        {"assess": 3.4, "routine": 2.2, "training": 3.3, "strengths": 4.0, "path": 2.9},
    ]
    findings = Findings(
        practices={
            "assess": PracticeRow(mean=3.4, low_share=0.17, change=0.2, low_streak=0),
            "routine": PracticeRow(mean=2.2, low_share=0.5, change=-0.4, low_streak=2),
            "training": PracticeRow(mean=3.3, low_share=0.17, change=0.3, low_streak=0),
            "strengths": PracticeRow(mean=4.0, low_share=0.0, change=0.2, low_streak=0),
            "path": PracticeRow(mean=2.9, low_share=0.33, change=-0.2, low_streak=0),
        },
        in_rut_share=0.33,
        attention="routine",
        actions=tuple(load_content("en").actions["routine"][:3]),
        comments=("More pairing, fewer status meetings", "Time for a course & a <mentor>"),
    )
    return Summary(
        team=team,
        workspace="tenant-1",
        threshold=5,
        latest=ClosedRound(
            period="2026-W47",
            status=ReleaseStatus.RELEASED,
            respondents=6,
            delivered=8,
            participation=0.75,
            findings=findings,
        ),
        trend=(
            TrendPoint("2026-W45", ReleaseStatus.RELEASED, means[0]),
            TrendPoint("2026-W46", ReleaseStatus.WITHHELD, means[1]),
            TrendPoint("2026-W47", ReleaseStatus.RELEASED, means[2]),
        ),
        open=OpenRound(period=PERIOD, answered=3, delivered=8),
    )


def with_comments(summary: Summary, comments: tuple[str, ...]) -> Summary:
    """A released summary with other shared comments."""
    assert summary.latest is not None and summary.latest.findings is not None
    findings = replace(summary.latest.findings, comments=comments)
    return replace(summary, latest=replace(summary.latest, findings=findings))


def withheld_summary() -> Summary:
    summary = released_summary()
    assert summary.latest is not None
    return replace(
        summary,
        latest=replace(
            summary.latest,
            period="2026-W48",
            status=ReleaseStatus.WITHHELD,
            respondents=3,
            findings=None,
        ),
        trend=(*summary.trend, TrendPoint(PERIOD, ReleaseStatus.WITHHELD)),
        open=None,
    )


def none_summary(team: str) -> Summary:
    """A team with no closed round yet, and none open."""
    return Summary(team=team, workspace="tenant-1", threshold=5)


def overview_summaries() -> list[Summary]:
    """A manager of three teams: one released (with an open round), one withheld, one new."""
    withheld = withheld_summary()
    assert withheld.latest is not None
    design = replace(
        withheld,
        team="Design",
        latest=replace(withheld.latest, delivered=8, participation=0.38),
    )
    return [released_summary(), design, none_summary("Mobile")]


def admin_teams(*names: str) -> list[dict[str, Any]]:
    out = []
    for index, name in enumerate(names or ("Platform", "Design")):
        is_open = index % 2 == 0
        out.append(
            {
                "name": name,
                "open": is_open,
                "state": T.say("admin_round_open", period=PERIOD, answered=3, delivered=8)
                if is_open
                else T.say("admin_round_none"),
                "schedule": T.say("admin_schedule", schedule="weekly on mon at 09:30"),
            }
        )
    return out


def checkin_result() -> Message:
    targets: list[tuple[str, Level]] = [("routine", "rut"), ("path", "rut")]
    status = T.say("checkin_stored", period=PERIOD)
    return views.checkin_result(T, "en", status, targets, f"U1|{PERIOD}", PERIOD)


def view_messages() -> dict[str, Message]:
    """The views' builders over fixed data, one message per screen."""
    content = load_content("en")
    out: dict[str, Message] = {
        "help_member": views.help_message(T, actor(), CHAT_COMMANDS),
        "help_manager": views.help_message(T, actor(manages=("Platform",)), CHAT_COMMANDS),
        "help_admin": views.help_message(
            T, actor(admin=True, manages=("Platform",)), CHAT_COMMANDS
        ),
        "advice_menu": views.advice_menu(T, "en"),
        "advice": views.advice_message(T, "en", [("training", "middle")], f"U1|{PERIOD}"),
        "prompt": views.prompt_message(T, "Platform", PERIOD),
        "reminder": views.reminder_message(T, "Platform", PERIOD),
        "checked_in": views.checked_in_message(T, PERIOD),
        "checkin_form": views.checkin_form(T, "en", PERIOD),
        "checkin_form_no_round": views.checkin_form(T, "en", None),
        "checkin_result": checkin_result(),
        "forget_confirm": views.confirm_forget(T),
        "summary": views.summary_message(T, "en", released_summary()),
        "summary_withheld": views.summary_message(T, "en", withheld_summary()),
        "summary_none": views.summary_message(T, "en", none_summary("Platform")),
        "summary_hostile": views.summary_message(
            T, "en", with_comments(released_summary(HOSTILE_TEAM), (HOSTILE, "plain & simple"))
        ),
        "summary_overview": views.summary_overview(T, "en", overview_summaries()),
        "help_manager_of_several": views.help_message(
            T, actor(manages=("Platform", "Design")), CHAT_COMMANDS
        ),
        "admin_panel": views.admin_panel(T, admin_teams()),
        "admin_panel_hostile": views.admin_panel(T, admin_teams(HOSTILE_TEAM, "Design")),
        "admin_panel_empty": views.admin_panel(T, []),
        "schedule_form": views.schedule_form(
            T, "Platform", {"cadence": "biweekly", "weekday": "tue", "time": "10:00"}
        ),
        "schedule_form_new": views.schedule_form(T, HOSTILE_TEAM, None),
        "error": views.error_message(T.say("oops")),
        "error_hostile": views.error_message(HOSTILE),
    }
    for practice in content.practices:
        out[f"advice_{practice.key}"] = views.advice_topic(T, "en", practice.key, f"U1|{PERIOD}")
    return out


# --- through the engine --------------------------------------------------------------------

_WHERE = "demo"


def _ref(user: str) -> ConversationRef:
    return ConversationRef("playground", _WHERE, user)


class _Events:
    def __init__(self) -> None:
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"teams-cards-{self.count}"


async def engine_messages(ctx: Context) -> dict[str, Message]:
    """What the engine answers to each command, button and form over the demo workspace."""
    await seed_demo(ctx)
    engine = ChatEngine(ctx)
    ids = _Events()
    out: dict[str, Message] = {}

    async def say(name: str, user: str, text: str) -> list[Message]:
        replies = await engine.handle(
            CommandReceived(event_id=ids.next_id(), where=_ref(user), user_id=user, text=text)
        )
        for index, reply in enumerate(replies):
            out[name if index == 0 else f"{name}_{index}"] = reply
        return replies

    async def press(
        name: str, user: str, action_id: str, value: str = "", private: str = ""
    ) -> None:
        replies = await engine.handle(
            ActionInvoked(
                event_id=ids.next_id(),
                where=_ref(user),
                user_id=user,
                action_id=action_id,
                value=value,
                private=private,
            )
        )
        for index, reply in enumerate(replies):
            out[name if index == 0 else f"{name}_{index}"] = reply

    member, manager, admin = "U-ada", "U-grace", "U-radia"
    await say("engine_help_member", member, "help")
    await say("engine_help_manager", manager, "help")
    await say("engine_help_admin", admin, "help")
    await say("engine_advice_menu", member, "advice")
    await say("engine_advice_topic", member, "advice learning")
    await say("engine_checkin_form", member, "checkin")
    result = await engine.handle(
        FormSubmitted(
            event_id=ids.next_id(),
            where=_ref(member),
            user_id=member,
            form_id="checkin",
            values={
                "assess": "4",
                "routine": "1",
                "training": "2",
                "strengths": "5",
                "path": "3",
                "comment": HOSTILE[:280],
                "share": "true",
            },
        )
    )
    out["engine_checkin_result"] = result[0]
    await press("engine_advice_send", member, "advice_send", private=result[0].private)
    await say("engine_privacy", member, "privacy")
    await say("engine_pause", member, "pause until 2026-12-24")
    await say("engine_resume", member, "resume")
    await say("engine_timezone", member, "timezone Europe/Lisbon")
    await say("engine_forget_confirm", member, "forget-me")
    await say("engine_summary_open", manager, "summary")
    await say("engine_admin_panel", admin, "admin")
    await say("engine_team_add", admin, f"admin team add '{HOSTILE_TEAM}'")
    await press("engine_round_close", admin, "admin_round", "close|Platform")
    await say("engine_summary", manager, "summary")
    await press("engine_schedule_form", admin, "admin_schedule", "Platform")
    await say("engine_unknown", member, "dance")
    await say("engine_not_allowed", member, "admin team add Nope")
    for user, role in ((member, "member"), (manager, "manager"), (admin, "admin")):
        replies = await engine.handle(
            HomeOpened(event_id=ids.next_id(), where=_ref(user), user_id=user)
        )
        for index, reply in enumerate(replies):
            out[f"engine_home_{role}_{index}"] = reply
    return out
