"""The playground adapter: HTTP routes for the page, events in, rendered messages out.

Like every adapter it verifies before translating: here "verified" means the request comes
from loopback and names a person of a playground workspace (design privacy rule 11).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

from bot.admin.workspaces import people_on, person_on
from bot.core.events import ConversationRef
from bot.core.ports import SentRef
from bot.server.logs import logged_when_refused, unlogged
from bot.server.runtime import Runtime
from messages.model import Message

from . import translate
from .render import _env, render_message
from .translate import PLATFORM

STATIC = Path(__file__).parent / "static"


def _rendered(message: Message) -> dict[str, Any]:
    return {
        "surface": message.surface,
        "title": message.title,
        "text": message.fallback,
        "tags": list(message.tags),
        "html": render_message(message),
    }


def _in_dialog(message: Message) -> Message:
    return replace(message, surface="dialog", title=message.title or "Rut Radar")


class PlaygroundAdapter:
    platform: ClassVar[str] = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Messages "sent" to people, as a chat workspace would keep them. Loopback dev tool:
        # one process, so memory is the right home (prompts are re-sent on restart if pending).
        self._inbox: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._revision = itertools.count(1)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/playground/api/people", self.people)
        app.router.add_post("/playground/api/events", self.events)
        app.router.add_get("/playground/api/inbox", self.inbox)
        app.router.add_static("/playground/static", STATIC)

    # --- outbound (the Adapter port) -------------------------------------------------------

    async def send(self, to: ConversationRef, msg: Message, *, key: str | None = None) -> SentRef:
        message_id = secrets.token_hex(8)
        item = {"id": message_id, "rev": next(self._revision), **_rendered(msg)}
        self._inbox.setdefault((to.tenant_id, to.channel_id), []).append(item)
        return SentRef(PLATFORM, f"{to.tenant_id}/{to.channel_id}", message_id)

    def address(self, tenant_id: str, user_id: str) -> ConversationRef:
        return ConversationRef(PLATFORM, tenant_id, user_id)

    async def update(self, ref: SentRef, msg: Message) -> None:
        tenant, _, channel = ref.channel_id.partition("/")
        for item in self._inbox.get((tenant, channel), []):
            if item["id"] == ref.message_id:
                item.update(rev=next(self._revision), **_rendered(msg))

    # --- routes ----------------------------------------------------------------------------

    @staticmethod
    def _require_loopback(request: web.Request) -> None:
        remote = request.remote or ""
        try:
            if ip_address(remote).is_loopback:
                return
        except ValueError:
            pass
        raise web.HTTPForbidden(text="The playground answers loopback only.")

    async def page(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        html = _env.get_template("page.html").render()
        return web.Response(text=html, content_type="text/html")

    async def people(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        out = [
            {
                "workspace": entry.workspace,
                "workspace_name": entry.workspace_name,
                "user_id": entry.user_id,
                "name": entry.display_name or entry.user_id,
                "roles": entry.roles,
                "teams": [{"team": t.team, "role": t.role} for t in entry.teams],
            }
            for entry in await people_on(self.runtime.ctx, PLATFORM)
        ]
        return web.json_response({"people": out})

    @logged_when_refused  # answered deliveries are counted in the metrics
    async def events(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        body = translate.parse(await request.read())
        if isinstance(body, translate.Rejected):
            return web.json_response({"error": f"malformed event: {body.reason}"}, status=400)
        person = await person_on(self.runtime.ctx, PLATFORM, body.workspace, body.user_id)
        if person is None:
            return web.json_response(
                {"error": "unknown playground workspace or person"}, status=404
            )
        event = translate.event_of(body, person.display_name)
        self.runtime.metrics.event(PLATFORM, body.kind)
        messages = await self.runtime.chat.handle(event)
        if body.kind == "form":
            # A refused form is answered in its dialog, as Slack (the modal's errors) and Teams
            # (the task module) answer it: in the chat, behind the open dialog, the person
            # would not see why nothing was stored.
            messages = [_in_dialog(m) if "error" in m.tags else m for m in messages]
        return web.json_response({"messages": [_rendered(m) for m in messages]})

    @unlogged  # the page polls this every 1.5 s: it would bury the access log
    async def inbox(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        workspace = request.query.get("workspace", "")
        user = request.query.get("user", "")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.json_response({"error": "after must be a number"}, status=400)
        items = [i for i in self._inbox.get((workspace, user), []) if i["rev"] > after]
        return web.json_response({"messages": items})
