"""What the playground page posts → neutral events (adapters/playground/translate.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.playground import translate
from adapters.playground.translate import EventIn, Rejected, event_of
from bot.core.events import ActionInvoked, CommandReceived, ConversationRef, FormSubmitted


def posted(**fields: object) -> EventIn:
    parsed = translate.parse(json.dumps({"workspace": "PG1", "user_id": "u0", **fields}).encode())
    assert isinstance(parsed, EventIn), parsed
    return parsed


def test_each_kind_the_page_posts_is_its_event() -> None:
    command = event_of(posted(kind="command", text="advice routine", event_id="e1"), "Ada")
    assert command == CommandReceived(
        event_id="pg-e1",
        where=ConversationRef("playground", "PG1", "u0"),
        user_id="u0",
        display_name="Ada",
        text="advice routine",
        platform_retries=False,  # the page never sends an event twice: nothing is claimed
    )
    action = event_of(posted(kind="action", action_id="advice", value="path", private="p"))
    assert isinstance(action, ActionInvoked)
    assert (action.action_id, action.value, action.private) == ("advice", "path", "p")
    form = event_of(posted(kind="form", form_id="checkin", values={"assess": "3"}))
    assert isinstance(form, FormSubmitted) and dict(form.values) == {"assess": "3"}
    assert form.event_id.startswith("pg-") and len(form.event_id) > 3  # minted when missing


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{}", "workspace"),
        (b'{"workspace": "PG1", "user_id": "u0", "kind": "dance"}', "kind"),
        (b'{"workspace": "", "user_id": "u0", "kind": "command"}', "workspace"),
        (b"not json", "body"),
    ],
)
def test_anything_else_is_rejected_naming_the_field(body: bytes, field: str) -> None:
    result = translate.parse(body)
    assert isinstance(result, Rejected) and field in result.reason


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_body_is_an_event_or_a_rejection_never_an_exception(body: bytes) -> None:
    parsed = translate.parse(body)
    if isinstance(parsed, EventIn):
        event_of(parsed)
    else:
        assert isinstance(parsed, Rejected)
