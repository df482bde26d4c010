"""The contract in the playground: JSON posts from loopback to `/playground/api/events`, as the
page's script sends them, and the person's inbox (`/playground/api/inbox`) the page polls. What
the person sees is the HTML the adapter renders, read the way a browser shows it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.core.clock import ManualClock
from bot.core.events import ConversationRef
from bot.server.app import RUNTIME, build_app
from bot.server.config import Settings
from storage.models import Person
from tests.conftest import _truncate_all, build_world
from tests.contract import Button, Client, Driver, Reply, lines

JSON = dict[str, Any]


class PlaygroundDriver(Driver):
    name = "playground"

    @property
    def workspace(self) -> str:
        return self.world.workspace.external_id

    async def install(self, user: str) -> Reply | None:
        """Nothing to install: the person is seeded as `rutradar demo` seeds people, and is then
        one the page's person picker offers. The playground says nothing on its own."""
        async with self.runtime.ctx.sessions.begin() as session:
            session.add(
                Person(
                    workspace_id=self.world.workspace.id,
                    user_id=user,
                    display_name=user.title(),
                    role="member",
                    conversation_ref=ConversationRef("playground", self.workspace, user).to_json(),
                )
            )
        response = await self.client.get("/playground/api/people")
        assert response.status == 200
        picker = {(p["workspace"], p["user_id"]) for p in (await response.json())["people"]}
        assert (self.workspace, user) in picker
        return None

    async def command(self, user: str, text: str) -> list[Reply]:
        return await self._event(user, kind="command", text=text)

    async def click(self, user: str, on: Reply, button: Button) -> list[Reply]:
        """As the page does: the button's action and value, and what its message carried."""
        return await self._event(
            user,
            kind="action",
            action_id=button.action_id,
            value=button.value,
            private=on.raw["private"],
        )

    async def submit(self, user: str, form: Reply, values: Mapping[str, str]) -> list[Reply]:
        form_id, private = form.raw["form"]
        return await self._event(
            user, kind="form", form_id=form_id, private=private, values=dict(values)
        )

    async def inbox(self, user: str) -> list[Reply]:
        response = await self.client.get(
            "/playground/api/inbox", params={"workspace": self.workspace, "user": user}
        )
        assert response.status == 200, await response.text()
        return [_reply(item, ref=item["id"]) for item in (await response.json())["messages"]]

    async def _event(self, user: str, **body: Any) -> list[Reply]:
        response = await self.client.post(
            "/playground/api/events", json={"workspace": self.workspace, "user_id": user, **body}
        )
        assert response.status == 200, await response.text()
        return [_reply(item) for item in (await response.json())["messages"]]


# Elements a browser lays out as blocks of their own: a line break before and after.
_BLOCKS = frozenset(
    {"div", "p", "h3", "h4", "ul", "li", "section", "dl", "dt", "dd", "form", "fieldset"}
    | {"legend", "label", "figure", "figcaption"}
)


class _Shown(HTMLParser):
    """A rendered message as a browser shows it: the text, the buttons, the form."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.buttons: list[Button] = []
        self.inputs: list[str] = []
        self.private: str | None = None
        self.form: tuple[str, str] | None = None
        self._button: tuple[str, str, list[str]] | None = None
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n• " if tag == "li" else "\n")  # the bullet the browser draws
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "div" and "rr-message" in classes and self.private is None:
            self.private = a.get("data-private", "")
        elif tag == "form":
            self.form = (a.get("data-form-id", ""), a.get("data-private", ""))
        elif tag == "button":
            self._button = (a.get("data-action", ""), a.get("data-value", ""), [])
        elif tag in ("input", "select", "textarea") and a.get("name"):
            if a["name"] not in self.inputs:
                self.inputs.append(a["name"])
        elif tag == "svg":
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "button" and self._button is not None:
            action, value, label = self._button
            if action:  # not the form's submit button
                self.buttons.append(Button(action, " ".join("".join(label).split()), value))
            self._button = None
        elif tag == "svg":
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2].append(data)  # a button's label is `Reply.buttons`, not text
        elif not self._hidden:
            self.parts.append(data)


def _reply(item: JSON, *, ref: str = "") -> Reply:
    shown = _Shown()
    shown.feed(item["html"])
    shown.close()
    return Reply(
        item["surface"],
        lines(["".join(shown.parts)]),
        tuple(shown.buttons),
        tuple(shown.inputs),
        ref=ref,
        raw={"private": shown.private or "", "form": shown.form},
    )


@asynccontextmanager
async def playground(db_url: str, clock: ManualClock) -> AsyncIterator[PlaygroundDriver]:
    settings = Settings(RUTRADAR_DATABASE_URL=db_url, RUTRADAR_PLAYGROUND=True)
    app = build_app(settings, clock=clock, background=False)
    client: Client
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        runtime = app[RUNTIME]
        await _truncate_all(runtime.ctx)
        world = await build_world(runtime.ctx, slack_ids=True)
        try:
            yield PlaygroundDriver(client, runtime, clock, world)
        finally:
            await _truncate_all(runtime.ctx)
