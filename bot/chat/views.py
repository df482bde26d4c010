"""Builders of neutral messages from domain data. No I/O, no platform knowledge."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from babel.dates import format_date

from bot.admin.validate import WEEKDAYS
from bot.chat.buttons import CarriedAdvice, RoundButton, RoundVerb
from bot.chat.registry import Audience, Commands, HelpLine
from bot.core.actor import Actor
from bot.rounds.release import IN_RUT_MEAN
from bot.rounds.summary import (
    ClosedRound,
    Findings,
    OpenRound,
    PracticeRow,
    Summary,
    TrendPoint,
)
from messages.content import (
    LEVELS,
    PRACTICE_KEYS,
    Advice,
    Content,
    Level,
    Practice,
    level_for,
    load_content,
)
from messages.copy import Copy, copy_for
from messages.model import (
    Block,
    Bullets,
    Button,
    Buttons,
    Checkbox,
    ChoiceQuestion,
    Form,
    Heading,
    Message,
    Option,
    Paragraph,
    Section,
    Surface,
    TextInput,
    TrendLine,
    TrendSeries,
)
from storage.values import CadenceKind, DeliveryKind, ReleaseStatus

ADVICE_PRACTICES_MAX = 3


def help_message(t: Copy, actor: Actor, commands: Commands[Any]) -> Message:
    """The commands this person may use, as the command table's help lines say, and buttons
    for the everyday ones."""
    lines = tuple(commands.help_for(actor))
    person = actor.person
    own_id = (
        person.user_id if person is not None and any(line.names_user for line in lines) else None
    )
    summary = None
    if actor.managed:
        # A manager of several teams gets the overview of them all, one button per team.
        summary = actor.managed[0].name if len(actor.managed) == 1 else ""
    # An admin in no team has no team check-in to answer: they are told how to join one
    # instead of being offered a check-in as if they were a member.
    no_team_admin = Audience.ADMINS_IN_NO_TEAM.includes(actor)
    return _help(t, lines, own_id, no_team_admin, summary, actor.is_admin)


@lru_cache(maxsize=256)
def _help(
    t: Copy,
    lines: tuple[HelpLine, ...],
    own_id: str | None,
    no_team_admin: bool,
    summary: str | None,
    is_admin: bool,
) -> Message:
    """The help from what decides it, kept: it is the command asked for most, and a few
    variants serve everyone (the user id only for the lines that name it)."""
    said = [
        t.say(line.key, user_id=own_id)
        if line.names_user and own_id is not None
        else t.say(line.key)
        for line in lines
    ]
    buttons = (
        [] if no_team_admin else [Button("checkin_open", t.say("button_checkin"), style="primary")]
    )
    buttons.append(Button("advice", t.say("button_advice")))
    if summary is not None:
        buttons.append(Button("summary", t.say("button_summary"), value=summary))
    if is_admin:
        buttons.append(Button("admin_panel", t.say("button_admin")))
    return Message(
        locale=t.locale,
        fallback=t.say("help_title"),
        blocks=(
            Heading(t.say("help_title")),
            Paragraph(t.say("help_intro")),
            Bullets(tuple(said)),
            Buttons(tuple(buttons)),
        ),
        tags=("help",),
        cacheable=True,
    )


def checkin_form(t: Copy, locale: str, period: str | None) -> Message:
    content = load_content(locale)
    questions = tuple(
        ChoiceQuestion(
            input_id=p.key,
            label=p.question,
            options=tuple(Option(str(v), str(v)) for v in range(1, 6)),
            low_label=p.low_label,
            high_label=p.high_label,
        )
        for p in content.practices
    )
    form = Form(
        form_id="checkin",
        title=t.say("checkin_title"),
        submit_label=t.say("checkin_submit"),
        intro=(Paragraph(t.say("checkin_intro")),),
        inputs=(
            *questions,
            TextInput(
                "comment", t.say("comment_label"), hint=t.say("comment_hint"), multiline=True
            ),
            Checkbox("share", t.say("share_label"), hint=t.say("share_hint")),
        ),
        private=period or "",
    )
    return Message(
        locale=t.locale,
        fallback=t.say("checkin_title"),
        surface="dialog",
        form=form,
        title=t.say("checkin_title"),
        tags=("checkin_form",),
        cacheable=True,  # the same five questions for everyone in the round
    )


def advice_targets(scores: Mapping[str, int]) -> list[tuple[str, Level]]:
    """The practices to advise on: every rut (≤ 2), lowest first; else the single lowest."""
    ordered = sorted(PRACTICE_KEYS, key=lambda k: (scores[k], PRACTICE_KEYS.index(k)))
    ruts = [k for k in ordered if scores[k] <= 2][:ADVICE_PRACTICES_MAX]
    chosen = ruts or ordered[:1]
    return [(k, level_for(scores[k])) for k in chosen]


def advice_piece(content: Content, piece: Advice) -> str:
    """A piece of advice, and for a rut its one-line follow-up for a week later, introduced in
    the language the advice is written in (English advice keeps "After a week" in English)."""
    if not piece.after_a_week:
        return piece.text
    return _with_followup(content.locale, piece.text, piece.after_a_week)


@lru_cache(maxsize=2048)
def _with_followup(locale: str, text: str, followup: str) -> str:
    """Kept: the pieces are the content's own, a few hundred, and rendering the label's
    template for each piece of each check-in's answer was a percent of a submission."""
    return f"{text}\n{copy_for(locale).say('after_a_week', followup=followup)}"


def advice_sections(
    t: Copy,
    locale: str,
    targets: Sequence[tuple[str, Level]],
    seed: str,
    *,
    distress: bool = False,
) -> list[Section]:
    """Two pieces per practice, at least one of them doable by anyone in ten minutes; after
    very low answers one such piece per practice: people first, fewer tips."""
    content = load_content(locale)
    sections = []
    for key, level in targets:
        practice = content.practice(key)
        pieces = content.pick_advice(
            key, level, seed, count=1 if distress else 2, inclusive_only=distress
        )
        sections.append(
            Section(title=practice.name, text="\n\n".join(advice_piece(content, p) for p in pieces))
        )
    return sections


def distress_line(t: Copy, support_url: str | None) -> Paragraph:
    """The warm line pointing to people, and to the workspace's support link when it has one.
    Shown whenever the answers are very low, whatever the rotation picked."""
    text = t.say("distress_line")
    if support_url:
        text = f"{text} {t.say('distress_support', url=support_url)}"
    return Paragraph(text)


def checkin_result(
    t: Copy,
    locale: str,
    status_line: str,
    targets: Sequence[tuple[str, Level]],
    seed: str,
    period: str,
    *,
    distress: bool = False,
    support_url: str | None = None,
) -> Message:
    sections = advice_sections(t, locale, targets, seed, distress=distress)
    care = (distress_line(t, support_url),) if distress else ()
    return Message(
        locale=t.locale,
        fallback=status_line,
        surface="dialog",
        title=t.say("advice_title"),
        blocks=(
            Paragraph(status_line),
            *care,
            Heading(t.say("advice_heading")),
            *sections,
            # Next to the button: what it leaves behind (the member's choice, made knowingly).
            Paragraph(t.say("advice_send_note")),
            Buttons((Button("advice_send", t.say("button_send_advice")),)),
        ),
        # What "Send me this advice" sends back: the targets, the period and the flag.
        private=CarriedAdvice(tuple(targets), period, distress).encode(),
        tags=("advice", "checkin_result"),
    )


def advice_message(
    t: Copy,
    locale: str,
    targets: Sequence[tuple[str, Level]],
    seed: str,
    *,
    distress: bool = False,
    support_url: str | None = None,
) -> Message:
    """Advice sent into the chat at the member's own request (the DM button)."""
    sections = advice_sections(t, locale, targets, seed, distress=distress)
    care = (distress_line(t, support_url),) if distress else ()
    return Message(
        locale=t.locale,
        fallback=t.say("advice_heading"),
        blocks=(Heading(t.say("advice_heading")), *care, *sections),
        tags=("advice",),
    )


def advice_topic(t: Copy, locale: str, key: str, seed: str) -> Message:
    return advice_topic_of(t, locale, key, topic_pieces(locale, key, seed))


def topic_pieces(locale: str, key: str, seed: str) -> tuple[Advice, ...]:
    """The piece shown for each level of a practice, in the rotation this seed picks."""
    content = load_content(locale)
    return tuple(content.pick_advice(key, level, seed)[0] for level in LEVELS)


def advice_topic_of(
    t: Copy, locale: str, key: str, pieces: tuple[Advice, ...], surface: Surface = "dialog"
) -> Message:
    """A practice's advice for every level, from pieces already chosen: it depends only on
    the pieces, never on who asked, so it may be kept and shared. Shown in a dialog, or as a
    personal reply in the chat (`surface`)."""
    content = load_content(locale)
    practice = content.practice(key)
    sections = tuple(
        Section(title=t.say(f"level_{level}"), text=advice_piece(content, piece))
        for level, piece in zip(LEVELS, pieces, strict=True)
    )
    return Message(
        locale=t.locale,
        fallback=practice.name,
        surface=surface,
        title=practice.short,
        blocks=(Heading(practice.name), Paragraph(practice.question), *sections),
        tags=("advice", f"advice:{key}"),
        cacheable=True,
    )


def advice_menu(t: Copy, locale: str) -> Message:
    content = load_content(locale)
    return Message(
        locale=t.locale,
        fallback=t.say("advice_menu"),
        blocks=(
            Paragraph(t.say("advice_menu")),
            Buttons(tuple(Button("advice", p.name, value=p.key) for p in content.practices)),
        ),
        tags=("advice_menu",),
        cacheable=True,
    )


def round_closed_dialog(t: Copy, locale: str, period: str) -> Message:
    """Answer to an old prompt's button: the round closed; private advice instead."""
    menu = advice_menu(t, locale)
    return Message(
        locale=t.locale,
        fallback=t.say("checkin_round_closed", period=period),
        surface="dialog",
        title=t.say("checkin_title"),
        blocks=(Paragraph(t.say("checkin_round_closed", period=period)), *menu.blocks),
        tags=("round_closed",),
    )


def prompt_message(t: Copy, team: str, period: str) -> Message:
    return _invitation(t, DeliveryKind.PROMPT, team, period)


def reminder_message(t: Copy, team: str, period: str) -> Message:
    return _invitation(t, DeliveryKind.REMINDER, team, period)


def _invitation(t: Copy, kind: DeliveryKind, team: str, period: str) -> Message:
    """A prompt or a reminder: one line and the button that opens the check-in. The kind's
    value is both the copy's key and the message's tag."""
    text = t.say(kind.value, team=team, period=period)
    button = Button("checkin_open", t.say("button_checkin"), value=period, style="primary")
    return Message(
        locale=t.locale,
        fallback=text,
        blocks=(Paragraph(text), Buttons((button,))),
        tags=(kind.value,),
    )


def checked_in_message(t: Copy, period: str) -> Message:
    return Message.text(t.say("prompt_done", period=period))


def closed_notice_message(
    t: Copy, period: str, closed_on: date, next_opening: date | None
) -> Message:
    """What a prompt of a closed round becomes: the same for everyone, answered or not (so the
    edit reveals nothing), and no button, since the check-in it opened would store nothing."""
    closed = _day(t, closed_on)
    text = (
        t.say("round_closed_next", period=period, closed=closed, next=_day(t, next_opening))
        if next_opening is not None
        else t.say("round_closed", period=period, closed=closed)
    )
    return Message(
        locale=t.locale,
        fallback=text,
        blocks=(Paragraph(text),),
        tags=(DeliveryKind.CLOSED_NOTICE.value,),
    )


def _day(t: Copy, day: date) -> str:
    """A short day in the copy's locale ("Thu 3 Dec", "Do. 3. Dez."): the pattern is copy."""
    return format_date(day, t.say("day_format"), locale=t.locale)


def confirm_forget(t: Copy) -> Message:
    return Message(
        locale=t.locale,
        fallback=t.say("forget_confirm"),
        blocks=(
            Paragraph(t.say("forget_confirm")),
            Buttons(
                (
                    Button("forget_me_confirm", t.say("button_forget"), style="danger"),
                    Button("forget_me_cancel", t.say("button_keep")),
                )
            ),
        ),
        tags=("forget_confirm",),
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def _change(t: Copy, value: float | None) -> str:
    """ "+0.3", "-0.7", "no change" for a difference that rounds to zero, "–" with nothing
    earlier to compare with."""
    if value is None:
        return "–"
    if round(value, 1) == 0:
        return t.say("change_none")
    return f"{value:+.1f}"


WEEK_PERIOD = re.compile(r"^\d{4}-(W\d{2})$")


def _short_period(period: str) -> str:
    """ "2026-W48" → "W48" under a chart (its span names the year); a month stays whole."""
    match = WEEK_PERIOD.match(period)
    return match.group(1) if match else period


def trend_series(t: Copy, locale: str, trend: Sequence[TrendPoint]) -> TrendSeries:
    """A summary's trend as a chart with its legend: the 1–5 scale, the dashed rut line,
    and the withheld rounds named."""
    content = load_content(locale)
    return TrendSeries(
        title=t.say("summary_trend"),
        periods=tuple(point.period for point in trend),
        lines=tuple(
            TrendLine(
                label=p.short,
                points=tuple((point.means or {}).get(p.key) for point in trend),
            )
            for p in content.practices
        ),
        labels=tuple(_short_period(point.period) for point in trend),
        withheld=tuple(
            i for i, point in enumerate(trend) if point.status == ReleaseStatus.WITHHELD
        ),
        rut_line=IN_RUT_MEAN,
        scale_label=t.say("trend_scale"),
        rut_label=t.say("trend_rut_line"),
        withheld_label=t.say("trend_withheld"),
        withheld_short=t.say("trend_withheld_short"),
    )


def summary_message(t: Copy, locale: str, summary: Summary) -> Message:
    """A team's summary: the latest closed round, its trend, and the open round's counts."""
    blocks: list[Block] = [Heading(t.say("summary_title", team=summary.team))]
    blocks += _latest_blocks(t, locale, summary.latest, summary.threshold)
    if len(summary.trend) > 1:
        blocks.append(trend_series(t, locale, summary.trend))
    if summary.open is not None:
        blocks.append(Paragraph(_open_line(t, "summary_open", summary.open)))
    return Message(
        locale=t.locale,
        fallback=t.say("summary_title", team=summary.team),
        blocks=tuple(blocks),
        surface="dialog",
        title=t.say("summary_short"),
        tags=("summary",),
    )


def _latest_blocks(t: Copy, locale: str, latest: ClosedRound | None, threshold: int) -> list[Block]:
    """What the latest closed round says: nothing yet, withheld with its counts, or released
    with its counts and findings."""
    if latest is None:
        return [Paragraph(t.say("summary_none"))]
    if latest.status == ReleaseStatus.WITHHELD:
        return [
            Paragraph(
                t.say(
                    "summary_withheld",
                    period=latest.period,
                    respondents=latest.respondents,
                    delivered=latest.delivered,
                    threshold=threshold,
                )
            )
        ]
    counts = t.say(
        "summary_released",
        period=latest.period,
        respondents=latest.respondents,
        delivered=latest.delivered,
        participation=_pct(latest.participation),
    )
    blocks: list[Block] = [Paragraph(counts), Paragraph(t.say("summary_no_guessing"))]
    if latest.findings is not None:
        blocks += _findings_blocks(t, load_content(locale), latest.findings)
    return blocks


def _findings_blocks(t: Copy, content: Content, findings: Findings) -> list[Block]:
    """A released round's findings: a section per practice, the two measures defined, the
    practice needing attention with its team actions, and the shared comments."""
    blocks: list[Block] = [
        _practice_section(t, practice, findings.practices[practice.key], findings.attention)
        for practice in content.practices
    ]
    blocks.append(Paragraph(t.say("summary_fields_defined")))
    blocks.append(Paragraph(t.say("summary_in_rut", share=_pct(findings.in_rut_share))))
    attention = content.practice(findings.attention).name
    blocks.append(Heading(t.say("summary_attention", practice=attention)))
    blocks.append(Bullets(findings.actions))
    if findings.comments:
        quoted = "\n".join(f"“{c}”" for c in findings.comments)
        blocks.append(Section(title=t.say("summary_comments"), text=quoted))
    return blocks


def _practice_section(t: Copy, practice: Practice, row: PracticeRow, attention: str) -> Section:
    marker = " ⚠" if practice.key == attention else ""
    return Section(
        title=practice.name + marker,
        fields=(
            (t.say("field_mean"), f"{row.mean:.1f} / 5"),
            (t.say("field_low"), _pct(row.low_share)),
            (t.say("field_change"), _change(t, row.change)),
        ),
    )


def _open_line(t: Copy, key: str, open_round: OpenRound) -> str:
    """The open round's participation, counts only: `summary_open` or `overview_open`."""
    return t.say(
        key,
        period=open_round.period,
        answered=open_round.answered,
        delivered=open_round.delivered,
    )


def summary_overview(t: Copy, locale: str, summaries: Sequence[Summary]) -> Message:
    """`/rut summary` from a manager of several teams: per team the latest round's status,
    its participation and the practice needing attention, and a button to open its summary."""
    content = load_content(locale)
    blocks: list[Block] = [
        Heading(t.say("overview_title")),
        Paragraph(t.say("overview_intro", count=len(summaries))),
    ]
    for summary in summaries:
        team = summary.team
        blocks.append(_overview_section(t, content, summary))
        blocks.append(
            Buttons((Button("summary", t.say("button_open_team", team=team), value=team),))
        )
    return Message(
        locale=t.locale,
        fallback=t.say("overview_title"),
        blocks=tuple(blocks),
        surface="dialog",
        title=t.say("summary_short"),
        tags=("summary_overview",),
    )


def _overview_section(t: Copy, content: Content, summary: Summary) -> Section:
    """One team in the overview: its latest round, how many answered, what needs attention."""
    latest = summary.latest
    fields = [(t.say("overview_latest"), _overview_latest(t, latest))]
    if latest is not None:
        answered = t.say(
            "overview_answered_value",
            respondents=latest.respondents,
            delivered=latest.delivered,
            participation=_pct(latest.participation),
        )
        fields.append((t.say("overview_answered"), answered))
    if summary.findings is not None:
        attention = content.practice(summary.findings.attention).name
        fields.append((t.say("overview_attention"), attention))
    text = _open_line(t, "overview_open", summary.open) if summary.open is not None else ""
    return Section(title=summary.team, text=text, fields=tuple(fields))


def _overview_latest(t: Copy, latest: ClosedRound | None) -> str:
    if latest is None:
        return t.say("overview_none")
    if latest.status == ReleaseStatus.WITHHELD:
        return t.say("overview_withheld", period=latest.period)
    return t.say("overview_released", period=latest.period)


def admin_panel(t: Copy, teams: Sequence[Mapping[str, Any]]) -> Message:
    blocks: list[Any] = [Heading(t.say("admin_title")), Paragraph(t.say("admin_intro"))]
    for team in teams:
        blocks.append(Section(title=team["name"], text=f"{team['state']}\n{team['schedule']}"))
        name = team["name"]
        # Only what can succeed: Close asks first (it cannot be undone); no Open for a
        # period whose round is over (the row says when the next one opens).
        buttons = []
        if team["open"]:
            buttons.append(
                Button(
                    "admin_round",
                    t.say("button_close_round"),
                    value=RoundButton(RoundVerb.ASK_CLOSE, name).encode(),
                    style="primary",
                )
            )
        elif team.get("can_open", True):
            buttons.append(
                Button(
                    "admin_round",
                    t.say("button_open_round"),
                    value=RoundButton(RoundVerb.OPEN, name).encode(),
                    style="primary",
                )
            )
        buttons.append(Button("admin_schedule", t.say("button_schedule"), value=name))
        blocks.append(Buttons(tuple(buttons)))
    if not teams:
        blocks.append(Paragraph(t.say("admin_no_teams")))
    return Message(
        locale=t.locale, fallback=t.say("admin_title"), blocks=tuple(blocks), tags=("admin_panel",)
    )


def close_confirmation(t: Copy, team: str, text: str) -> Message:
    """Before an irreversible close: what will happen, and a button to go ahead."""
    buttons = (
        Button(
            "admin_round",
            t.say("button_close_confirm"),
            value=RoundButton(RoundVerb.CLOSE, team).encode(),
            style="danger",
        ),
        Button(
            "admin_round",
            t.say("button_close_cancel"),
            value=RoundButton(RoundVerb.PANEL, team).encode(),
        ),
    )
    return Message(
        locale=t.locale,
        fallback=text,
        blocks=(Paragraph(text), Buttons(buttons)),
        tags=("admin_close_confirm",),
    )


def schedule_form(t: Copy, team: str, current: Mapping[str, Any] | None) -> Message:
    form = Form(
        form_id="schedule",
        title=t.say("schedule_title"),
        submit_label=t.say("schedule_submit"),
        private=team,
        intro=(Paragraph(t.say("schedule_intro", team=team)),),
        inputs=(
            ChoiceQuestion(
                "cadence",
                t.say("schedule_cadence"),
                tuple(Option(c, t.say(f"cadence_{c}")) for c in CadenceKind),
                style="select",
                initial=(current or {}).get("cadence", CadenceKind.WEEKLY),
            ),
            ChoiceQuestion(
                "weekday",
                t.say("schedule_weekday"),
                tuple(Option(d, t.weekday(i)) for i, d in enumerate(WEEKDAYS)),
                style="select",
                initial=(current or {}).get("weekday", "mon"),
            ),
            TextInput(
                "time",
                t.say("schedule_time"),
                hint="HH:MM",
                optional=False,
                initial=(current or {}).get("time", "09:30"),
                max_length=5,
            ),
            TextInput(
                "week_of_month",
                t.say("schedule_week_of_month"),
                hint="1, 2, 3, 4, last",
                initial=str((current or {}).get("week_of_month") or ""),
                max_length=4,
            ),
            TextInput(
                "anchor",
                t.say("schedule_anchor"),
                hint="YYYY-MM-DD",
                initial=(current or {}).get("anchor") or "",
                max_length=10,
            ),
        ),
    )
    return Message(
        locale=t.locale,
        fallback=t.say("schedule_title"),
        surface="dialog",
        form=form,
        title=t.say("schedule_title"),
        tags=("schedule_form",),
    )


def error_message(text: str, locale: str = "en") -> Message:
    return Message(locale=locale, fallback=text, blocks=(Paragraph(text),), tags=("error",))
