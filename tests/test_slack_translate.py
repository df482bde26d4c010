"""Slack requests → neutral events (adapters/slack/translate.py): pure, so tested without a
server. Each kind of request becomes the event the engine expects, Slack's markup is made
plain before the engine sees it, and whatever else arrives becomes a clean rejection (or no
event), never an exception (hypothesis; the same bodies are posted to a running app in
tests/test_slack_fuzz.py)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.slack import translate
from adapters.slack.payloads import parse_request
from adapters.slack.translate import NOBODY, Rejected, Sender, plain_text
from bot.core.events import (
    ActionInvoked,
    CommandReceived,
    ConversationRef,
    Event,
    FormSubmitted,
    HomeOpened,
)
from tests.fakes.slack_requests import (
    FORM,
    JSON,
    app_home_opened,
    app_uninstalled,
    block_actions,
    event_callback,
    slash_command,
    url_verification,
    view_submission,
)
from tests.test_slack_fuzz import CHECKIN, base_bodies, mutate

ADA = Sender(display_name="Ada", timezone="Europe/Berlin", grants_admin=True)
SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1/x"


def request_of(body: bytes) -> Any:
    return parse_request(body, JSON if body.startswith(b"{") else FORM)


# --- Slack's markup, made plain ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("admin add <@U0123ABCD|ada>", "admin add U0123ABCD"),
        ("admin add <@U0123ABCD>", "admin add U0123ABCD"),
        ("admin add <@W0123ABCD|ada> <@U9|bo>", "admin add W0123ABCD U9"),
        ("team add Design --from-channel <#C0009|design>", "team add Design --from-channel C0009"),
        ("--from-channel <#G0001>", "--from-channel G0001"),
        ("admin add <mailto:ada@example.com|ada@example.com>", "admin add ada@example.com"),
        (
            "set --support-url <https://help.example/eap>",
            "set --support-url https://help.example/eap",
        ),
        (
            "set --support-url <https://help.example/eap|help>",
            "set --support-url https://help.example/eap",
        ),
        ("<!here> and <!subteam^S123|@leads>", "@here and @leads"),
        ("team add R&amp;D", "team add R&D"),
        ("a &lt;b&gt; c", "a <b> c"),
        ("typed &amp;lt; literally", "typed &lt; literally"),
        ("no markup at all", "no markup at all"),
        ("", ""),
    ],
)
def test_slack_markup_is_made_plain(slack: str, plain: str) -> None:
    assert plain_text(slack) == plain


@given(st.text(alphabet=st.characters(exclude_characters="<>&"), max_size=80))
def test_text_without_markup_is_left_as_it_is(text: str) -> None:
    assert plain_text(text) == text


# --- each request, its event -------------------------------------------------------------------


def test_a_slash_command_is_a_command_with_its_mentions_made_plain() -> None:
    body = slash_command(
        "admin team members add Design <@U0002|bo> <mailto:cy@example.com|cy@example.com>",
        user_id="U0001",
        team_id="T0001",
        trigger_id="1700000000.1.abc",
    )
    event = translate.command(request_of(body), ADA)
    assert event == CommandReceived(
        event_id="slack:T0001:1700000000.1.abc",
        where=ConversationRef("slack", "T0001", "U0001"),
        user_id="U0001",
        display_name="Ada",
        timezone="Europe/Berlin",
        grants_admin=True,
        text="admin team members add Design U0002 cy@example.com",
        platform_retries=False,  # Slack never retries a slash command: nothing is claimed
    )


def test_an_org_wide_command_speaks_for_the_enterprise() -> None:
    body = slash_command("help", team_id="T0001", enterprise_id="E0001").replace(
        b"is_enterprise_install=false", b"is_enterprise_install=true"
    )
    event = translate.command(request_of(body))
    assert event.where.tenant_id == "E0001" and event.event_id.startswith("slack:E0001:")


def test_a_button_is_an_action_with_what_its_view_carried() -> None:
    modal = {"id": "V0001", "type": "modal", "private_metadata": "routine:rut|2026-W48"}
    body = block_actions("advice_send", "", trigger_id="1.2.x", view=modal)
    event = translate.action(request_of(body), NOBODY)
    assert event == ActionInvoked(
        event_id="slack:T0001:1.2.x",
        where=ConversationRef("slack", "T0001", "U0001"),
        user_id="U0001",
        action_id="advice_send",
        value="",
        private="routine:rut|2026-W48",
        platform_retries=False,
    )
    assert translate.home_refresh(request_of(body)) is None  # a modal, not the Home tab


def test_a_select_gives_its_chosen_option() -> None:
    body = block_actions("advice", "path", action_type="static_select")
    event = translate.action(request_of(body))
    assert (event.action_id, event.value, event.private) == ("advice", "path", "")


def test_a_button_on_the_home_tab_redraws_it_afterwards() -> None:
    body = block_actions(
        "advice", "training", trigger_id="1.3.x", view={"id": "V2", "type": "home"}
    )
    refresh = translate.home_refresh(request_of(body), ADA)
    assert refresh == HomeOpened(
        event_id="slack:T0001:home:slack:T0001:1.3.x",
        where=ConversationRef("slack", "T0001", "U0001"),
        user_id="U0001",
        display_name="Ada",
        timezone="Europe/Berlin",
        grants_admin=True,
        platform_retries=False,
    )


def test_a_submitted_modal_is_a_form_by_neutral_input_ids() -> None:
    state = {**CHECKIN, "comment": {"comment": {"type": "plain_text_input", "value": "a <b>"}}}
    body = view_submission("checkin", state, private_metadata="2026-W48", trigger_id="1.4.x")
    event = translate.form(request_of(body))
    assert isinstance(event, FormSubmitted)
    assert event.event_id == "slack:T0001:view:1.4.x" and event.form_id == "checkin"
    assert event.private == "2026-W48" and not event.platform_retries
    # Typed into an input, not a message: Slack does not escape it, and neither does this.
    assert dict(event.values) == {
        "assess": "4",
        "routine": "1",
        "training": "3",
        "strengths": "5",
        "path": "2",
        "comment": "a <b>",
    }


def test_the_home_tab_opened_is_an_event_slack_retries() -> None:
    body = event_callback(app_home_opened("U0007"), event_id="Ev0001")
    event = translate.home_opened(request_of(body), NOBODY)
    assert event == HomeOpened(
        event_id="slack:Ev0001",
        where=ConversationRef("slack", "T0001", "U0007"),
        user_id="U0007",
        platform_retries=True,  # claimed by the engine, so a retry has no second effect
    )
    messages_tab = event_callback(app_home_opened("U0007", tab="messages"))
    assert translate.home_opened(request_of(messages_tab)) is None


@pytest.mark.parametrize(
    "body",
    [
        event_callback(app_uninstalled()),
        url_verification("abc"),
        view_submission("checkin", {}).replace(b"view_submission", b"view_closed"),
        event_callback({"type": "team_access_granted", "team_ids": ["T1"]}),
    ],
    ids=["uninstall", "handshake", "closed", "unsubscribed"],
)
def test_what_carries_no_event_translates_to_none(body: bytes) -> None:
    assert translate.translate_body(body, JSON if body.startswith(b"{") else FORM) is None


def test_the_dict_and_the_body_translate_alike() -> None:
    body = block_actions("advice", "routine", trigger_id="1.5.x", response_url=RESPONSE_URL)
    payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    assert translate.translate(payload) == translate.translate_body(body, FORM)
    assert isinstance(translate.translate(payload), ActionInvoked)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "block_actions", "user": {"id": 7}}, "user.id"),
        ({"command": "/rut", "text": "help", "team_id": "", "user_id": "U1"}, "team_id"),
        ({"type": "event_callback", "event_id": "Ev1", "event": []}, "event"),
        ([1, 2, 3], "not an object"),
        ("payload", "not an object"),
    ],
)
def test_bad_payloads_are_rejected_naming_the_field(data: object, field: str) -> None:
    result = translate.translate(data)
    assert isinstance(result, Rejected) and field in result.reason


# --- whatever arrives: an event, a rejection or nothing, never an exception ---------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["U0001", "T0001", "block_actions", "event_callback", "/rut", "home"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "user",
                    "id",
                    "team",
                    "team_id",
                    "user_id",
                    "command",
                    "text",
                    "event",
                    "event_id",
                    "actions",
                    "action_id",
                    "view",
                    "trigger_id",
                    "tab",
                    "state",
                    "values",
                ]
            )
            | st.text(max_size=6),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def well_formed(event: Event) -> None:
    assert SLACK_ID.match(event.user_id), event.user_id
    assert SLACK_ID.match(event.where.tenant_id), event.where.tenant_id
    assert event.event_id.startswith("slack:") and len(event.event_id) <= 200


@settings(max_examples=300, deadline=None, derandomize=True)
@given(json_values)
def test_any_json_value_translates_cleanly(data: object) -> None:
    result = translate.translate(data)
    assert result is None or isinstance(result, Rejected | Event)
    if isinstance(result, Event):
        well_formed(result)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_mutated_slack_bodies_translate_cleanly(data: st.DataObject) -> None:
    """Every kind of body Slack sends, mutated as tests/test_slack_fuzz.py mutates it (types
    swapped, fields dropped, keys repeated, values nested deep, strings huge or odd)."""
    bodies = base_bodies(RESPONSE_URL)
    body = mutate(data, bodies[data.draw(st.sampled_from(sorted(bodies)), label="kind")]())
    raw, content_type = body.encode()
    result = translate.translate_body(raw, content_type, sender=ADA)
    assert result is None or isinstance(result, Rejected | Event)
    if isinstance(result, Event):
        well_formed(result)
    if isinstance(result, CommandReceived):
        assert not re.search(r"<[@#!][^<>]*>", result.text), "Slack markup reached the engine"


def test_an_unmutated_body_of_each_kind_translates_to_its_event() -> None:
    bodies = base_bodies(RESPONSE_URL)
    kinds = {}
    for name, build in sorted(bodies.items()):
        raw, content_type = build().encode()
        result = translate.translate_body(raw, content_type)
        assert not isinstance(result, Rejected), (name, result)
        kinds[name] = type(result).__name__
    assert kinds["admin"] == "CommandReceived" and kinds["submit"] == "FormSubmitted"
    assert kinds["button"] == kinds["home_button"] == "ActionInvoked"
    assert kinds["home"] == "HomeOpened" and kinds["uninstalled"] == "NoneType"


def test_the_fuzzed_admin_command_reaches_the_engine_with_a_plain_channel() -> None:
    raw, content_type = base_bodies(RESPONSE_URL)["admin"]().encode()
    event = translate.translate_body(raw, content_type)
    assert isinstance(event, CommandReceived)
    assert event.text == "admin team add Payload --from-channel C0001"
