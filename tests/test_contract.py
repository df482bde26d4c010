"""One contract, three platforms: install, help, advice, a check-in stored once, a double
submit, a summary refused to a member and a closed round's prompt behave the same on Slack,
Microsoft Teams and the playground.

Each test runs once per platform through a driver (tests/contract/) that speaks the platform's
own protocol over real HTTP to the app `bot.server.app.build_app` builds, with only that platform's
fakes on the other side, and reads back what the person would see as a neutral `Reply`. The
assertions are the same words, from the same copy, for every platform; where a platform shows
something in another place (a Slack modal, a Teams chat card, a playground dialog), the
assertion names what must hold wherever it is shown. What "install" means per platform is in
tests/contract/__init__.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bot.admin import operations as admin
from bot.core.clock import ManualClock
from messages.content import load_content
from messages.copy import copy_for
from storage.values import MembershipRole
from tests.contract import Platform
from tests.contract.playground import playground
from tests.contract.slack import slack
from tests.contract.teams import teams

T = copy_for("en")
PERIOD = "2026-W48"
CLOSED = "The 2026-W48 check-in closed on Wed 25 Nov."  # no schedule: no next opening named
QUESTIONS = ["assess", "routine", "training", "strengths", "path"]
SCORES = {"assess": 4, "routine": 1, "training": 4, "strengths": 5, "path": 3}
ROUTINE = load_content("en").practice("routine").name  # the practice answered lowest
NEWCOMER = "UNEWBIE"

Start = Callable[[str, ManualClock], AbstractAsyncContextManager[Platform]]
DRIVERS: dict[str, Start] = {"slack": slack, "teams": teams, "playground": playground}


@pytest.fixture(params=sorted(DRIVERS))
async def platform(
    request: pytest.FixtureRequest, db_url: str, clock: ManualClock
) -> AsyncIterator[Platform]:
    """The app with one platform configured, on SQLite and (when configured) PostgreSQL."""
    async with DRIVERS[request.param](db_url, clock) as driver:
        yield driver


def no_scores(text: str) -> bool:
    return not re.search(r"\b[1-5]\b", text.replace(PERIOD, ""))


# --- install ---------------------------------------------------------------------------------


async def test_an_install_makes_a_person_known_and_reachable_and_grants_nothing(
    platform: Platform,
) -> None:
    welcome = await platform.install(NEWCOMER)
    person = await platform.person(NEWCOMER)
    assert person is not None and person.role == "member" and not person.stub
    if platform.name == "playground":
        assert welcome is None  # seeded, not installed: nothing is said
    else:
        # Slack's Home tab, Teams' welcome card: the way to check in, and nothing of a role.
        assert welcome is not None and "checkin_open" in welcome.actions, welcome
        assert not {"summary", "admin_panel"} & set(welcome.actions)

    # Reachable: once an admin puts them in a team, its next round's prompt reaches them.
    await admin.set_members(
        platform.runtime.ctx,
        platform.world.cli,
        "Platform",
        [NEWCOMER],
        role=MembershipRole.MEMBER,
        add=True,
    )
    await platform.open_round()
    prompt = await platform.prompt(NEWCOMER)
    assert prompt.text == T.say("prompt", team="Platform", period=PERIOD)
    assert prompt.actions == ["checkin_open"]


# --- help and advice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "manages", "administers"),
    [("U0", False, False), ("UBOSS", True, False), ("UROOT", False, True)],
    ids=["member", "manager", "admin"],
)
async def test_help_is_the_help_of_the_persons_role(
    platform: Platform, user: str, manages: bool, administers: bool
) -> None:
    [reply] = await platform.command(user, "help")
    assert reply.surface == "chat"
    commands = ["checkin", "advice", "pause", "timezone", "privacy", "forget"]
    commands += ["summary"] * manages + ["admin"] * administers
    lines = [f"• {T.say(f'help_{c}')}" for c in commands]
    if administers:  # the admin is in no team: told how to join one, not offered a check-in
        lines[0] = f"• {T.say('help_checkin_admin_no_team', user_id=user)}"
    assert reply.text.splitlines() == [
        platform.as_said(line) for line in (T.say("help_title"), T.say("help_intro"), *lines)
    ]
    assert reply.actions == (
        ["checkin_open"] * (not administers)
        + ["advice"]
        + ["summary"] * manages
        + ["admin_panel"] * administers
    )


async def test_advice_offers_the_practices_and_answers_with_advice(platform: Platform) -> None:
    [menu] = await platform.command("U0", "advice")
    assert menu.text.startswith(T.say("advice_menu"))
    practices = load_content("en").practices
    assert [(b.action_id, b.value, b.label) for b in menu.buttons] == [
        ("advice", p.key, p.name) for p in practices
    ]

    [pressed] = await platform.click("U0", menu, menu.button("advice", "routine"))
    [typed] = await platform.command("U0", "advice routine")
    for topic in (pressed, typed):
        assert topic.text.startswith(ROUTINE), topic.text
        for level in ("level_rut", "level_middle", "level_thriving"):
            assert T.say(level) in topic.text
    assert pressed.text == typed.text  # the same advice, pressed or typed


# --- the check-in ----------------------------------------------------------------------------


async def test_a_check_in_through_the_dialog_is_stored_once_and_marks_the_prompt(
    platform: Platform,
) -> None:
    await platform.open_round()
    prompt = await platform.prompt("U0")
    assert prompt.text == T.say("prompt", team="Platform", period=PERIOD)

    form = await platform.open_checkin("U0", prompt)
    assert form.surface == "dialog"
    assert list(form.inputs) == [*QUESTIONS, "comment", "share"]
    assert await platform.answers() == 0

    answer = await platform.submit_checkin("U0", form, SCORES)
    assert answer.surface == "dialog"  # scores and advice stay out of the chat
    assert answer.text.startswith(T.say("checkin_stored", period=PERIOD))
    assert ROUTINE in answer.text
    assert await platform.answers() == 1

    # The prompt now says so, without scores and without its button.
    now = await platform.reread("U0", prompt)
    assert now.text == T.say("prompt_done", period=PERIOD) and no_scores(now.text)
    assert now.buttons == ()
    assert [m.ref for m in await platform.inbox("U0")] == [prompt.ref]  # nothing else in chat

    # Only at the person's request does the advice (no scores) go into their chat.
    [sent] = await platform.click("U0", answer, answer.button("advice_send"))
    assert sent.surface == "chat" and no_scores(sent.text)
    assert sent.text.startswith(f"{T.say('advice_heading')}\n{ROUTINE}")
    assert await platform.answers() == 1


async def test_an_incomplete_check_in_is_refused_in_the_dialog_and_stores_nothing(
    platform: Platform,
) -> None:
    """Forms are checked in the client too; the server's refusal must still be seen where
    the answers were given, not in the chat behind the dialog."""
    await platform.open_round()
    prompt = await platform.prompt("U0")
    form = await platform.open_checkin("U0", prompt)
    unanswered = {k: str(v) for k, v in SCORES.items() if k != "path"}
    [refused] = await platform.submit("U0", form, unanswered)
    assert refused.surface == "dialog"
    assert "Please answer all five questions with a number from 1 to 5." in refused.text
    assert await platform.answers() == 0
    assert (await platform.reread("U0", prompt)).text == prompt.text

    form = await platform.open_checkin("U0", prompt)  # again, from the same prompt
    answer = await platform.submit_checkin("U0", form, SCORES)
    assert answer.text.startswith(T.say("checkin_stored", period=PERIOD))
    assert await platform.answers() == 1


async def test_a_second_submit_is_already_counted_and_stores_nothing(platform: Platform) -> None:
    await platform.open_round()
    form = await platform.open_checkin("U0", await platform.prompt("U0"))
    first = await platform.submit_checkin("U0", form, SCORES)
    assert first.text.startswith(T.say("checkin_stored", period=PERIOD))

    again = await platform.submit_checkin("U0", form, {**SCORES, "path": 1})
    assert again.surface == "dialog"
    assert again.text.startswith(T.say("checkin_already", period=PERIOD))
    assert await platform.answers() == 1


async def test_a_double_click_on_submit_stores_one_answer(platform: Platform) -> None:
    """Both submissions arrive at once: one is counted, the other told so, one row stored."""
    await platform.open_round()
    form = await platform.open_checkin("U0", await platform.prompt("U0"))
    both = await asyncio.gather(*(platform.submit_checkin("U0", form, SCORES) for _ in "ab"))
    stored = T.say("checkin_stored", period=PERIOD)
    already = T.say("checkin_already", period=PERIOD)
    assert sorted(r.text.startswith(stored) for r in both) == [False, True]
    assert sum(r.text.startswith(already) for r in both) == 1
    assert await platform.answers() == 1


# --- refusals --------------------------------------------------------------------------------


async def test_a_member_asking_for_a_summary_gets_one_polite_sentence(platform: Platform) -> None:
    [refusal] = await platform.command("U1", "summary")
    assert refusal.surface == "chat"
    assert refusal.text == platform.as_said(T.say("summary_not_manager"))
    assert refusal.buttons == () and refusal.inputs == ()

    [summary] = await platform.command("UBOSS", "summary")  # the manager gets theirs
    assert summary.text.startswith("Platform: team check-in")


# --- a closed round --------------------------------------------------------------------------


async def test_a_closed_rounds_prompts_say_so_and_their_button_too(platform: Platform) -> None:
    await platform.open_round()
    unanswered = await platform.prompt("U0")
    answered = await platform.prompt("U1")
    form = await platform.open_checkin("U1", answered)
    await platform.submit_checkin("U1", form, SCORES)

    await platform.close_round()
    for user, prompt in (("U0", unanswered), ("U1", answered)):
        now = await platform.reread(user, prompt)
        assert now.text == CLOSED, user  # the same for everyone, answered or not
        assert now.buttons == ()

    # The old button, pressed anyway (a stale client), says so before any question.
    [late] = await platform.click("U0", unanswered, unanswered.button("checkin_open"))
    assert late.surface == "dialog"
    assert late.text.startswith(T.say("checkin_round_closed", period=PERIOD))
    assert late.inputs == ()
    # Private advice instead: a practice pressed in that dialog answers with its advice.
    [advice] = await platform.click("U0", late, late.button("advice", "routine"))
    assert advice.surface == "dialog" and advice.text.startswith(ROUTINE)
    assert await platform.answers() == 0  # released and deleted at the close
