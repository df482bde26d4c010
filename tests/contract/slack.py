"""The contract on Slack: requests signed for real into `/slack/events` (single-token mode), the
fake Slack Web API on 127.0.0.1 on the other side. What the person sees is what the app sent
Slack: the slash command's ephemeral answer, modals (`views.open`/`views.update` and the
`response_action: update` of a submission), DMs (`chat.postMessage`, edited by `chat.update`)
and the Home tab; every one is checked by slack_sdk's Block Kit models on the way."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.render import parse_action_id
from bot.core.clock import ManualClock
from bot.server.app import RUNTIME, build_app
from tests.conftest import _truncate_all, build_world
from tests.contract import Button, Driver, Reply, Surface, lines, unescape_mrkdwn
from tests.fakes.slack_api import Call, FakeSlackAPI, dm_channel
from tests.fakes.slack_requests import (
    app_home_opened,
    block_actions,
    event_callback,
    plain_text_value,
    selected_value,
    view_submission,
)
from tests.test_slack import Env, valid_blocks, valid_view
from tests.test_slack import settings_for as slack_settings

JSON = dict[str, Any]
SLASH_CHANNEL = "C0001"  # where the slash commands are typed (slash_command's default)
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


class SlackDriver(Driver):
    name = "slack"

    def __init__(self, env: Env) -> None:
        super().__init__(env.client, env.runtime, env.clock, env.world)
        self.env = env
        self.fake = env.fake

    async def install(self, user: str) -> Reply | None:
        """First contact: the person opens the app's Home tab, which is published for them."""
        self.fake.add_user(user, real_name=user.title())
        mark = len(self.fake.calls)
        response = await self.env.post(
            event_callback(app_home_opened(user, channel=dm_channel(user)))
        )
        assert response.status == 200, await response.text()
        [published] = [c for c in self.fake.calls[mark:] if c.method == "views.publish"]
        assert published.params["user_id"] == user
        return self._view(published.params["view"], published.response["view"])

    async def command(self, user: str, text: str) -> list[Reply]:
        """A slash command: a modal it opened, then its ephemeral answer and any more."""
        mark = len(self.fake.calls)
        ack = await self.env.command(text, user=user)
        shown = self._since(mark, user)
        answer = []
        if ack:
            assert ack["response_type"] == "ephemeral", ack  # only the person sees it
            answer.append(self._message(ack, channel=SLASH_CHANNEL, ts=""))
        return (
            [r for r in shown if r.surface == "dialog"]
            + answer
            + [r for r in shown if r.surface != "dialog"]
        )

    async def click(self, user: str, on: Reply, button: Button) -> list[Reply]:
        where: JSON = on.raw
        if "view" in where:
            view = where["view"]
            body = block_actions(
                button.raw,
                button.value,
                user_id=user,
                view={
                    "id": view["id"],
                    "type": view["type"],
                    "callback_id": view.get("callback_id", ""),
                    "private_metadata": view.get("private_metadata", ""),
                },
            )
        else:
            body = block_actions(
                button.raw,
                button.value,
                user_id=user,
                channel_id=where["channel"],
                message_ts=where["ts"] or "1700000000.000100",
                response_url=self.fake.response_url(user),
            )
        mark = len(self.fake.calls)
        response = await self.env.post(body)
        assert response.status == 200, await response.text()
        return self._since(mark, user)

    async def submit(self, user: str, form: Reply, values: Mapping[str, str]) -> list[Reply]:
        """A view_submission of the modal with these answers, in the state Slack would send."""
        view: JSON = form.raw["view"]
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element = block["element"]
            action_id, kind = element["action_id"], element["type"]
            value = values.get(parse_action_id(action_id), "")
            entry: JSON
            if kind in ("radio_buttons", "static_select"):
                entry = (
                    selected_value(value, element_type=kind)
                    if value
                    else {"type": kind, "selected_option": None}
                )
            elif kind == "checkboxes":
                entry = {"type": kind, "selected_options": element["options"] if value else []}
            else:
                entry = plain_text_value(value)
            state[block["block_id"]] = {action_id: entry}
        body = view_submission(
            view["callback_id"],
            state,
            private_metadata=view.get("private_metadata", ""),
            user_id=user,
            view_id=view["id"],
            hash=view["hash"],
        )
        mark = len(self.fake.calls)
        response = await self.env.post(body)
        assert response.status == 200, await response.text()
        raw = await response.text()
        ack: JSON = json.loads(raw) if raw else {}
        out: list[Reply] = []
        if ack.get("response_action") == "update":
            shown = {**ack["view"], "id": view["id"], "hash": view["hash"]}
            out.append(self._view(ack["view"], shown))
        elif ack.get("response_action") == "errors":
            # The modal stays as it was, its form filled in, the error under an input.
            errors = lines(list(ack["errors"].values()))
            out.append(Reply("dialog", errors, form.buttons, form.inputs, raw=form.raw))
        return out + self._since(mark, user)

    async def inbox(self, user: str) -> list[Reply]:
        channel = dm_channel(user)
        return [
            self._message(m, channel=channel, ts=str(m["ts"]))
            for m in self.fake.messages.get(channel, [])
        ]

    # --- what Slack shows ------------------------------------------------------------------

    def _since(self, mark: int, user: str) -> list[Reply]:
        """What the app showed the person since call `mark`: modals opened or updated,
        ephemeral answers through the response_url, DMs."""
        out: list[Reply] = []
        for call in self.fake.calls[mark:]:
            if call.method in ("views.open", "views.update", "views.push"):
                out.append(self._view(call.params["view"], call.response["view"]))
            elif call.method == f"response_url/{user}":
                assert call.params.get("response_type") == "ephemeral", call.params
                out.append(self._message(call.params, channel=SLASH_CHANNEL, ts=""))
            elif call.method == "chat.postMessage" and _to(call) == user:
                out.append(
                    self._message(
                        call.params, channel=str(call.response["channel"]), ts=call.response["ts"]
                    )
                )
        return out

    @staticmethod
    def _message(payload: JSON, *, channel: str, ts: str) -> Reply:
        blocks = payload.get("blocks") or []
        valid_blocks(blocks)
        text = _text(blocks) if blocks else unescape_mrkdwn(str(payload.get("text", "")))
        return Reply(
            "chat",
            text,
            _buttons(blocks),
            _inputs(blocks),
            ref=ts,
            raw={"channel": channel, "ts": ts},
        )

    @staticmethod
    def _view(sent: JSON, shown: JSON) -> Reply:
        """`sent`: the view as the app sent it; `shown`: as Slack keeps it (with id and hash)."""
        valid_view(sent)
        surface: Surface = "home" if sent["type"] == "home" else "dialog"
        blocks = sent.get("blocks") or []
        return Reply(surface, _text(blocks), _buttons(blocks), _inputs(blocks), raw={"view": shown})


def _to(call: Call) -> str:
    return str(call.params.get("channel", ""))


def _walk(node: Any) -> list[JSON]:
    """Every object in a Block Kit tree, depth first, in order."""
    if isinstance(node, dict):
        return [node, *(d for v in node.values() for d in _walk(v))]
    if isinstance(node, list):
        return [d for v in node for d in _walk(v)]
    return []


def _text(blocks: list[JSON]) -> str:
    """The text objects' text as Slack shows it, mrkdwn's escapes and bold markers undone;
    buttons are `Reply.buttons`."""
    parts = []
    for node in _walk([b for b in blocks if b.get("type") != "actions"]):
        kind, text = node.get("type"), node.get("text")
        if kind == "plain_text" and isinstance(text, str):
            parts.append(text)
        elif kind == "mrkdwn" and isinstance(text, str):
            parts.append(unescape_mrkdwn(_BOLD.sub(r"\1", text)))
    return lines(parts)


def _buttons(blocks: list[JSON]) -> tuple[Button, ...]:
    return tuple(
        Button(
            parse_action_id(node["action_id"]),
            node["text"]["text"],
            str(node.get("value", "")),
            raw=node["action_id"],
        )
        for node in _walk(blocks)
        if node.get("type") == "button"
    )


def _inputs(blocks: list[JSON]) -> tuple[str, ...]:
    return tuple(
        parse_action_id(block["element"]["action_id"])
        for block in blocks
        if block.get("type") == "input"
    )


@asynccontextmanager
async def slack(db_url: str, clock: ManualClock) -> AsyncIterator[SlackDriver]:
    async with FakeSlackAPI() as fake:
        settings = slack_settings(db_url, fake, SLACK_BOT_TOKEN="xoxb-test")
        app = build_app(settings, clock=clock, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            runtime = app[RUNTIME]
            await _truncate_all(runtime.ctx)
            world = await build_world(runtime.ctx, platform="slack", slack_ids=True)
            for person in (*world.members, world.manager, world.admin, world.outsider):
                fake.add_user(person.user_id, real_name=person.display_name)
            try:
                yield SlackDriver(Env(fake, client, runtime, clock, world))
            finally:
                await _truncate_all(runtime.ctx)
