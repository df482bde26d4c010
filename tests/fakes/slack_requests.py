"""Inbound Slack requests built and signed exactly as Slack sends them.

Each builder returns the raw body (``bytes``); :func:`signed_headers` adds the Content-Type and
a real ``v0`` HMAC signature (platforms.md §1), optionally with the Events API retry headers.
Field sets follow platforms.md §3 (slash command form, ``payload=<json>`` interactions, JSON
event envelopes).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

JSONDict = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VERIFICATION_TOKEN = "verification-token"  # the deprecated token Slack still sends in bodies
DEFAULT_TS = 1_700_000_000

# Selection-like elements carry ``selected_option`` instead of ``value``.
_SELECT_TYPES = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})

_seq = itertools.count(1)


def _next() -> int:
    return next(_seq)


def _trigger_id() -> str:
    return f"{DEFAULT_TS}.{_next()}.0123456789abcdef"


def _response_url(team_id: str) -> str:
    return f"https://hooks.slack.com/actions/{team_id}/{_next()}/fakefakefake"


def _timestamp(now: int | float | datetime) -> int:
    return int(now.timestamp()) if isinstance(now, datetime) else int(now)


# -- signing ---------------------------------------------------------------------------------


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body``."""
    basestring = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


def signed_headers(
    body: bytes,
    secret: str,
    now: int | float | datetime,
    content_type: str | None = None,
    *,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, str]:
    """Headers for posting ``body`` to the bot: Content-Type plus a valid signature.

    ``now`` is the request timestamp (unix seconds or an aware datetime, e.g. a test clock's
    ``now()``). ``content_type`` defaults to JSON for bodies starting with ``{`` and to the
    form encoding otherwise. ``retry_num``/``retry_reason`` add Slack's Events API retry headers.
    """
    if content_type is None:
        content_type = JSON if body.lstrip().startswith(b"{") else FORM
    headers = {"Content-Type": content_type, **sign(body, secret, _timestamp(now))}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    elif retry_reason is not None:
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


# -- slash commands --------------------------------------------------------------------------


def slash_command(
    text: str,
    *,
    user_id: str = "U0001",
    user_name: str = "alice",
    team_id: str = "T0001",
    team_domain: str = "acme",
    enterprise_id: str | None = None,
    enterprise_name: str | None = None,
    channel_id: str = "C0001",
    channel_name: str = "general",
    command: str = "/rut",
    trigger_id: str | None = None,
    response_url: str | None = None,
    api_app_id: str = "A0001",
) -> bytes:
    """A slash command invocation, form-encoded with every field Slack sends."""
    fields: list[tuple[str, str]] = [
        ("token", VERIFICATION_TOKEN),
        ("team_id", team_id),
        ("team_domain", team_domain),
    ]
    if enterprise_id is not None:
        fields += [("enterprise_id", enterprise_id), ("enterprise_name", enterprise_name or "")]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url or _response_url(team_id).replace("/actions/", "/commands/")),
        ("trigger_id", trigger_id or _trigger_id()),
    ]
    return urlencode(fields).encode()


def ssl_check() -> bytes:
    """Slack's periodic certificate check (form ``ssl_check=1``)."""
    return urlencode([("ssl_check", "1"), ("token", VERIFICATION_TOKEN)]).encode()


# -- interactivity ---------------------------------------------------------------------------


def _interaction(payload: JSONDict) -> bytes:
    return urlencode([("payload", json.dumps(payload, separators=(",", ":")))]).encode()


def _team(team_id: str, enterprise_id: str | None) -> JSONDict:
    return {"id": team_id, "domain": "acme", "enterprise_id": enterprise_id}


def _user(user_id: str, user_name: str, team_id: str) -> JSONDict:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _enterprise(enterprise_id: str | None) -> JSONDict | None:
    return {"id": enterprise_id, "name": "Acme Corp"} if enterprise_id else None


def block_actions(
    action_id: str,
    value: str = "",
    *,
    user_id: str = "U0001",
    user_name: str = "alice",
    team_id: str = "T0001",
    enterprise_id: str | None = None,
    trigger_id: str | None = None,
    response_url: str | None = None,
    block_id: str = "actions",
    action_type: str = "button",
    channel_id: str = "D0001",
    message_ts: str = "1700000000.000100",
    message: JSONDict | None = None,
    view: JSONDict | None = None,
    api_app_id: str = "A0001",
) -> bytes:
    """A ``block_actions`` interaction (form field ``payload=<json>``).

    Without ``view`` the action comes from a message in ``channel_id`` at ``message_ts``
    (``message`` overrides the echoed message). With ``view`` (a modal or Home tab, which
    should carry an ``id``) the container is that view and there is no channel, message or
    ``response_url``, as Slack sends it.
    """
    action: JSONDict = {
        "type": action_type,
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": f"{DEFAULT_TS}.{_next():06d}",
    }
    if action_type in _SELECT_TYPES:
        action["selected_option"] = {
            "text": {"type": "plain_text", "text": value, "emoji": True},
            "value": value,
        }
    else:
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": value or action_id, "emoji": True}

    payload: JSONDict = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "team": _team(team_id, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
        "actions": [action],
    }
    if view is not None:
        view_id = view.get("id", "V0001")
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {
            "team_id": team_id,
            "app_installed_team_id": team_id,
            "state": {"values": {}},
            **view,
            "id": view_id,
        }
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {
            "id": channel_id,
            "name": "directmessage" if channel_id.startswith("D") else "general",
        }
        payload["message"] = message or {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "ts": message_ts,
            "text": "",
            "blocks": [],
        }
        payload["response_url"] = response_url or _response_url(team_id)
        payload["state"] = {"values": {}}
    return _interaction(payload)


def plain_text_value(value: str) -> JSONDict:
    """State entry of a ``plain_text_input``."""
    return {"type": "plain_text_input", "value": value}


def selected_value(value: str, *, element_type: str = "static_select", text: str = "") -> JSONDict:
    """State entry of a ``static_select``/``radio_buttons`` element."""
    return {
        "type": element_type,
        "selected_option": {
            "text": {"type": "plain_text", "text": text or value, "emoji": True},
            "value": value,
        },
    }


def view_submission(
    callback_id: str,
    state_values: Mapping[str, Mapping[str, str | Mapping[str, Any]]],
    *,
    private_metadata: str = "",
    user_id: str = "U0001",
    user_name: str = "alice",
    team_id: str = "T0001",
    enterprise_id: str | None = None,
    view_id: str = "V0001",
    hash: str = "h000001",
    trigger_id: str | None = None,
    blocks: list[JSONDict] | None = None,
    api_app_id: str = "A0001",
    response_urls: list[JSONDict] | None = None,
) -> bytes:
    """A modal ``view_submission`` (form field ``payload=<json>``).

    ``state_values`` is ``{block_id: {action_id: entry}}``; a plain string entry is taken as a
    ``plain_text_input`` value (see :func:`plain_text_value`, :func:`selected_value`).
    """
    values: JSONDict = {
        block: {
            action: plain_text_value(entry) if isinstance(entry, str) else dict(entry)
            for action, entry in actions.items()
        }
        for block, actions in state_values.items()
    }
    view: JSONDict = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": values},
        "hash": hash,
        "title": {"type": "plain_text", "text": "Rut Radar", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "BBOT",
    }
    payload: JSONDict = {
        "type": "view_submission",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": view,
        "response_urls": response_urls or [],
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
    }
    return _interaction(payload)


# -- Events API ------------------------------------------------------------------------------


def event_callback(
    event: JSONDict,
    *,
    event_id: str | None = None,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    enterprise_id: str | None = None,
    event_time: int = DEFAULT_TS,
    bot_user_id: str = "UBOT",
    authorizations: list[JSONDict] | None = None,
) -> bytes:
    """A JSON ``event_callback`` envelope around ``event``, with ``authorizations``."""
    envelope: JSONDict = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "enterprise_id": enterprise_id,
        "context_team_id": team_id,
        "context_enterprise_id": enterprise_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{_next():08d}",
        "event_time": event_time,
        "authorizations": authorizations
        if authorizations is not None
        else [
            {
                "enterprise_id": enterprise_id,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope).encode()


def url_verification(challenge: str) -> bytes:
    """The Events API endpoint handshake."""
    return json.dumps(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    ).encode()


def _event_ts() -> str:
    return f"{DEFAULT_TS}.{_next():06d}"


def app_home_opened(user: str = "U0001", *, channel: str = "D0001", tab: str = "home") -> JSONDict:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": _event_ts(),
    }


def member_joined_channel(
    user: str,
    channel: str = "C0001",
    *,
    channel_type: str = "C",
    team: str = "T0001",
    inviter: str | None = None,
) -> JSONDict:
    event: JSONDict = {
        "type": "member_joined_channel",
        "user": user,
        "channel": channel,
        "channel_type": channel_type,
        "team": team,
        "event_ts": _event_ts(),
    }
    if inviter is not None:
        event["inviter"] = inviter
    return event


def app_uninstalled() -> JSONDict:
    return {"type": "app_uninstalled", "event_ts": _event_ts()}


def tokens_revoked(*, bot: list[str] | None = None, oauth: list[str] | None = None) -> JSONDict:
    return {
        "type": "tokens_revoked",
        "tokens": {"oauth": oauth or [], "bot": bot or []},
        "event_ts": _event_ts(),
    }
