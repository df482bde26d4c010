"""A fake Slack Web API: a real aiohttp server on 127.0.0.1, port 0.

Point ``AsyncWebClient(token=..., base_url=fake.base_url)`` at it. Every request is recorded
as a :class:`Call`; tests wait for arrivals with :meth:`FakeSlackAPI.wait_for` (an
``asyncio.Condition``, never a sleep). Errors are injected per method with
:meth:`FakeSlackAPI.fail_next` and consumed in order.

``AsyncWebClient`` sends some methods as JSON (``chat.postMessage``, ``chat.update``,
``views.*``), some as query parameters on POST (``conversations.open``, ``auth.test``), some
as GET (``users.info``, ``conversations.members``, ``conversations.history``, ``team.info``)
and ``oauth.v2.access`` as a form with HTTP basic auth. All of them are merged into
``Call.params``; fields Slack takes as JSON strings (``blocks``, ``metadata``, ``view``...) are
decoded so a test reads the same shape whichever transport the client chose.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import itertools
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

JSONDict = dict[str, Any]
Handler = Callable[["Call"], JSONDict]

# Parameters Slack accepts as JSON-encoded strings in form or query bodies.
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "user_auth_blocks"})
# Methods that authenticate with client credentials (or nothing), not a bearer token.
TOKENLESS_METHODS = frozenset({"api.test", "oauth.access", "oauth.v2.access", "oauth.v2.exchange"})
RESPONSE_URL_PREFIX = "response_url/"

DEFAULT_OAUTH_SCOPES = (
    "commands,chat:write,im:write,im:history,users:read,users:read.email,channels:read,groups:read"
)
# The scope each method needs (Slack's method docs); a method whose scope the installation
# lacks answers `missing_scope`, so a scope dropped by mistake fails a test.
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "conversations.history": "im:history",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "team.info": "team:read",
}


@dataclass(slots=True)
class Call:
    """One request as the fake received it, plus the answer it gave."""

    method: str
    params: JSONDict
    headers: CIMultiDictProxy[str]
    http_method: str = "POST"
    content_type: str = ""
    body: bytes = b""
    status: int = 200
    response: JSONDict = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        """The bearer token (``Authorization: Bearer ...``) or a ``token`` parameter."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        token = self.params.get("token")
        return token if isinstance(token, str) else None

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """``(user, password)`` from ``Authorization: Basic ...``, as ``oauth.v2.access`` sends."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(auth.removeprefix("Basic ")).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user, password


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure, consumed by the next call to its method."""

    status: int
    error: str | None
    retry_after: int | None


def dm_channel(user_id: str) -> str:
    """The DM channel id the fake assigns to a user: ``U0001`` -> ``D0001``."""
    return "D" + user_id[1:] if user_id[:1] in ("U", "W") else "D" + user_id


def make_user(
    user_id: str,
    *,
    name: str | None = None,
    real_name: str | None = None,
    display_name: str | None = None,
    team_id: str = "T0001",
    tz: str = "Europe/Berlin",
    tz_label: str | None = None,
    tz_offset: int = 3600,
    deleted: bool = False,
    is_admin: bool = False,
    is_owner: bool = False,
    is_bot: bool = False,
    locale: str | None = None,
    email: str | None = None,
) -> JSONDict:
    """A ``users.info`` user object in Slack's shape."""
    name = name or user_id.lower()
    real_name = real_name or name.title()
    user: JSONDict = {
        "id": user_id,
        "team_id": team_id,
        "name": name,
        "real_name": real_name,
        "tz": tz,
        "tz_label": tz_label or ("Central European Time" if tz == "Europe/Berlin" else tz),
        "tz_offset": tz_offset,
        "deleted": deleted,
        "is_admin": is_admin,
        "is_owner": is_owner,
        "is_bot": is_bot,
        "is_app_user": False,
        "profile": {
            "display_name": display_name if display_name is not None else name,
            "real_name": real_name,
            "team": team_id,
        },
    }
    if locale is not None:
        user["locale"] = locale
    if email is not None:
        user["profile"]["email"] = email
    return user


def _decode_json_fields(params: JSONDict) -> JSONDict:
    out = dict(params)
    for key in JSON_FIELDS & out.keys():
        value = out[key]
        if isinstance(value, str) and value:
            with contextlib.suppress(json.JSONDecodeError):
                out[key] = json.loads(value)
    return out


class FakeSlackAPI:
    """A fake Slack Web API on loopback. Use as ``async with FakeSlackAPI() as fake:``.

    Configurable state (plain attributes, change them freely in a test):
    ``users`` (id -> user object, see :func:`make_user`), ``channel_members`` (channel ->
    user ids), ``token_teams`` (token -> (team id, team name) for ``auth.test``/``team.info``),
    ``invalid_tokens`` (answer ``invalid_auth``), ``valid_codes`` (``None``: any code once),
    ``oauth_response`` (the ``oauth.v2.access`` answer), ``client_id``/``client_secret``/
    ``redirect_uri`` (checked by ``oauth.v2.access`` when not ``None``).

    Observed state: ``calls``, ``messages`` (channel -> posted messages, oldest first),
    ``home`` (user -> last published Home view), ``views`` (view id -> view), ``oauth_codes``.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        team_name: str = "Acme",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id

        self.calls: list[Call] = []
        self.messages: defaultdict[str, list[JSONDict]] = defaultdict(list)
        self.home: dict[str, JSONDict] = {}
        self.views: dict[str, JSONDict] = {}
        self.oauth_codes: list[str] = []

        self.users: dict[str, JSONDict] = {
            "U0001": make_user("U0001", name="alice", team_id=team_id)
        }
        self.channel_members: dict[str, list[str]] = {}
        self.token_teams: dict[str, tuple[str, str]] = {"xoxb-installed": ("T0002", "Beta")}
        self.invalid_tokens: set[str] = set()
        self.valid_codes: set[str] | None = None
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.redirect_uri: str | None = None
        self.oauth_response: JSONDict = {
            "ok": True,
            "app_id": "A0001",
            "authed_user": {
                "id": "UINSTALLER",
                "scope": "",
                "access_token": None,
                "token_type": None,
            },
            "scope": DEFAULT_OAUTH_SCOPES,
            "token_type": "bot",
            "access_token": "xoxb-installed",
            "bot_user_id": bot_user_id,
            "team": {"id": "T0002", "name": "Beta"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

        # What the installation was granted (every token alike): the manifest's scopes.
        self.granted_scopes: set[str] = set(DEFAULT_OAUTH_SCOPES.split(","))
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._overrides: dict[str, Handler] = {}
        self._used_codes: set[str] = set()
        self._ts = itertools.count(1)
        self._view_ids = itertools.count(1)
        self._hashes = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.members": self._conversations_members,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_open,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "team.info": self._team_info,
            "oauth.v2.access": self._oauth_v2_access,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_route("*", "/response_url/{key}", self._handle_response_url)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        assert host == "127.0.0.1", host
        self._port = int(port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeSlackAPI is not started; use `async with FakeSlackAPI()`")
        return self._port

    @property
    def url(self) -> str:
        """Server root, ``http://127.0.0.1:PORT/``."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """Web API base for ``AsyncWebClient(base_url=...)``: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.url}api/"

    def response_url(self, key: str = "default") -> str:
        """A ``response_url`` served by the fake; posts to it are recorded as method
        ``"response_url/<key>"``."""
        return f"{self.url}{RESPONSE_URL_PREFIX}{key}"

    # -- configuration -----------------------------------------------------------------------

    def add_user(self, user_id: str, **fields: Any) -> JSONDict:
        """Register a user for ``users.info``; keyword arguments as :func:`make_user`."""
        fields.setdefault("team_id", self.team_id)
        user = make_user(user_id, **fields)
        self.users[user_id] = user
        return user

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail; faults are consumed in order.

        - ``fail_next(m)`` / ``fail_next(m, status=429, retry_after=3)``: HTTP 429 with
          ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
        - ``fail_next(m, error="user_not_found")``: HTTP 200 ``{"ok": false, "error": ...}``.
        - ``fail_next(m, status=500)``: HTTP 500 ``{"ok": false, "error": "internal_error"}``.
        """
        if status is None:
            status = 200 if error is not None else 429
        if status == 429:
            error = error or "ratelimited"
            retry_after = 3 if retry_after is None else retry_after
        elif status >= 500:
            error = error or "internal_error"
        elif error is None:
            raise ValueError("fail_next with status 200 needs an error code")
        for _ in range(times):
            self._faults[method].append(Fault(status=status, error=error, retry_after=retry_after))

    def set_response(self, method: str, answer: JSONDict | Handler) -> None:
        """Replace the default answer for ``method`` (a fixed body, or a function of the call)."""
        self._overrides[method] = answer if callable(answer) else (lambda _call: dict(answer))

    def team_for(self, token: str | None) -> tuple[str, str]:
        """(team id, team name) a token belongs to; unknown tokens belong to the default team."""
        if token is not None and token in self.token_teams:
            return self.token_teams[token]
        return self.team_id, self.team_name

    # -- observation -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # The timeout is a safety net that fails the test, not a way to pace it.
    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait until ``method`` has been called ``count`` times; returns those calls.

        The timeout is a safety net only: it fails the test with an ``AssertionError``.
        """
        async with self._arrived:
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait_for(lambda: len(self.calls_to(method)) >= count)
            except TimeoutError:
                seen = [c.method for c in self.calls]
                raise AssertionError(
                    f"FakeSlackAPI: expected {count} call(s) to {method!r} within {timeout}s, "
                    f"got {len(self.calls_to(method))}; all calls: {seen}"
                ) from None
        return self.calls_to(method)[:count]

    # -- HTTP --------------------------------------------------------------------------------

    async def _read_params(self, request: web.Request, body: bytes) -> JSONDict:
        params: JSONDict = dict(request.query)
        if request.content_type == "application/json":
            if body:
                loaded = json.loads(body)
                if isinstance(loaded, dict):
                    params.update(loaded)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
        return _decode_json_fields(params)

    async def _record(self, call: Call) -> None:
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        call = Call(
            method=method,
            params=await self._read_params(request, body),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            http_method=request.method,
            content_type=request.content_type,
            body=body,
        )
        headers: dict[str, str] = {}
        fault = self._faults[method].popleft() if self._faults[method] else None
        if fault is not None:
            call.status = fault.status
            call.response = {"ok": False, "error": fault.error}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
        elif method not in TOKENLESS_METHODS and not call.token:
            call.response = {"ok": False, "error": "not_authed"}
        elif call.token in self.invalid_tokens:
            call.response = {"ok": False, "error": "invalid_auth"}
        elif method in METHOD_SCOPES and METHOD_SCOPES[method] not in self.granted_scopes:
            call.response = {
                "ok": False,
                "error": "missing_scope",
                "needed": METHOD_SCOPES[method],
                "provided": ",".join(sorted(self.granted_scopes)),
            }
        else:
            handler = self._overrides.get(method) or self._handlers.get(method, _ok)
            call.response = handler(call)
        await self._record(call)
        return web.json_response(call.response, status=call.status, headers=headers)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.read()
        call = Call(
            method=RESPONSE_URL_PREFIX + request.match_info["key"],
            params=await self._read_params(request, body),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            http_method=request.method,
            content_type=request.content_type,
            body=body,
            response={"ok": True},
        )
        await self._record(call)
        return web.json_response(call.response)

    # -- default answers ---------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts) * 100:06d}"

    def _next_hash(self) -> str:
        return f"h{next(self._hashes):06d}"

    def _auth_test(self, call: Call) -> JSONDict:
        team_id, team_name = self.team_for(call.token)
        return {
            "ok": True,
            "url": f"https://{team_name.lower()}.slack.com/",
            "team": team_name,
            "user": "rutradar",
            "team_id": team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _message(self, params: Mapping[str, Any], ts: str) -> JSONDict:
        message: JSONDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            "text": params.get("text", ""),
        }
        for key in ("blocks", "metadata", "attachments", "thread_ts"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _chat_post_message(self, call: Call) -> JSONDict:
        channel = str(call.params.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel[:1] not in ("C", "G", "D"):
            channel = dm_channel(channel)  # a user id: Slack posts into the DM with them
        ts = self._next_ts()
        message = self._message(call.params, ts)
        self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _chat_update(self, call: Call) -> JSONDict:
        channel = str(call.params.get("channel", ""))
        ts = str(call.params.get("ts", ""))
        if channel[:1] in ("U", "W"):
            return {"ok": False, "error": "channel_not_found"}
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                for key in ("text", "blocks", "metadata", "attachments"):
                    if key in call.params:
                        message[key] = call.params[key]
                return {
                    "ok": True,
                    "channel": channel,
                    "ts": ts,
                    "text": message.get("text", ""),
                    "message": dict(message),
                }
        return {"ok": False, "error": "message_not_found"}

    def _conversations_open(self, call: Call) -> JSONDict:
        users = str(call.params.get("users", ""))
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        first = users.split(",")[0]
        return {"ok": True, "channel": {"id": dm_channel(first)}}

    def _conversations_history(self, call: Call) -> JSONDict:
        channel = str(call.params.get("channel", ""))
        limit = int(call.params.get("limit") or 100)
        newest_first = list(reversed(self.messages.get(channel, [])))
        return {
            "ok": True,
            "messages": [dict(m) for m in newest_first[:limit]],
            "has_more": len(newest_first) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_members(self, call: Call) -> JSONDict:
        channel = str(call.params.get("channel", ""))
        members = self.channel_members.get(channel, [])
        limit = int(call.params.get("limit") or 100)
        start = int(call.params.get("cursor") or 0)
        page = members[start : start + limit]
        next_cursor = str(start + limit) if start + limit < len(members) else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _view_body(self, call: Call) -> JSONDict | None:
        view = call.params.get("view")
        return view if isinstance(view, dict) else None

    def _views_open(self, call: Call) -> JSONDict:
        view = self._view_body(call)
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        stored = {**view, "id": f"V{next(self._view_ids):04d}", "hash": self._next_hash()}
        self.views[stored["id"]] = stored
        return {"ok": True, "view": dict(stored)}

    def _views_update(self, call: Call) -> JSONDict:
        view = self._view_body(call)
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        view_id = call.params.get("view_id") or f"V{next(self._view_ids):04d}"
        stored = {**view, "id": view_id, "hash": self._next_hash()}
        self.views[view_id] = stored
        return {"ok": True, "view": dict(stored)}

    def _views_publish(self, call: Call) -> JSONDict:
        view = self._view_body(call)
        user_id = str(call.params.get("user_id", ""))
        if view is None or not user_id:
            return {"ok": False, "error": "invalid_arguments"}
        self.home[user_id] = view
        stored = {**view, "id": f"V{next(self._view_ids):04d}", "hash": self._next_hash()}
        return {"ok": True, "view": stored}

    def _users_list(self, call: Call) -> JSONDict:
        """Paginated like Slack's: `limit` per page, `cursor` = the offset as a string."""
        members = list(self.users.values())
        start = int(call.params.get("cursor") or 0)
        limit = int(call.params.get("limit") or 200)
        page = members[start : start + limit]
        after = start + limit
        return {
            "ok": True,
            "members": [dict(m) for m in page],
            "response_metadata": {"next_cursor": str(after) if after < len(members) else ""},
        }

    def _users_info(self, call: Call) -> JSONDict:
        user = self.users.get(str(call.params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": dict(user)}

    def _users_lookup_by_email(self, call: Call) -> JSONDict:
        email = str(call.params.get("email", "")).lower()
        for user in self.users.values():
            if str((user.get("profile") or {}).get("email", "")).lower() == email and email:
                return {"ok": True, "user": dict(user)}
        return {"ok": False, "error": "users_not_found"}

    def _team_info(self, call: Call) -> JSONDict:
        team_id, team_name = self.team_for(call.token)
        return {
            "ok": True,
            "team": {"id": team_id, "name": team_name, "domain": team_name.lower()},
        }

    def _oauth_v2_access(self, call: Call) -> JSONDict:
        client_id, client_secret = call.basic_auth or (
            call.params.get("client_id"),
            call.params.get("client_secret"),
        )
        if self.client_id is not None and client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if self.client_secret is not None and client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        code = call.params.get("code")
        if isinstance(code, str):
            self.oauth_codes.append(code)
        if (
            not isinstance(code, str)
            or not code
            or code in self._used_codes
            or (self.valid_codes is not None and code not in self.valid_codes)
        ):
            return {"ok": False, "error": "invalid_code"}
        if self.redirect_uri is not None and call.params.get("redirect_uri") != self.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        self._used_codes.add(code)
        answer = copy.deepcopy(self.oauth_response)
        token = answer.get("access_token")
        team = answer.get("team") or {}
        if isinstance(token, str) and team.get("id"):
            self.token_teams.setdefault(token, (team["id"], team.get("name", "")))
        return answer


def _ok(_call: Call) -> JSONDict:
    return {"ok": True}
