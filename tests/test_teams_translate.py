"""Bot Framework activities → neutral events (adapters/teams/translate.py): pure, so tested
without a server. Each activity becomes the event the engine expects, the bot's @mention and
rich-text tags are taken out of what the person typed, and whatever else arrives becomes a
clean rejection (or no event), never an exception (hypothesis)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.teams import translate
from adapters.teams.activities import parse_activity
from adapters.teams.translate import Rejected, event_of, facts_of, without_mention
from bot.core.events import ActionInvoked, CommandReceived, Event, FormSubmitted
from tests.fakes import teams_activities as ta

URL = "https://smba.trafficmanager.net/emea/"


def body(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity).encode()


def event(activity: dict[str, Any], *, anonymous: bool = False) -> Event | None:
    _, shape = parse_activity(body(activity))
    return event_of(shape, facts_of(shape, anonymous=anonymous))


# --- each activity, its event --------------------------------------------------------------------


def test_a_personal_message_is_a_command_from_the_aad_user() -> None:
    found = event(ta.message(URL, "aad-ada", "pause until 2026-12-24", name="Ada"))
    assert isinstance(found, CommandReceived)
    assert found.text == "pause until 2026-12-24"
    assert found.user_id == "aad-ada" and found.display_name == "Ada"
    assert found.where.platform == "teams" and found.where.tenant_id == ta.TENANT
    assert found.where.channel_id == ta.personal_conversation_id("aad-ada")
    assert found.where.service_url == URL and found.where.bot_id == ta.BOT_ID
    assert found.personal and found.platform_retries  # Teams redelivers: claimed if it writes
    assert found.timezone == "Europe/Berlin" and found.locale == "en-US"  # from clientInfo
    assert found.event_id.startswith("teams:")


def test_the_event_id_is_the_same_for_a_redelivery_of_the_same_activity() -> None:
    activity = ta.message(URL, "aad-ada", "resume")
    first, again = event(activity), event(copy.deepcopy(activity))
    assert first is not None and again is not None and first.event_id == again.event_id
    other = event(ta.message(URL, "aad-ada", "resume"))
    assert other is not None and other.event_id != first.event_id


def test_a_channel_message_loses_the_bots_mention_and_keeps_the_command_as_typed() -> None:
    """The bot's own grammar is not rewritten: `--from-channel` alone means the channel the
    command was sent in, which the adapter knows from the turn, not from the text."""
    found = event(
        ta.message(URL, "aad-ada", "admin team add Platform --from-channel", personal=False)
    )
    assert isinstance(found, CommandReceived) and not found.personal
    assert found.text == "admin team add Platform --from-channel"
    assert found.where.channel_id == ta.CHANNEL_CONVERSATION


@pytest.mark.parametrize(
    ("text", "entities", "typed"),
    [
        (
            "<at>Rut Radar</at> help",
            [{"type": "mention", "text": "<at>Rut Radar</at>", "mentioned": {"id": ta.BOT_ID}}],
            "help",
        ),
        (  # no `text` on the entity: the mentioned name stands in
            "<at>Rut Radar</at> help",
            [{"type": "mention", "mentioned": {"id": ta.BOT_ID, "name": "Rut Radar"}}],
            "help",
        ),
        (  # an unreadable mention: the first <at>…</at> goes, as before
            "<at>Rut Radar</at> help",
            [{"type": "mention", "mentioned": "Rut Radar"}],
            "help",
        ),
        (  # someone else's mention stays, as their name
            "<at>Rut Radar</at> admin add <at>Ada</at>",
            [
                {"type": "mention", "text": "<at>Rut Radar</at>", "mentioned": {"id": ta.BOT_ID}},
                {"type": "mention", "text": "<at>Ada</at>", "mentioned": {"id": "29:ada"}},
            ],
            "admin add Ada",
        ),
        ("<p>help&nbsp;me</p>", [], "help me"),
    ],
)
def test_what_the_person_typed_is_read_without_teams_markup(
    text: str, entities: list[dict[str, Any]], typed: str
) -> None:
    activity = ta.message(URL, "aad-ada", "", personal=False)
    activity.update(text=text, entities=entities)
    found = event(activity)
    assert isinstance(found, CommandReceived) and found.text == typed
    _, shape = parse_activity(body(activity))
    assert "Rut Radar" not in without_mention(shape) or not entities


def test_a_card_button_in_the_chat_is_an_action() -> None:
    data = {"rr_action": "advice", "rr_value": "routine", "rr_private": "x"}
    found = event(ta.submit_click(URL, "aad-ada", data))
    assert isinstance(found, ActionInvoked)
    assert (found.action_id, found.value, found.private) == ("advice", "routine", "x")


def test_a_dialog_opens_with_its_button_and_is_submitted_as_a_form() -> None:
    opened = event(ta.task_fetch(URL, "aad-ada", {"rr_action": "checkin_open", "rr_value": "W"}))
    assert isinstance(opened, ActionInvoked) and opened.action_id == "checkin_open"
    data = {"rr_form": "checkin", "rr_private": "2026-W48", "assess": "4", "share#2": "true"}
    submitted = event(ta.task_submit(URL, "aad-ada", data))
    assert isinstance(submitted, FormSubmitted)
    assert submitted.form_id == "checkin" and submitted.private == "2026-W48"
    assert dict(submitted.values) == {"assess": "4", "share": "true"}
    button = event(ta.task_submit(URL, "aad-ada", {"rr_action": "advice_send", "rr_value": "v"}))
    assert isinstance(button, ActionInvoked) and button.value == "v"


@pytest.mark.parametrize("action", ["add", "add-upgrade"])
def test_a_personal_install_is_first_contact(action: str) -> None:
    found = event(ta.installation_update(URL, "aad-ada", action))
    assert isinstance(found, CommandReceived) and found.text == "help"


def test_the_bot_joining_a_1_to_1_chat_is_first_contact() -> None:
    found = event(ta.conversation_update(URL, "aad-ada"))
    assert isinstance(found, CommandReceived) and found.text == "help"


@pytest.mark.parametrize(
    "activity",
    [
        ta.installation_update(URL, "aad-ada", "remove"),  # a life event, not the engine's
        ta.installation_update(URL, "aad-ada", "add", personal=False),  # a team install
        ta.conversation_update(URL, "aad-ada", personal=False),
        {**ta.message(URL, "aad-ada", "hi"), "from": {"id": ta.BOT_ID, "role": "bot"}},
        {**ta.task_fetch(URL, "aad-ada", {}), "name": "composeExtension/query"},
        {**ta.message(URL, "aad-ada", "hi"), "channelData": {}, "conversation": {"id": "a:1"}},
        {**ta.message(URL, "aad-ada", "hi"), "from": {"id": "29:x"}},  # no AAD id
        {**ta.message(URL, "aad-ada", "hi"), "type": "typing"},
    ],
    ids=["uninstall", "team", "group", "own", "other-invoke", "no-tenant", "no-aad", "typing"],
)
def test_what_carries_no_event_translates_to_none(activity: dict[str, Any]) -> None:
    assert event(activity) is None


def test_the_emulator_without_credentials_speaks_for_the_local_tenant() -> None:
    activity = ta.message(URL, "aad-ada", "help")
    activity.update(channelData={}, conversation={"id": "a:1"}, **{"from": {"id": "user-1"}})
    found = event(activity, anonymous=True)
    assert found is not None and found.where.tenant_id == "local" and found.user_id == "user-1"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "message", "type": "invoke"}', "a key given twice"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested too deeply"),
        (body({"type": "message"}), "bad or missing"),
    ],
)
def test_bad_bodies_are_rejected_saying_why(raw: bytes, why: str) -> None:
    result = translate.translate_body(raw)
    assert isinstance(result, Rejected) and why in result.reason


# --- whatever arrives: an event, a rejection or nothing, never an exception ---------------------

KEYS = [
    "type", "id", "serviceUrl", "channelId", "from", "recipient", "conversation", "text",
    "name", "value", "data", "action", "channelData", "tenant", "entities", "membersAdded",
    "aadObjectId", "rr_action", "rr_form", "rr_value", "rr_private", "mentioned", "locale",
    "timezone", "conversationType", "isGroup", "role", "replyToId",
]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["message", "invoke", "task/submit", "mention", "clientInfo", ta.BOT_ID]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)
BASES = {
    "message": lambda: ta.message(URL, "aad-ada", "help"),
    "channel": lambda: ta.message(URL, "aad-ada", "help", personal=False),
    "click": lambda: ta.submit_click(URL, "aad-ada", {"rr_action": "advice", "rr_value": "x"}),
    "fetch": lambda: ta.task_fetch(URL, "aad-ada", {"rr_action": "checkin_open"}),
    "submit": lambda: ta.task_submit(URL, "aad-ada", {"rr_form": "checkin", "assess": "3"}),
    "install": lambda: ta.installation_update(URL, "aad-ada"),
    "joined": lambda: ta.conversation_update(URL, "aad-ada"),
}


def places(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON structure a mutation can reach."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            out.append((*prefix, key))
            out.extend(places(item, (*prefix, key)))
    return out


def well_formed(found: Event) -> None:
    assert found.user_id and found.where.tenant_id and found.event_id.startswith("teams:")
    assert len(found.event_id) <= 200


@settings(max_examples=300, deadline=None, derandomize=True)
@given(json_values, st.booleans())
def test_any_json_value_translates_cleanly(data: object, anonymous: bool) -> None:
    result = translate.translate_body(json.dumps(data).encode(), anonymous=anonymous)
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
def test_mutated_activities_translate_cleanly(data: st.DataObject) -> None:
    """Real activities with one change inside: a value replaced by any JSON, a field dropped,
    a value wrapped in a list or an object."""
    root = BASES[data.draw(st.sampled_from(sorted(BASES)), label="kind")]()
    path = data.draw(st.sampled_from(places(root)), label="where")
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    how = data.draw(st.sampled_from(["replace", "drop", "wrap"]), label="how")
    if how == "replace":
        parent[path[-1]] = data.draw(json_values, label="with")
    elif how == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = [parent[path[-1]]]
    result = translate.translate_body(body(root), anonymous=data.draw(st.booleans()))
    assert result is None or isinstance(result, Rejected | Event)
    if isinstance(result, Event):
        well_formed(result)
    if isinstance(result, CommandReceived):
        assert "<at>" not in result.text and "</" not in result.text
