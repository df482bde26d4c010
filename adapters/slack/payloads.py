"""Checking Slack request bodies before Bolt sees them, and turning them into neutral events.

Bolt answers a correctly signed but malformed body with a 500; we answer 400 and never reach
a listener, so nothing is written.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from bot.events import ConversationRef

PLATFORM = "slack"
JSON = dict[str, Any]


class MalformedPayload(ValueError):
    """The body is not a Slack request we understand (400)."""


def _obj(value: object, what: str) -> JSON:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{what} must be an object")
    return value


def _text(container: JSON, key: str, what: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{what} lacks {key}")
    return value


def parse_body(body: bytes, content_type: str) -> JSON:
    """The request as a dict: JSON envelopes, slash-command forms, or `payload=` forms."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload("body is not UTF-8") from None
    if content_type.startswith("application/json"):
        try:
            data = _obj(json.loads(text), "body")
        except json.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        kind = data.get("type")
        if kind == "url_verification":
            _text(data, "challenge", "url_verification")
        elif kind == "event_callback":
            _obj(data.get("event"), "event")
            _text(data, "event_id", "event_callback")
            _text(data, "team_id", "event_callback")
        elif kind != "app_rate_limited":
            raise MalformedPayload(f"unknown envelope type {kind!r}")
        return data
    form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if "ssl_check" in form:
        return form
    if "payload" in form:
        try:
            payload = _obj(json.loads(form["payload"]), "payload")
        except json.JSONDecodeError:
            raise MalformedPayload("payload is not JSON") from None
        kind = payload.get("type")
        user = _obj(payload.get("user"), "payload.user")
        _text(user, "id", "payload.user")
        if not team_of(payload):
            raise MalformedPayload("payload has no team")
        if kind == "block_actions":
            actions = payload.get("actions")
            if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
                raise MalformedPayload("block_actions without actions")
            _text(actions[0], "action_id", "action")
        elif kind in ("view_submission", "view_closed"):
            view = _obj(payload.get("view"), "view")
            _text(view, "callback_id", "view")
            if kind == "view_submission":
                _obj(_obj(view.get("state"), "view.state").get("values"), "view.state.values")
        else:
            raise MalformedPayload(f"unsupported interaction {kind!r}")
        return {"payload": payload}
    if "command" in form:
        for key in ("user_id", "team_id", "trigger_id"):
            _text(form, key, "slash command")
        if "text" not in form:
            raise MalformedPayload("slash command lacks text")
        return form
    raise MalformedPayload("not a Slack request")


def team_of(payload: JSON) -> str:
    """Bolt's order: the installed team of a view, the team, the user's team."""
    view = payload.get("view") or {}
    team = payload.get("team") or {}
    user = payload.get("user") or {}
    for candidate in (
        view.get("app_installed_team_id") if isinstance(view, dict) else None,
        team.get("id") if isinstance(team, dict) else None,
        payload.get("team_id"),
        user.get("team_id") if isinstance(user, dict) else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return ""


def where(team_id: str, user_id: str) -> ConversationRef:
    """A person's DM: chat.postMessage to the user id opens it."""
    return ConversationRef(PLATFORM, team_id, user_id)
