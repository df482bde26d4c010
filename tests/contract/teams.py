"""The contract on Microsoft Teams: activities with real RS256 tokens from the fake identity
platform posted to `/api/messages`, the fake Bot Connector on 127.0.0.1 on the other side. What
the person sees is the Adaptive Cards the app sent into their 1:1 chat (edited in place by
`update_activity`) and the dialogs (task modules) it answered `task/fetch` and `task/submit`
invokes with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapters.teams.render import parse_input_id, teams_wording
from bot.core.clock import ManualClock
from bot.server.app import RUNTIME, build_app
from tests.conftest import _truncate_all
from tests.contract import Button, Driver, Reply, Surface, lines, unescape_markdown
from tests.fakes import teams_activities as ta
from tests.fakes.bot_connector import FakeBotConnector, Posted
from tests.fakes.bot_openid import FakeIdentity
from tests.test_teams import Env, dialog_card, teams_world
from tests.test_teams import settings_for as teams_settings

JSON = dict[str, Any]


class TeamsDriver(Driver):
    name = "teams"

    def as_said(self, text: str) -> str:
        return teams_wording(text)

    def __init__(self, env: Env) -> None:
        super().__init__(env.client, env.runtime, env.clock, env.world)
        self.env = env
        self.connector = env.connector

    async def install(self, user: str) -> Reply | None:
        """The person adds the app in their personal scope: Teams sends conversationUpdate (the
        bot joined their 1:1 chat) and installationUpdate; the welcome goes into that chat."""
        mark = len(self.connector.sent)
        await self.env.ok(ta.conversation_update(self.env.url, user))
        await self.env.ok(ta.installation_update(self.env.url, user, "add"))
        [welcome] = self._since(mark, user)
        return welcome

    async def command(self, user: str, text: str) -> list[Reply]:
        mark = len(self.connector.sent)
        await self.env.ok(ta.message(self.env.url, user, text))
        return self._since(mark, user)

    async def click(self, user: str, on: Reply, button: Button) -> list[Reply]:
        """In a dialog a button is a task/submit; on a chat card, one that opens a dialog is a
        task/fetch, any other a message carrying the button's data."""
        data: JSON = dict(button.raw)
        mark = len(self.connector.sent)
        if on.surface == "dialog":
            answer = await self.env.ok(ta.task_submit(self.env.url, user, data))
        elif (data.get("msteams") or {}).get("type") == "task/fetch":
            answer = await self.env.ok(ta.task_fetch(self.env.url, user, data))
        else:
            answer = await self.env.ok(ta.submit_click(self.env.url, user, data))
        return self._dialog(answer) + self._since(mark, user)

    async def submit(self, user: str, form: Reply, values: Mapping[str, str]) -> list[Reply]:
        """The dialog's submit: its data with every input's value, a toggle left alone as
        "false", as Teams sends it."""
        data: JSON = {**form.raw["submit"], **form.raw["defaults"], **values}
        mark = len(self.connector.sent)
        answer = await self.env.ok(ta.task_submit(self.env.url, user, data))
        return self._dialog(answer) + self._since(mark, user)

    async def inbox(self, user: str) -> list[Reply]:
        conversation = ta.personal_conversation_id(user)
        edits = {
            p.activity_id: p for p in self.connector.updated if p.conversation_id == conversation
        }
        return [
            self._chat(edits.get(p.activity_id, p), p.activity_id)
            for p in self.connector.sent_to(conversation)
        ]

    # --- what Teams shows ------------------------------------------------------------------

    def _since(self, mark: int, user: str) -> list[Reply]:
        """Messages sent since `mark`: every one into the person's own 1:1 chat."""
        posted = self.connector.sent[mark:]
        conversation = ta.personal_conversation_id(user)
        assert all(p.conversation_id == conversation for p in posted), posted
        return [self._chat(p, p.activity_id) for p in posted]

    @staticmethod
    def _chat(posted: Posted, ref: str) -> Reply:
        cards = posted.cards
        if not cards:
            return Reply("chat", lines([str(posted.activity.get("text") or "")]), ref=ref)
        [card] = cards
        return _card("chat", card, ref=ref)

    @staticmethod
    def _dialog(answer: JSON | None) -> list[Reply]:
        if answer is None:
            return []  # the dialog closed
        if answer["task"]["type"] == "message":
            return [Reply("dialog", lines([answer["task"]["value"]]))]
        return [_card("dialog", dialog_card(answer))]


def _walk(node: Any) -> list[JSON]:
    """Every object in a card, depth first, in order; buttons' data left out."""
    if isinstance(node, dict):
        return [node, *(d for k, v in node.items() if k != "data" for d in _walk(v))]
    if isinstance(node, list):
        return [d for v in node for d in _walk(v)]
    return []


def _card(surface: Surface, card: JSON, *, ref: str = "") -> Reply:
    """What a person reads on a card (TextBlock and FactSet markdown unescaped; labels and
    choices as they are), its buttons, and a form's inputs and submit data."""
    parts: list[str] = []
    buttons: list[Button] = []
    inputs: list[str] = []
    submit: JSON = {}
    defaults: JSON = {}
    for node in _walk(card):
        kind = node.get("type")
        if kind == "TextBlock":
            parts.append(unescape_markdown(node.get("text", "")))
        elif kind == "FactSet":
            parts += [
                f"{unescape_markdown(f['title'])} {unescape_markdown(f['value'])}"
                for f in node["facts"]
            ]
        elif kind == "Input.ChoiceSet":
            parts += [node.get("label", ""), *(c["title"] for c in node["choices"])]
        elif kind == "Input.Text":
            parts.append(node.get("label", ""))
        elif kind == "Input.Toggle":
            parts.append(node.get("title", ""))
            defaults[node["id"]] = node.get("valueOff", "false")
        elif kind == "Action.Submit":
            data = node["data"]
            if "rr_form" in data:
                submit = data
            else:
                buttons.append(
                    Button(data["rr_action"], node.get("title", ""), data.get("rr_value", ""), data)
                )
        if str(kind).startswith("Input."):
            inputs.append(parse_input_id(node["id"]))
    return Reply(
        surface,
        lines(parts),
        tuple(buttons),
        tuple(inputs),
        ref=ref,
        raw={"card": card, "submit": submit, "defaults": defaults},
    )


@asynccontextmanager
async def teams(db_url: str, clock: ManualClock) -> AsyncIterator[TeamsDriver]:
    async with FakeIdentity() as idp, FakeBotConnector(idp) as connector:
        app = build_app(teams_settings(db_url, idp), clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            await _truncate_all(runtime.ctx)
            world = await teams_world(runtime, connector.service_url, slack_ids=True)
            try:
                yield TeamsDriver(Env(idp, connector, client, runtime, clock, world))
            finally:
                await _truncate_all(runtime.ctx)
