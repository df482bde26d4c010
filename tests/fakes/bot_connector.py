"""A fake Bot Connector (the Teams side of the Bot Framework REST API): a real aiohttp server on
127.0.0.1, port 0. Inbound activities carry :attr:`FakeBotConnector.service_url` as their
`serviceUrl`, so everything the bot sends back arrives here.

Recorded: :attr:`sent` (new messages and replies), :attr:`updated` (edited messages),
:attr:`created` (conversations opened), :attr:`member_pages` (paged member lists asked for).
Tests wait with :meth:`wait_for` (an ``asyncio.Event`` set on every arrival; never a sleep).
Failures are injected per operation with :meth:`fail_next` (429 with Retry-After, 403, 404,
5xx...) and consumed in order. With an identity fake, every call must carry one of the access
tokens it issued (401 otherwise), as the real connector insists on a valid token.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.bot_openid import FakeIdentity
from tests.fakes.loopback import Loopback
from tests.fakes.teams_activities import TENANT, personal_conversation_id

JSONDict = dict[str, Any]

_CONVERSATIONS = re.compile(r"^/v3/conversations$")
_ACTIVITIES = re.compile(r"^/v3/conversations/(?P<cid>[^/]+)/activities(?:/(?P<aid>[^/]+))?$")
_MEMBERS = re.compile(r"^/v3/conversations/(?P<cid>[^/]+)/pagedmembers$")


@dataclass(frozen=True)
class Fault:
    status: int
    retry_after: int | None = None
    code: str | None = None


@dataclass
class Posted:
    """One message the bot sent or edited."""

    conversation_id: str
    activity_id: str
    activity: JSONDict
    reply_to: str | None = None

    @property
    def cards(self) -> list[JSONDict]:
        return [
            a.get("content") or {}
            for a in self.activity.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    @property
    def text(self) -> str:
        """Everything a person would read: the text, the summary and every card string."""
        parts = [str(self.activity.get("text") or ""), str(self.activity.get("summary") or "")]
        parts += [_strings(card) for card in self.cards]
        return "\n".join(p for p in parts if p)


# Card properties a person reads; ids, styles, sizes and button data are left out.
_READ = frozenset({"text", "title", "label", "placeholder", "value", "altText", "fallbackText"})


def _strings(node: Any, key: str = "text") -> str:
    if isinstance(node, dict):
        return "\n".join(_strings(v, k) for k, v in node.items() if k not in ("data", "choices"))
    if isinstance(node, list):
        return "\n".join(_strings(v, key) for v in node)
    return node if isinstance(node, str) and key in _READ else ""


def personal_conversation(member_id: str) -> str:
    """The 1:1 conversation with a member, as Teams gives it: the same one every time, and
    the one their own messages arrive in (by "29:" id or AAD object id alike)."""
    return personal_conversation_id(member_id.removeprefix("29:"))


@dataclass
class FakeBotConnector:
    """Use as ``async with FakeBotConnector(identity) as connector:``."""

    identity: FakeIdentity | None = None
    # Members for whom create_conversation works (the app is installed for them), by
    # AAD object id or "29:" id; None: everyone.
    installed: set[str] | None = None
    # Paged members by team or conversation id: dicts in the connector's shape.
    members: dict[str, list[JSONDict]] = field(default_factory=dict)
    page_size_cap: int = 2

    sent: list[Posted] = field(default_factory=list)
    updated: list[Posted] = field(default_factory=list)
    created: list[JSONDict] = field(default_factory=list)
    member_pages: list[str] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # (operation, status)
    unauthorized: int = 0

    def __post_init__(self) -> None:
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._server = Loopback()

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._route)
        await self._server.start(app)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.stop()

    @property
    def service_url(self) -> str:
        """As Teams gives it: with a trailing slash (e.g. https://smba.trafficmanager.net/amer/)."""
        return f"http://127.0.0.1:{self._server.port}/teams/"

    # --- test controls -------------------------------------------------------------------

    def fail_next(
        self,
        operation: str,
        status: int,
        *,
        retry_after: int | None = None,
        code: str | None = None,
    ) -> None:
        """`operation`: "send", "update", "create" or "members"."""
        self._faults[operation].append(Fault(status, retry_after, code))

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Until `predicate()` holds, woken by each arrival (cleared before each look)."""
        async with asyncio.timeout(within):
            while True:
                self._arrived.clear()
                if predicate():
                    return
                await self._arrived.wait()

    def sent_to(self, conversation_id: str) -> list[Posted]:
        return [p for p in self.sent if p.conversation_id == conversation_id]

    # --- the API -------------------------------------------------------------------------

    def _signal(self) -> None:
        self._arrived.set()

    def _fault(self, operation: str) -> web.Response | None:
        queue = self._faults.get(operation)
        if not queue:
            return None
        fault = queue.popleft()
        self.refused.append((operation, fault.status))
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        body = {"error": {"code": fault.code or "ServiceError", "message": "injected by the test"}}
        self._signal()
        return web.json_response(body, status=fault.status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        if self.identity is None:
            return True
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.identity.issued

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = re.sub(r"/+", "/", "/" + request.match_info["tail"])
        path = path.removeprefix("/teams")
        if not self._authorized(request):
            self.unauthorized += 1
            self._signal()
            return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        if request.method == "POST" and _CONVERSATIONS.match(path):
            return await self._create(request)
        match = _ACTIVITIES.match(path)
        if match and request.method == "POST":
            return await self._post(request, match["cid"], match["aid"])
        if match and request.method == "PUT" and match["aid"]:
            return await self._update(request, match["cid"], match["aid"])
        match = _MEMBERS.match(path)
        if match and request.method == "GET":
            return self._paged_members(request, match["cid"])
        return web.json_response({"error": {"code": "NotFound"}}, status=404)

    async def _create(self, request: web.Request) -> web.Response:
        fault = self._fault("create")
        if fault is not None:
            return fault
        body: JSONDict = await request.json()
        members = body.get("members") or [{}]
        member = str(members[0].get("id", ""))
        if self.installed is not None and member.removeprefix("29:") not in self.installed:
            self.refused.append(("create", 403))
            self._signal()
            return web.json_response(
                {
                    "error": {
                        "code": "Forbidden",
                        "message": "Bot is not installed in user's personal scope",
                    }
                },
                status=403,
            )
        self.created.append(body)
        self._signal()
        return web.json_response({"id": personal_conversation(member)}, status=201)

    async def _post(self, request: web.Request, cid: str, reply_to: str | None) -> web.Response:
        fault = self._fault("send")
        if fault is not None:
            return fault
        try:
            activity: JSONDict = await request.json()
        except ConnectionResetError:  # the bot stopped mid-reply (a benchmark's server stopping)
            return web.Response(status=499)
        activity_id = f"1{next(self._ids):012d}"
        self.sent.append(Posted(cid, activity_id, activity, reply_to))
        self._signal()
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request, cid: str, aid: str) -> web.Response:
        fault = self._fault("update")
        if fault is not None:
            return fault
        activity: JSONDict = await request.json()
        self.updated.append(Posted(cid, aid, activity))
        self._signal()
        return web.json_response({"id": aid}, status=200)

    def _paged_members(self, request: web.Request, cid: str) -> web.Response:
        fault = self._fault("members")
        if fault is not None:
            return fault
        self.member_pages.append(cid)
        everyone = self.members.get(cid)
        if everyone is None:
            self._signal()
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        start = int(request.query.get("continuationToken") or 0)
        size = min(int(request.query.get("pageSize") or 100), self.page_size_cap)
        page = everyone[start : start + size]
        more = start + size < len(everyone)
        self._signal()
        return web.json_response(
            {"members": page, "continuationToken": str(start + size) if more else None}
        )


def member(aad: str, name: str, *, tenant: str = TENANT) -> JSONDict:
    """A paged member in the connector's shape (TeamsChannelAccount)."""
    return {
        "id": f"29:{aad}",
        "name": name,
        "aadObjectId": aad,
        "email": f"{aad}@example.com",
        "userPrincipalName": f"{aad}@example.com",
        "tenantId": tenant,
        "userRole": "user",
    }
