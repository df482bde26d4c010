"""The adapter contract: what a person sees of Rut Radar is the same on every platform.

`Platform` is the small protocol `tests/test_contract.py` drives; `tests/contract/slack.py`,
`teams.py` and `playground.py` implement it over real HTTP against the app `bot.server.app.build_app`
builds (with an injected clock and no background tasks), each with only its platform's fakes
on the other side. A driver turns what its platform shows a person (Block Kit, Adaptive Cards,
the playground's HTML) into a neutral `Reply`: the text the person reads, with the platform's
markup undone, the buttons they can press and the inputs of a form, so the tests assert the
same words and the same buttons everywhere.

What "install" means differs by platform, and each driver says so in its `install`:

- Slack (single-token mode, as a workspace installs the app for everyone): a person's first
  contact, opening the app's Home tab (`app_home_opened`); the Home tab is their welcome. The
  OAuth install, where the installer becomes first admin, has no per-person counterpart on the
  other platforms and stays in tests/test_slack.py.
- Teams: the person adds the app in their personal scope (`conversationUpdate` and
  `installationUpdate`); the bot keeps the 1:1 reference and sends a welcome card.
- Playground: nobody installs anything; a person exists once seeded, as `rutradar demo` seeds
  them, and then appears in the page's person picker (`/playground/api/people`). No welcome.

On every platform an install grants nothing (the newcomer is a member) and makes the person
reachable: once an admin puts them in a team, the next round's prompt reaches them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.core.clock import ManualClock
from bot.rounds.lifecycle import close_round, open_round
from bot.server.runtime import Runtime
from storage.models import Answer, Person
from tests.conftest import World

Client = TestClient[web.Request, web.Application]
Surface = Literal["chat", "dialog", "home"]


@dataclass(frozen=True)
class Button:
    action_id: str  # the neutral action id the engine receives
    label: str
    value: str = ""
    raw: Any = None  # what the platform's driver needs to press it


@dataclass(frozen=True)
class Reply:
    """One thing the person sees: a chat message, a dialog (modal, task module) or a home tab."""

    surface: Surface
    text: str  # what the person reads, markup undone, line by line; button labels are in `buttons`
    buttons: tuple[Button, ...] = ()
    inputs: tuple[str, ...] = ()  # a form's input ids, in order
    ref: str = ""  # the platform's id of a chat message (to read it again after an edit)
    raw: Any = None  # the platform's own payload, for the driver

    @property
    def actions(self) -> list[str]:
        return [b.action_id for b in self.buttons]

    def button(self, action_id: str, value: str | None = None) -> Button:
        found = [
            b
            for b in self.buttons
            if b.action_id == action_id and (value is None or b.value == value)
        ]
        assert found, f"no {action_id!r} button in {self.actions}: {self.text[:300]!r}"
        return found[0]


class Platform(Protocol):
    """What the contract drives. Users are the shared test world's (`tests.conftest.World`):
    U0…U5 members of Platform, `UBOSS` its manager, `UROOT` an admin, on every platform
    (Slack-shaped ids, which every adapter accepts)."""

    name: str
    runtime: Runtime
    world: World

    def as_said(self, text: str) -> str:
        """The engine's copy as this platform words it (Teams has no `/rut` prefix)."""
        ...

    # What only the platform knows how to do.
    async def install(self, user: str) -> Reply | None: ...
    async def command(self, user: str, text: str) -> list[Reply]: ...
    async def click(self, user: str, on: Reply, button: Button) -> list[Reply]: ...
    async def submit(self, user: str, form: Reply, values: Mapping[str, str]) -> list[Reply]: ...
    async def inbox(self, user: str) -> list[Reply]: ...

    # The same on every platform (`Driver`).
    async def answers(self) -> int: ...
    async def person(self, user: str) -> Person | None: ...
    async def open_round(self) -> None: ...
    async def close_round(self) -> None: ...
    async def prompt(self, user: str) -> Reply: ...
    async def reread(self, user: str, message: Reply) -> Reply: ...
    async def open_checkin(self, user: str, prompt: Reply) -> Reply: ...
    async def submit_checkin(self, user: str, form: Reply, scores: Mapping[str, int]) -> Reply: ...


class Driver(ABC):
    """The platform-neutral half of every driver: rounds, the dispatcher and the database."""

    name: str

    def as_said(self, text: str) -> str:
        return text

    def __init__(self, client: Client, runtime: Runtime, clock: ManualClock, world: World) -> None:
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.world = world

    @abstractmethod
    async def install(self, user: str) -> Reply | None: ...

    @abstractmethod
    async def command(self, user: str, text: str) -> list[Reply]: ...

    @abstractmethod
    async def click(self, user: str, on: Reply, button: Button) -> list[Reply]: ...

    @abstractmethod
    async def submit(self, user: str, form: Reply, values: Mapping[str, str]) -> list[Reply]: ...

    @abstractmethod
    async def inbox(self, user: str) -> list[Reply]:
        """The person's 1:1 chat with the bot, oldest first, each message as it reads now."""

    async def answers(self) -> int:
        async with self.runtime.ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Answer)) or 0)

    async def person(self, user: str) -> Person | None:
        async with self.runtime.ctx.sessions() as session:
            return await session.scalar(
                select(Person).where(
                    Person.workspace_id == self.world.workspace.id, Person.user_id == user
                )
            )

    async def open_round(self) -> None:
        """The Platform team's round opens and the dispatcher sends its prompts."""
        await open_round(self.runtime.ctx, self.world.cli, self.world.team)
        await self.runtime.dispatcher.run_once()

    async def close_round(self) -> None:
        """The round closes; the dispatcher edits its prompts (closed notices) and sends the
        summary."""
        await close_round(self.runtime.ctx, self.world.cli, self.world.team)
        await self.runtime.dispatcher.run_once()

    async def settled(self) -> None:
        """Until the outbox holds nothing due (a prompt's "checked in" edit waits there)."""
        await self.runtime.dispatcher.run_once()

    async def prompt(self, user: str) -> Reply:
        """The one round prompt in the person's chat."""
        found = [m for m in await self.inbox(user) if "check-in (" in m.text]
        assert len(found) == 1, [m.text for m in await self.inbox(user)]
        return found[0]

    async def reread(self, user: str, message: Reply) -> Reply:
        """A chat message as the person sees it now (after any edits)."""
        await self.settled()
        [now] = [m for m in await self.inbox(user) if m.ref == message.ref]
        return now

    async def open_checkin(self, user: str, prompt: Reply) -> Reply:
        [dialog] = await self.click(user, prompt, prompt.button("checkin_open"))
        return dialog

    async def submit_checkin(self, user: str, form: Reply, scores: Mapping[str, int]) -> Reply:
        [answer] = await self.submit(user, form, {k: str(v) for k, v in scores.items()})
        await self.settled()
        return answer


# --- reading what a platform shows -------------------------------------------------------------


def lines(parts: list[str]) -> str:
    """The pieces a person reads, line by line, spaces collapsed, blank lines left out."""
    return "\n".join(
        " ".join(line.split()) for part in parts for line in part.splitlines() if line.strip()
    )


_MARKDOWN_ESCAPE = re.compile(r"\\(.)")


def unescape_markdown(text: str) -> str:
    """Teams TextBlock markdown as the renderer escapes it, back to what is shown."""
    return _MARKDOWN_ESCAPE.sub(r"\1", text).replace("\u2060", "")


def unescape_mrkdwn(text: str) -> str:
    """Slack mrkdwn's three escapes, back to what is shown."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
