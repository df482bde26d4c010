"""Inbound Bot Framework activities built as Microsoft Teams sends them (platforms.md §7):
personal and channel messages (with the bot's @mention and the clientInfo entity), Action.Submit
clicks, `task/fetch` and `task/submit` invokes, `conversationUpdate` and `installationUpdate`.

Each builder returns a dict; `serviceUrl` is the fake connector's, so replies go there.
"""

from __future__ import annotations

import itertools
from typing import Any

JSONDict = dict[str, Any]

TENANT = "5a1e0f3c-7d2b-4c1e-9f00-00000000beef"
APP_ID = "00000000-0000-0000-0000-00000000a11d"
BOT_ID = f"28:{APP_ID}"
BOT_NAME = "Rut Radar"
TEAM_ID = "19:team-general@thread.tacv2"
CHANNEL_CONVERSATION = "19:team-general@thread.tacv2;messageid=1700000000000"

_ids = itertools.count(1)


def personal_conversation_id(aad: str) -> str:
    return f"a:1personal-{aad}"


def _base(
    kind: str,
    service_url: str,
    aad: str,
    *,
    personal: bool = True,
    name: str | None = None,
    tenant: str = TENANT,
    conversation_id: str | None = None,
) -> JSONDict:
    conversation: JSONDict = {
        "id": conversation_id
        or (personal_conversation_id(aad) if personal else CHANNEL_CONVERSATION),
        "conversationType": "personal" if personal else "channel",
        "tenantId": tenant,
    }
    if not personal:
        conversation["isGroup"] = True
        conversation["name"] = "General"
    channel_data: JSONDict = {"tenant": {"id": tenant}}
    if not personal:
        channel_data["team"] = {"id": TEAM_ID, "name": "Platform"}
        channel_data["channel"] = {"id": TEAM_ID, "name": "General"}
    return {
        "type": kind,
        "id": f"f:{next(_ids):08d}",
        "timestamp": "2026-11-25T09:00:00.000Z",
        "localTimestamp": "2026-11-25T10:00:00.000+01:00",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": f"29:{aad}", "name": name or aad.title(), "aadObjectId": aad},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": conversation,
        "channelData": channel_data,
        "locale": "en-US",
    }


def client_info(timezone: str = "Europe/Berlin", locale: str = "en-US") -> JSONDict:
    return {
        "type": "clientInfo",
        "locale": locale,
        "country": "DE",
        "platform": "Web",
        "timezone": timezone,
    }


def message(
    service_url: str,
    aad: str,
    text: str,
    *,
    personal: bool = True,
    timezone: str = "Europe/Berlin",
    **kw: Any,
) -> JSONDict:
    activity = _base("message", service_url, aad, personal=personal, **kw)
    entities = [client_info(timezone)]
    if not personal:
        mention = f"<at>{BOT_NAME}</at>"
        text = f"{mention} {text}"
        entities.append(
            {"type": "mention", "text": mention, "mentioned": {"id": BOT_ID, "name": BOT_NAME}}
        )
    activity.update(text=text, textFormat="plain", entities=entities)
    return activity


def submit_click(service_url: str, aad: str, data: JSONDict, **kw: Any) -> JSONDict:
    """An Action.Submit on a chat card: a message with no text and the button's data."""
    activity = _base("message", service_url, aad, **kw)
    activity.update(text="", value=data, entities=[client_info()])
    return activity


def task_fetch(service_url: str, aad: str, data: JSONDict, **kw: Any) -> JSONDict:
    activity = _base("invoke", service_url, aad, **kw)
    activity.update(
        name="task/fetch",
        value={"type": "task/fetch", "data": data, "context": {"theme": "default"}},
    )
    return activity


def task_submit(service_url: str, aad: str, data: JSONDict, **kw: Any) -> JSONDict:
    activity = _base("invoke", service_url, aad, **kw)
    activity.update(
        name="task/submit",
        value={"type": "task/submit", "data": data, "context": {"theme": "default"}},
    )
    return activity


def installation_update(service_url: str, aad: str, action: str = "add", **kw: Any) -> JSONDict:
    activity = _base("installationUpdate", service_url, aad, **kw)
    activity["action"] = action
    return activity


def conversation_update(service_url: str, aad: str, **kw: Any) -> JSONDict:
    activity = _base("conversationUpdate", service_url, aad, **kw)
    activity["membersAdded"] = [{"id": BOT_ID}]
    return activity
