"""The Microsoft Teams adapter: botbuilder's CloudAdapter on `POST /api/messages`.

botbuilder does the Bot Framework plumbing (token validation, connector clients, turn
contexts); the engine does all the thinking. The request is checked here in order — an
Authorization header, a body that is an activity (400), a valid token (401) — and only then
run as a turn, through `process_activity` directly: `CloudAdapter.process` re-serialises
invoke answers and fails on ours (platforms.md §7).

Privacy rule 10 on Teams: scores and the advice they trigger only ever travel in a dialog (a
task module, answered inside the `task/fetch` / `task/submit` invoke); replies to a command
sent in a channel go to the person's 1:1 chat, and the channel only hears that they did.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import aiohttp
import requests
from aiohttp import web
from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
    DeliveryModes,
)
from botframework.connector.aio import ConnectorClient
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.admin.workspaces import known_service_url, person_uninstalled
from bot.core.errors import RetryLater, UsageError
from bot.core.events import ActionInvoked, ConversationRef, Event
from bot.core.ports import THIS_CHANNEL, ButtonTraits, DeliveryError, SentRef
from bot.server.logs import logged_when_refused
from bot.server.runtime import Runtime
from messages.copy import copy_for
from messages.model import Bullets, Button, Buttons, Heading, Message, Paragraph

from . import activities as act
from . import render, translate
from .activities import CHANNEL, PLATFORM, MalformedActivity
from .auth import (
    CachedCredentials,
    TeamsAuthentication,
    metadata_urls,
    post_activity,
    use_off_loop_keys,
    warm_keys,
)
from .translate import Facts

log = logging.getLogger(__name__)

T = TypeVar("T")

# Which buttons open a dialog, which forms they open and which answers replace the card
# clicked are the engine's to say (`ports.ButtonTraits`, `runtime.chat.traits`):
# - a button whose answer is a dialog (`dialogs`) opens a task module (`task/fetch`) on a
#   chat card instead of posting a message; its answer, dialog or not, is shown in it;
# - a form that comes back as the answer to a typed command cannot open by itself on Teams:
#   the chat gets a card whose button opens it (`openers`);
# - a chat card whose button answers with a fresh copy of that card (`refreshes`): the copy
#   replaces the card clicked (Action.Submit names it in `replyToId`) instead of piling up
#   under it, so no stale "Open round" stays clickable.
NOT_INSTALLED = "app not installed for this person"
# What an activity Teams should deliver again is answered with: 503, this side's passing
# failure. Teams redelivers what got no answer in time, and what got a 5xx (seen in
# botbuilder-dotnet#5005, even after a 501; undocumented): 501 stays "not implemented".
RETRY_LATER = HTTPStatus.SERVICE_UNAVAILABLE
# What a call to the Bot Connector (or for its token) raises when it fails; anything else is
# a bug and keeps its traceback.
TRANSPORT_ERRORS = (
    HttpOperationError,
    ClientRequestError,
    requests.RequestException,
    OSError,
    TimeoutError,
    PermissionError,
)
PERMANENT_STATUSES = {
    400: "bad request",
    403: "blocked or uninstalled",
    404: "gone",
    413: "too big",
}

# The turn of a command sent in a channel, for the Directory port (`--from-channel` alone):
# set only by a verified activity, read only while the engine handles that same event.
_CHANNEL_TURN: contextvars.ContextVar[tuple[TurnContext, Facts] | None] = contextvars.ContextVar(
    "rutradar_teams_channel_turn", default=None
)


class TeamsAdapter:
    platform: ClassVar[str] = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        # What the engine's tables say of its buttons (see the comment above the class).
        self.traits: ButtonTraits = runtime.chat.traits
        self.app_id = settings.microsoft_app_id or ""
        # Without an app id botbuilder accepts anything: only for RUTRADAR_DEV on loopback.
        self.anonymous = not self.app_id
        self.accepting = bool(self.app_id) or (settings.dev and settings.binds_loopback)
        self._http: aiohttp.ClientSession | None = None
        self.credentials = CachedCredentials(settings, runtime.ctx.clock, self._session)
        self.auth = TeamsAuthentication(settings, self.credentials, self._session)
        self.cloud = CloudAdapter(self.auth)
        self._keys = use_off_loop_keys(metadata_urls(settings)) if self.app_id else []
        # A verified service URL per tenant, to open a 1:1 with someone never seen (a hint:
        # the database has one too, for other replicas and after a restart).
        self._service_urls: dict[str, str] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    # --- HTTP ----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.router.add_post("/api/messages", self.messages)
        app.on_startup.append(self._started)
        app.on_cleanup.append(self._closed)

    async def _started(self, _app: web.Application) -> None:
        if self._keys:
            self.runtime.supervisor.spawn(warm_keys(self._keys), name="teams-signing-keys")

    async def _closed(self, _app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()

    @staticmethod
    def _refuse(status: int, reason: str) -> web.Response:
        log.warning("teams request refused (%s): %s", status, reason)
        error = "unauthorized" if status == 401 else f"malformed activity: {reason}"
        return web.json_response({"error": error}, status=status)

    @logged_when_refused  # answered deliveries are counted in the metrics
    async def messages(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            return self._refuse(401, "no Microsoft app credentials configured")
        header = request.headers.get("Authorization", "")
        if not self.anonymous and not header:
            return self._refuse(401, "no Authorization header")
        try:
            data, shape = act.parse_activity(await request.read())
        except MalformedActivity as exc:
            return self._refuse(400, str(exc))
        probe = Activity(
            channel_id=shape.channelId,
            service_url=shape.serviceUrl,
            recipient=ChannelAccount(id=shape.recipient.id, role=shape.recipient.role),
        )
        try:
            # Anonymous (dev on loopback): botbuilder's "auth disabled" path, whatever is sent.
            result = await self.auth.authenticate_request(probe, None if self.anonymous else header)
        except Exception as exc:  # a forged, expired or misaddressed token, unreadable keys
            return self._refuse(401, f"token not accepted ({type(exc).__name__})")
        if not self.anonymous and shape.channelId != CHANNEL:
            return self._refuse(400, f"channel {shape.channelId[:20]!r} is not Microsoft Teams")
        try:
            activity = Activity().deserialize(data)
        except Exception as exc:
            return self._refuse(400, f"unreadable activity ({type(exc).__name__})")
        facts = translate.facts_of(shape, anonymous=self.anonymous)
        self._remember(facts)
        try:
            response = await self.cloud.process_activity(
                result, activity, partial(self._turn, shape=shape, facts=facts)
            )
        except RetryLater as exc:
            # A claimed activity whose handling failed (its cause logged, its claim released
            # by the engine): a bare 503, so Teams delivers the activity again and the
            # redelivery does the work.
            log.warning("teams activity left for redelivery (%s): %s", RETRY_LATER, exc)
            return web.Response(status=RETRY_LATER)
        if response is None:
            return web.Response(status=HTTPStatus.OK)
        if response.body is None:
            return web.Response(status=response.status)
        return web.json_response(response.body, status=response.status)

    def _remember(self, facts: Facts) -> None:
        if facts.tenant_id and facts.service_url:
            self._service_urls[facts.tenant_id] = facts.service_url

    # --- one turn ------------------------------------------------------------------------

    async def _turn(self, tc: TurnContext, *, shape: act.ActivityShape, facts: Facts) -> None:
        kind = shape.type
        event = translate.event_of(shape, facts)
        if kind == ActivityTypes.invoke:
            await self._answer_invoke(tc, await self._on_invoke(tc, shape, facts, event))
            return
        if not facts.tenant_id or not facts.user_id:
            log.warning("teams %s without a tenant or an AAD user: ignored", kind[:32])
            return
        if kind == ActivityTypes.message and event is not None:
            await self._on_message(tc, shape, facts, event)
        elif kind == ActivityTypes.installation_update:
            await self._on_installation(tc, shape, facts, event)
        elif kind == ActivityTypes.conversation_update and event is not None:
            # The bot joined someone's 1:1 chat: keep the reference (the welcome goes out with
            # installationUpdate, which Teams sends for the same install).
            await self._handle(event)

    async def _handle(self, event: Event) -> list[Message]:
        self.runtime.metrics.event(PLATFORM, type(event).__name__)
        return await self.runtime.chat.handle(event)

    async def _on_message(
        self, tc: TurnContext, shape: act.ActivityShape, facts: Facts, event: Event
    ) -> None:
        token = _CHANNEL_TURN.set(None if facts.personal else (tc, facts))
        try:
            messages = await self._handle(event)
        finally:
            _CHANNEL_TURN.reset(token)
        if isinstance(event, ActionInvoked) and shape.replyToId and facts.personal:
            messages = await self._refresh_clicked(tc, event.action_id, shape.replyToId, messages)
        await self._to_person(tc, facts, messages, reply=True)

    async def _refresh_clicked(
        self, tc: TurnContext, action_id: str, card_id: str, messages: list[Message]
    ) -> list[Message]:
        """Edit the clicked card into its fresh copy (`ButtonTraits.refreshes`); what is left
        is posted. If Teams refuses the edit, the copy is posted as a new message instead."""
        tag = self.traits.refreshes.get(action_id)
        fresh = next((m for m in messages if tag and tag in m.tags), None)
        if fresh is None:
            return messages
        activity = self._chat_activity(fresh)
        activity.id = card_id
        _address(activity, tc.activity)
        try:
            await _connector(tc).conversations.update_activity(
                activity.conversation.id, card_id, activity
            )
        except TRANSPORT_ERRORS as exc:
            log.warning("teams card not refreshed: %s", _delivery_error(exc).reason)
            return messages
        return [m for m in messages if m is not fresh]

    async def _on_installation(
        self, tc: TurnContext, shape: act.ActivityShape, facts: Facts, event: Event | None
    ) -> None:
        action = (shape.action or "").lower()
        if not facts.personal:
            return  # installed into a team or chat: nobody's 1:1 reference to keep
        if event is not None:
            # The engine stores the whole reference on this first contact; a new install is
            # welcomed with the help card. No admin is granted (design: "First admins").
            messages = await self._handle(event)
            if action == "add":
                await self._to_person(tc, facts, messages, reply=False)
        elif action == "remove":
            # Claimed for the deletion; a failure releases the claim and answers 503
            # (`RetryLater`), so Teams' redelivery deletes instead of being dropped.
            async with self.runtime.chat.claimed(facts.event_id) as first:
                if first:
                    await person_uninstalled(
                        self.runtime.ctx, PLATFORM, facts.tenant_id or "", facts.user_id or ""
                    )

    # --- invokes: dialogs ----------------------------------------------------------------

    async def _on_invoke(
        self, tc: TurnContext, shape: act.ActivityShape, facts: Facts, event: Event | None
    ) -> InvokeResponse:
        if shape.name not in translate.DIALOG_INVOKES:
            return InvokeResponse(status=HTTPStatus.NOT_IMPLEMENTED)
        if event is None:  # no tenant or no AAD user
            return InvokeResponse(status=HTTPStatus.OK)
        messages = await self._handle(event)
        if shape.name == "task/fetch":
            shown = next((m for m in messages if m.surface == "dialog"), None)
            if shown is None and messages:
                shown = _as_dialog(messages[0])
            return InvokeResponse(
                status=HTTPStatus.OK, body=render.dialog(shown) if shown else None
            )
        first = messages[0] if messages else None
        if first is not None and (first.surface == "dialog" or "error" in first.tags):
            # The check-in's advice stays in the dialog (privacy rule 10); so do errors.
            await self._to_person(tc, facts, messages[1:], reply=False)
            return InvokeResponse(status=HTTPStatus.OK, body=render.dialog(_as_dialog(first)))
        # Chat answers (the advice sent at the person's request, an admin result) go to the
        # 1:1 chat; an empty answer closes the dialog.
        await self._to_person(tc, facts, messages, reply=False)
        return InvokeResponse(status=HTTPStatus.OK)

    @staticmethod
    async def _answer_invoke(tc: TurnContext, response: InvokeResponse) -> None:
        await tc.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))

    # --- replies: always to the person ---------------------------------------------------

    async def _to_person(
        self, tc: TurnContext, facts: Facts, messages: Sequence[Message], *, reply: bool
    ) -> None:
        """Into the 1:1 chat the activity came from, or, from a channel, a 1:1 chat opened
        (or found again) for the sender, with a short note in the channel."""
        if not messages:
            return
        if facts.personal and reply:
            # A reply in the 1:1 chat, posted as JSON built here (the wire form botbuilder's
            # `send_activity` would produce, tests/test_teams.py compares them) instead of
            # through msrest's models and serialiser.
            try:
                for message in messages:
                    await self._reply(tc, message)
            except TRANSPORT_ERRORS as exc:
                log.warning("teams reply not delivered: %s", _delivery_error(exc).reason)
            return
        outgoing = [self._chat_activity(m) for m in messages]
        try:
            if facts.personal:
                for activity in outgoing:
                    await _post(_connector(tc), tc.activity, activity)
                return
        except TRANSPORT_ERRORS as exc:
            log.warning("teams reply not delivered: %s", _delivery_error(exc).reason)
            return
        t = copy_for(facts.locale or "en")
        try:
            await self._open_and_post(
                facts.service_url,
                facts.tenant_id or "",
                facts.member_id,
                facts.bot_id,
                outgoing,
            )
            note = t.say("sent_privately")
        except TRANSPORT_ERRORS as exc:
            log.warning("teams private reply not delivered: %s", _delivery_error(exc).reason)
            note = t.say("private_failed")
        try:
            await tc.send_activity(MessageFactory.text(note))
        except TRANSPORT_ERRORS as exc:
            log.warning("teams channel note not delivered: %s", _delivery_error(exc).reason)

    async def _reply(self, tc: TurnContext, msg: Message) -> None:
        incoming = tc.activity
        if incoming.delivery_mode == DeliveryModes.expect_replies:
            await tc.send_activity(self._chat_activity(msg))  # buffered into the response
            return
        body = reply_json(incoming, self._chat_json(msg))
        path = "/v3/conversations/{}/activities".format(quote(incoming.conversation.id, safe=""))
        if incoming.id:
            path += "/" + quote(incoming.id, safe="")
        await post_activity(self._session(), _connector(tc), path, body)

    def _chat_json(self, msg: Message) -> dict[str, Any]:
        """`_chat_activity` in its wire form."""
        traits = self.traits
        shown = _for_chat(msg, traits)
        return {
            "type": ActivityTypes.message,
            "attachmentLayout": "list",
            "summary": render.teams_wording(shown.fallback),
            "attachments": [
                {
                    "contentType": render.CARD_CONTENT_TYPE,
                    "content": _opening_dialogs(render.card(shown), traits),
                }
            ],
        }

    def _chat_activity(self, msg: Message) -> Activity:
        traits = self.traits
        shown = _for_chat(msg, traits)
        activity = MessageFactory.attachment(
            render.attachment(_opening_dialogs(render.card(shown), traits))
        )
        activity.summary = render.teams_wording(shown.fallback)  # the notification's text
        return activity

    # --- outbound (the Adapter port) -----------------------------------------------------

    def _bot_id(self, known: str | None = None) -> str:
        return known or (f"28:{self.app_id}" if self.app_id else "")

    async def _open_and_post(
        self,
        service_url: str,
        tenant_id: str,
        member_id: str,
        bot_id: str | None,
        activities: Sequence[Activity],
    ) -> tuple[str, list[str]]:
        """create_conversation (idempotent on Teams: the existing 1:1 comes back), then post."""
        params = _ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=self._bot_id(bot_id)),
            members=[ChannelAccount(id=member_id)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}},
        )
        out: list[tuple[str, list[str]]] = []

        async def posted(tc: TurnContext) -> None:
            client = _connector(tc)
            ids = [await _post(client, tc.activity, a) for a in activities]
            out.append((tc.activity.conversation.id, ids))

        await self.cloud.create_conversation(
            self.app_id, posted, params, channel_id=CHANNEL, service_url=service_url
        )
        return out[0]

    async def _in_conversation(
        self, to: ConversationRef, service_url: str, work: Callable[[TurnContext], Awaitable[T]]
    ) -> T:
        """continue_conversation with a stored reference; `work` runs in that turn."""
        reference = ConversationReference(
            channel_id=CHANNEL,
            service_url=service_url,
            conversation=ConversationAccount(
                id=to.channel_id, conversation_type="personal", tenant_id=to.tenant_id
            ),
            bot=ChannelAccount(id=self._bot_id(to.bot_id)),
            # No `user`: the conversation names the person, and only their AAD id is kept,
            # which is not a Bot Framework account id ("29:…") to put in `recipient`.
        )
        out: list[T] = []

        async def run(tc: TurnContext) -> None:
            out.append(await work(tc))

        await self.cloud.continue_conversation(reference, run, bot_app_id=self.app_id)
        return out[0]

    async def send(self, to: ConversationRef, msg: Message, *, key: str | None = None) -> SentRef:
        """Proactively, as the dispatcher asks. Teams carries no metadata to find a message
        again (not `Recoverable`): a send whose commit was lost is the documented window."""
        activity = self._chat_activity(msg)
        try:
            if to.channel_id and to.service_url:
                service_url = to.service_url
                message_id = await self._in_conversation(
                    to, service_url, lambda tc: _post(_connector(tc), tc.activity, activity)
                )
                conversation = to.channel_id
            else:
                service_url, conversation, message_id = await self._first_message(to, activity)
        except TRANSPORT_ERRORS as exc:
            raise _delivery_error(exc) from None
        return SentRef(PLATFORM, _encode(to.tenant_id, service_url, conversation), message_id)

    async def _first_message(self, to: ConversationRef, activity: Activity) -> tuple[str, str, str]:
        """Someone the bot has no 1:1 with yet: Teams opens one from the AAD id and tenant when
        the app is installed for them; otherwise there is no way to reach them."""
        service_url = (
            to.service_url
            or self._service_urls.get(to.tenant_id)
            or await known_service_url(self.runtime.ctx, PLATFORM, to.tenant_id)
        )
        if not to.user_id or not service_url:
            raise DeliveryError(NOT_INSTALLED, permanent=True)
        try:
            conversation, ids = await self._open_and_post(
                service_url, to.tenant_id, to.user_id, to.bot_id, [activity]
            )
        except HttpOperationError as exc:
            if _status(exc) in (403, 404):
                raise DeliveryError(NOT_INSTALLED, permanent=True) from None
            raise
        return service_url, conversation, ids[0]

    def address(self, tenant_id: str, user_id: str) -> ConversationRef:
        """Honest only when the app is installed for the person (then Teams opens the 1:1
        from their AAD id); otherwise `send` fails permanently with NOT_INSTALLED."""
        return ConversationRef(PLATFORM, tenant_id, "", None, user_id=user_id)

    async def update(self, ref: SentRef, msg: Message) -> None:
        tenant_id, service_url, conversation = _decode(ref.channel_id)
        activity = self._chat_activity(msg)
        activity.id = ref.message_id
        to = ConversationRef(PLATFORM, tenant_id, conversation, service_url)

        async def edit(tc: TurnContext) -> None:
            _address(activity, tc.activity)
            await _connector(tc).conversations.update_activity(
                conversation, ref.message_id, activity
            )

        try:
            await self._in_conversation(to, service_url, edit)
        except TRANSPORT_ERRORS as exc:
            raise _delivery_error(exc) from None

    # --- the Directory port: a team's members --------------------------------------------

    async def channel_members(self, tenant_id: str, channel_id: str) -> list[str]:
        """The AAD ids of the members of the team (or group chat) the command was sent in.
        Teams names channels by opaque ids, so `--from-channel` means this channel
        (`THIS_CHANNEL`, or the conversation's own id): the verified turn says which."""
        current = _CHANNEL_TURN.get()
        if current is None or channel_id not in (THIS_CHANNEL, current[1].conversation_id):
            raise UsageError("teams_from_channel")
        tc, facts = current
        client = _connector(tc)
        members: list[str] = []
        token: str | None = None
        try:
            while True:
                page = await client.conversations.get_teams_conversation_paged_members(
                    facts.team_id or facts.conversation_id, 500, token
                )
                members += [m.aad_object_id for m in page.members or [] if m.aad_object_id]
                token = page.continuation_token
                if not token:
                    break
        except TRANSPORT_ERRORS as exc:
            raise _delivery_error(exc) from None
        return sorted(set(members))


# --- helpers ---------------------------------------------------------------------------------


class _ConversationParameters(ConversationParameters):
    """botbuilder 4.17 serialises `tenant_id` as `tenantID`; Teams documents `tenantId`.
    (`channelData.tenant.id`, which Teams reads too, is sent as well.)"""

    _attribute_map: ClassVar[dict[str, dict[str, str]]] = {
        **ConversationParameters._attribute_map,
        "tenant_id": {"key": "tenantId", "type": "str"},
    }


def _connector(tc: TurnContext) -> ConnectorClient:
    return tc.turn_state[tc.adapter.BOT_CONNECTOR_CLIENT_KEY]


_ACCOUNT_KEYS = (
    ("id", "id"),
    ("name", "name"),
    ("aad_object_id", "aadObjectId"),
    ("role", "role"),
    ("properties", "properties"),
)
_CONVERSATION_KEYS = (
    ("is_group", "isGroup"),
    ("conversation_type", "conversationType"),
    *_ACCOUNT_KEYS[:4],
    ("tenant_id", "tenantId"),
    ("properties", "properties"),
)


def _wire(model: object, keys: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out = {}
    for attr, key in keys:
        value = getattr(model, attr, None)
        if value is not None:
            out[key] = value
    return out


def reply_json(incoming: Activity, body: dict[str, Any]) -> dict[str, Any]:
    """`body` addressed as a reply to `incoming`: what botbuilder's `TurnContext.send_activity`
    does (`apply_conversation_reference`: the channel, the service URL, the conversation, the
    bot as sender, the person as recipient, the incoming id replied to, its locale), here on
    plain JSON."""
    reply = dict(body)
    reply["channelId"] = incoming.channel_id
    reply["serviceUrl"] = incoming.service_url
    reply["conversation"] = _wire(incoming.conversation, _CONVERSATION_KEYS)
    reply["from"] = _wire(incoming.recipient, _ACCOUNT_KEYS)
    reply["recipient"] = _wire(incoming.from_property, _ACCOUNT_KEYS)
    if incoming.locale is not None:
        reply["locale"] = incoming.locale
    reply["replyToId"] = incoming.id
    reply.setdefault("inputHint", "acceptingInput")
    return {k: v for k, v in reply.items() if v is not None}


def _address(activity: Activity, context: Activity) -> None:
    reference = TurnContext.get_conversation_reference(context)
    TurnContext.apply_conversation_reference(activity, reference)
    activity.reply_to_id = None


async def _post(client: ConnectorClient, context: Activity, activity: Activity) -> str:
    """A new message in the turn's conversation (not a reply to the turn's activity, which
    for a proactive turn is a made-up continuation event)."""
    _address(activity, context)
    response = await client.conversations.send_to_conversation(activity.conversation.id, activity)
    return str(getattr(response, "id", "") or "")


def _for_chat(msg: Message, traits: ButtonTraits) -> Message:
    """A dialog answer that has to go into the chat: a form becomes a card whose button opens
    it, with the form's introduction above the button named after the form ("Five taps, under
    a minute. …  [Career check-in]"); anything else (a summary, advice on a topic) is shown as
    it is."""
    if msg.surface == "chat":
        return msg
    if msg.form is not None:
        opener = traits.openers.get(msg.form.form_id)
        if opener is None:
            text = Paragraph(msg.fallback)
            return Message(fallback=msg.fallback, blocks=(text,), locale=msg.locale)
        action_id = opener.action_id
        value = msg.form.private if opener.carries_private else ""
        title = msg.form.title or msg.fallback
        intro = tuple(b for b in msg.form.intro if isinstance(b, Paragraph | Heading | Bullets))
        button = Button(action_id, title, value=value, style="primary")
        return Message(
            fallback=msg.fallback,
            blocks=(*(intro or (Paragraph(title),)), Buttons((button,))),
            tags=msg.tags,
            locale=msg.locale,
        )
    return Message(
        fallback=msg.fallback,
        blocks=msg.blocks or (Paragraph(msg.fallback),),
        tags=msg.tags,
        locale=msg.locale,
    )


def _as_dialog(msg: Message) -> Message:
    if msg.surface == "dialog":
        return msg
    return Message(
        fallback=msg.fallback,
        blocks=msg.blocks or (Paragraph(msg.fallback),),
        surface="dialog",
        title=msg.title or "Rut Radar",
        tags=msg.tags,
        private=msg.private,
        locale=msg.locale,
    )


def _submits(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "Action.Submit" and isinstance(node.get("data"), dict):
            yield node["data"]
        for value in node.values():
            yield from _submits(value)
    elif isinstance(node, list):
        for value in node:
            yield from _submits(value)


def _opening_dialogs(card: dict[str, Any], traits: ButtonTraits) -> dict[str, Any]:
    """Buttons on a chat card whose answer is a dialog open a task module."""
    for data in _submits(card):
        if data.get("rr_action") in traits.dialogs:
            data.setdefault("msteams", {"type": "task/fetch"})
            data.pop("rr_private", None)
    return card


def _encode(tenant_id: str, service_url: str, conversation_id: str) -> str:
    return json.dumps([tenant_id, service_url, conversation_id], separators=(",", ":"))


def _decode(channel_id: str) -> tuple[str, str, str]:
    try:
        tenant_id, service_url, conversation_id = json.loads(channel_id)
    except (ValueError, TypeError):
        raise DeliveryError("not a Teams message reference", permanent=True) from None
    return str(tenant_id), str(service_url), str(conversation_id)


def _status(exc: HttpOperationError) -> int | None:
    """The HTTP status: msrest keeps the transport's response (aiohttp's names it `status`)."""
    status = getattr(exc.response, "status_code", None)
    if not isinstance(status, int):
        status = getattr(exc.response, "status", None)
    return status if isinstance(status, int) else None


def _delivery_error(exc: Exception) -> DeliveryError:
    """Bot Connector failures, sorted: 429 waits for Retry-After; 403 (MessageWritesBlocked,
    the bot removed), 404 (conversation or user gone), 400 and 413 are permanent; 412, 5xx,
    timeouts and connection errors are transient."""
    if isinstance(exc, HttpOperationError):
        status = _status(exc)
        code = getattr(getattr(getattr(exc, "error", None), "error", None), "code", None)
        reason = f"http {status}" + (f" {code}" if code else "")
        if status == 429:
            headers = getattr(exc.response, "headers", None) or {}
            return DeliveryError(reason, permanent=False, retry_after=_retry_after(headers))
        if status in PERMANENT_STATUSES:
            return DeliveryError(f"{reason} ({PERMANENT_STATUSES[status]})", permanent=True)
        if status is not None and 400 <= status < 500 and status not in (401, 408, 412):
            return DeliveryError(reason, permanent=True)
        return DeliveryError(reason, permanent=False)
    if isinstance(exc, ClientRequestError | requests.RequestException | OSError | TimeoutError):
        return DeliveryError(f"connection: {type(exc).__name__}", permanent=False)
    if isinstance(exc, PermissionError):
        return DeliveryError("no access token", permanent=False)
    return DeliveryError(f"unexpected {type(exc).__name__}", permanent=False)


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", "1") or 1))
    except ValueError:
        return 1.0
