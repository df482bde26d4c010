"""Inbound Bot Framework activities, read and checked for shape (what they mean to the engine
is `translate.py`'s).

Pure functions over the body, no I/O. The shape check runs before authentication (the
token's `serviceurl` claim is compared with the body's `serviceUrl`, so the body has to be
read first): a body that is not an activity gets 400 and nothing else happens to it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PLATFORM = "teams"
CHANNEL = "msteams"
MAX_DEPTH = 32


class MalformedActivity(ValueError):
    """The body is not a Bot Framework activity we can read (HTTP 400)."""


class _Account(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=512)
    name: str | None = Field(default=None, max_length=512)
    aadObjectId: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=64)


class _Conversation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=1024)
    conversationType: str | None = Field(default=None, max_length=64)
    tenantId: str | None = Field(default=None, max_length=100)
    isGroup: bool | None = None


class ActivityShape(BaseModel):
    """The fields the adapter relies on; anything else passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    id: str | None = Field(default=None, max_length=1024)
    replyToId: str | None = Field(default=None, max_length=1024)
    serviceUrl: str = Field(max_length=2048, pattern=r"^https?://[^\s/?#]+")
    channelId: str = Field(min_length=1, max_length=64)
    from_: _Account = Field(alias="from")
    recipient: _Account
    conversation: _Conversation
    text: str | None = Field(default=None, max_length=28_000)
    name: str | None = Field(default=None, max_length=256)
    action: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=64)
    value: Any = None
    channelData: dict[str, Any] | None = None
    entities: list[dict[str, Any]] | None = None
    membersAdded: list[_Account] | None = None
    membersRemoved: list[_Account] | None = None


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (a hostile body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is refused: the token's `serviceurl` check, botbuilder and we must
    all read the same value, and `json.loads` would silently keep the last one."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _RepeatedKey(key)
        data[key] = value
    return data


def parse_activity(body: bytes) -> tuple[dict[str, Any], ActivityShape]:
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _RepeatedKey:
        raise MalformedActivity("a key given twice") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedActivity("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedActivity("not a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise MalformedActivity("nested too deeply")
    try:
        shape = ActivityShape.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})
        raise MalformedActivity("bad or missing " + ", ".join(fields[:5])) from None
    return data, shape
