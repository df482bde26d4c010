"""Slack requests → neutral events: pure functions, no I/O.

`payloads.py` reads what Slack posts and validates it into typed requests; this module says
what each one means to the engine (as opsdroid's `connector/slack/create_events.py` does), so
the listeners in `adapter.py` only fetch, call and answer. What Slack's users.info said about
the sender is fetched by the adapter and handed in as a `Sender`.

Slack's own markup stops here. A slash command's text arrives escaped the way all Slack text
is (`&amp;`, `&lt;`, `&gt;`) and, with `should_escape` in the manifest, with people, channels
and links as `<@U123|ada>`, `<#C123|design>`, `<mailto:ada@example.com|ada@example.com>`:
`plain_text` turns those into what the person meant (`U123`, `C123`, `ada@example.com`), so
bot/ never parses Slack syntax.

Event ids, the idempotency keys the engine claims (`Event.platform_retries`): Events API
deliveries are retried by Slack and keep Slack's `event_id`; slash commands and interactivity
never are, and are keyed by their single-use trigger id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

from bot.core.events import (
    ActionInvoked,
    CommandReceived,
    ConversationRef,
    Event,
    FormSubmitted,
    HomeOpened,
)

from .payloads import (
    SLACK_RESPONSE_ORIGINS,
    AppHomeOpened,
    BlockActions,
    EventCallback,
    MalformedPayload,
    Origins,
    Request,
    SlashCommand,
    ViewSubmission,
    form_state,
    parse_data,
    parse_request,
    where,
)
from .render import form_values, parse_action_id


@dataclass(frozen=True, slots=True)
class Sender:
    """What Slack says about the person (users.info, cached by the adapter), if anything."""

    display_name: str = ""
    timezone: str | None = None
    # Single-token mode: a Slack workspace admin becomes a Rut Radar admin on first contact.
    grants_admin: bool = False


NOBODY = Sender()


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not a Slack request the bot can read (the adapter answers 400). `reason` names the
    field, never its value."""

    reason: str


# --- Slack markup → plain text -----------------------------------------------------------------

_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def _unmarked(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):  # a person: <@U123|ada> → U123
        return target[1:]
    if target.startswith("#"):  # a channel: <#C123|design> → C123 (the id; names change)
        return target[1:]
    if target.startswith("!"):  # <!here>, <!subteam^S1|@leads>, <!date^…|fallback>
        return label or "@" + target[1:]
    if target.lower().startswith("mailto:"):  # an e-mail address Slack made a link of
        return target[len("mailto:") :]
    return target  # a link: its URL, not the label Slack shows


def plain_text(text: str) -> str:
    """Slack's escaped message text as the person typed it. Markup first (in escaped text a
    literal `<` is `&lt;`, so every `<…>` is Slack's), then the three entities, in one pass
    (`&amp;lt;` is a typed `&lt;`)."""
    unmarked = _MARKUP.sub(_unmarked, text)
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], unmarked)


# --- requests → events -------------------------------------------------------------------------


def who(request: Request) -> tuple[str, str] | None:
    """(the workspace's external id, the user id) of the person behind a request, for the
    adapter to ask Slack about them; None for requests no person sent."""
    if isinstance(request, SlashCommand):
        return request.installation.key, request.user_id
    if isinstance(request, BlockActions | ViewSubmission):
        return request.installation.key, request.user.id
    if isinstance(request, EventCallback) and isinstance(request.event, AppHomeOpened):
        return request.installation.key, request.event.user
    return None


class _Common(TypedDict):
    where: ConversationRef
    user_id: str
    display_name: str
    timezone: str | None
    grants_admin: bool


def _common(team_id: str, user_id: str, sender: Sender) -> _Common:
    """The fields every event from this person shares: their DM is where to answer."""
    return _Common(
        where=where(team_id, user_id),
        user_id=user_id,
        display_name=sender.display_name,
        timezone=sender.timezone,
        grants_admin=sender.grants_admin,
    )


def command(request: SlashCommand, sender: Sender = NOBODY) -> CommandReceived:
    """`/rut <text>`, its Slack markup made plain."""
    team_id = request.installation.key
    return CommandReceived(
        event_id=f"slack:{team_id}:{request.trigger_id}",
        text=plain_text(request.text),
        # Slack never retries a slash command (the person sees an error after 3 s instead):
        # there is nothing to de-duplicate, so no trace of it is kept.
        platform_retries=False,
        **_common(team_id, request.user_id, sender),
    )


def action(request: BlockActions, sender: Sender = NOBODY) -> ActionInvoked:
    """The first action of a block_actions payload: a button's value or a select's option,
    and what the view it sits in carried (`private_metadata`)."""
    team_id = request.installation.key
    pressed = request.actions[0]
    view = request.view
    return ActionInvoked(
        event_id=f"slack:{team_id}:{request.trigger_id}",
        action_id=parse_action_id(pressed.action_id),
        value=pressed.chosen,
        private=view.private_metadata if view is not None else "",
        platform_retries=False,  # interactivity is never retried by Slack
        **_common(team_id, request.user.id, sender),
    )


def form(request: ViewSubmission, sender: Sender = NOBODY) -> FormSubmitted:
    """A modal's inputs by neutral id, and what the modal carried."""
    team_id = request.installation.key
    view = request.view
    return FormSubmitted(
        # Each submission has its own trigger id, also when a person corrects an answer
        # after `response_action: errors` (the view's id and hash stay the same).
        event_id=f"slack:{team_id}:view:{request.trigger_id}",
        form_id=view.callback_id,
        values=form_values(form_state(view)),
        private=view.private_metadata,
        platform_retries=False,  # interactivity is never retried by Slack
        **_common(team_id, request.user.id, sender),
    )


def home_opened(envelope: EventCallback, sender: Sender = NOBODY) -> HomeOpened | None:
    """`app_home_opened` on the Home tab (the Messages tab is not the bot's to draw)."""
    opened = envelope.event
    if not isinstance(opened, AppHomeOpened) or opened.tab != "home":
        return None
    return HomeOpened(
        # An Events API delivery: Slack retries it (up to 3 times over about 5 minutes).
        event_id=f"slack:{envelope.event_id}",
        platform_retries=True,
        **_common(envelope.installation.key, opened.user, sender),
    )


def home_refresh(request: BlockActions, sender: Sender = NOBODY) -> HomeOpened | None:
    """A button pressed on the Home tab redraws it once the action is handled."""
    if request.view is None or request.view.type != "home":
        return None
    team_id = request.installation.key
    return HomeOpened(
        event_id=f"slack:{team_id}:home:slack:{team_id}:{request.trigger_id}",
        platform_retries=False,
        **_common(team_id, request.user.id, sender),
    )


def event_of(request: Request, sender: Sender = NOBODY) -> Event | None:
    """The engine's event for a validated request; None for what carries none (handshakes,
    throttling, uninstalls, a closed modal, events nobody subscribed to)."""
    if isinstance(request, SlashCommand):
        return command(request, sender)
    if isinstance(request, BlockActions):
        return action(request, sender)
    if isinstance(request, ViewSubmission):
        return form(request, sender)
    if isinstance(request, EventCallback):
        return home_opened(request, sender)
    return None


def translate(
    data: object, *, sender: Sender = NOBODY, response_origins: Origins = SLACK_RESPONSE_ORIGINS
) -> Event | Rejected | None:
    """A body as Bolt holds it (a dict: Socket Mode, or JSON) → its event. Whatever `data`
    is, the answer is an event, a `Rejected` naming what is wrong, or None: never an
    exception."""
    try:
        return event_of(parse_data(data, response_origins=response_origins), sender)
    except MalformedPayload as exc:
        return Rejected(str(exc))


def translate_body(
    body: bytes,
    content_type: str,
    *,
    sender: Sender = NOBODY,
    response_origins: Origins = SLACK_RESPONSE_ORIGINS,
) -> Event | Rejected | None:
    """The same for an HTTP body as Slack posts it (form or JSON)."""
    try:
        request = parse_request(body, content_type, response_origins=response_origins)
        return event_of(request, sender)
    except MalformedPayload as exc:
        return Rejected(str(exc))
