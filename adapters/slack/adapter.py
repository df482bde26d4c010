"""The Slack adapter: slack-bolt's AsyncApp mounted in the project's aiohttp server.

Bolt does the Slack plumbing (OAuth, authorization, acks, `respond`); the engine does all the
thinking. Requests are verified here first, with the injected clock, then parsed and validated
in one place (`payloads`), so a forged or stale request gets 401 and a malformed one 400, with
one WARNING line naming the field, before any listener runs. Bolt is handed the validated body
(already parsed: its own form parser misreads slash commands, see `payloads.BOLT_PARSE_BODY`),
and listeners read the typed request from Bolt's context, never the raw body.
"""

from __future__ import annotations

import contextlib
import contextvars
import hmac
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.admin.workspaces import installed_by, platform_uninstalled
from bot.core.errors import RetryLater, UsageError
from bot.core.events import ConversationRef, Event, HomeOpened
from bot.core.ports import THIS_CHANNEL, DeliveryError, SentRef, UnknownPerson
from bot.server.logs import logged_when_refused
from bot.server.runtime import Runtime
from messages.model import Message, Paragraph
from storage.slack_store import OAUTH_STATES_TABLE, EncryptedInstallationStore

from . import translate
from .payloads import (
    PLATFORM,
    SLACK_RESPONSE_ORIGINS,
    AppRateLimited,
    BlockActions,
    EventCallback,
    IgnoredEvent,
    MalformedPayload,
    Request,
    SlashCommand,
    SslCheck,
    TeamAccessRevoked,
    TokensRevoked,
    UrlVerification,
    ViewSubmission,
    bolt_body,
    installation_key,
    origin_of,
    parse_data,
    parse_request,
    where,
)
from .people import PeopleCache, SlackPerson
from .render import ephemeral_reply, home_view, message_payload, modal_json, modal_view
from .translate import NOBODY, Sender

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
SCOPES = (
    "commands",
    "chat:write",
    "im:write",
    "im:history",
    "users:read",
    "users:read.email",
    "channels:read",
    "groups:read",
)
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_not_visible",
        "user_disabled",
        "no_permission",
        "restricted_action",
        "invalid_blocks",
        "msg_blocks_too_long",
        "invalid_arguments",
        "view_too_large",
        "not_enabled",
        "message_not_found",
        "cant_update_message",
        "cannot_dm_bot",
    }
)
JSON = dict[str, Any]
METADATA_EVENT = "rutradar_delivery"
INBOUND = "rutradar_request"  # the validated request, in Bolt's context
COMMAND = "/rut"
# How `events` hands Bolt a request: as a body Bolt need not verify nor parse. Bolt's two
# modes differ only there (`AsyncBoltRequest`: "http" takes the raw text, to verify with its
# `RequestVerification` and parse; "socket_mode" a parsed dict, never verified), and a request
# reaching Bolt from `events` is verified (`_verified`) and parsed (`payloads`) already.
PARSED = "socket_mode"
R = TypeVar("R")
# What a delivery Slack should retry is answered with (any non-2xx is retried; 503 says the
# failure is this side's and passing).
RETRY_LATER = HTTPStatus.SERVICE_UNAVAILABLE
# Recent DM messages searched for a delivery id: one conversations.history call. 15 is the
# most Slack returns per call (1 call a minute) to apps distributed outside the Marketplace
# since May 2025; docs/slack.md says what recovery costs in that mode.
RECOVERY_WINDOW = 15
# Slack's replay window: a request signed longer ago than this, or ahead of it, is refused.
REPLAY_WINDOW = 60 * 5


def _held_at_warning(name: str) -> logging.Logger:
    """A logger for Bolt or slack_sdk with its own level set to WARNING. Both test
    `logger.level <= DEBUG`, the logger's own level (0 when unset), not the effective one,
    before building their debug lines: every Web API call's request and response bodies and
    every Bolt middleware's name, formatted on each request and then dropped by the WARNING
    clamp (`bot.server.logs`), a tenth of a `views.open`. Privacy rule 4 holds them at WARNING
    in any case."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    return logger


BOLT_LOGGER = _held_at_warning("slack_bolt.rutradar")  # Bolt copies its level to its own loggers
SDK_LOGGER = _held_at_warning("slack_sdk.rutradar")  # every Web API client's, Bolt's included


# The channel a slash command was typed in, for `--from-channel` alone (`THIS_CHANNEL`): set
# by the command's listener, read only while the engine handles that same command.
_COMMAND_CHANNEL: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rutradar_slack_command_channel", default=None
)


class SlackAdapter:
    platform: ClassVar[str] = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.api_url = settings.slack_api_url or DEFAULT_API_URL
        self.people = PeopleCache(runtime.ctx.clock)
        # Where a `response_url` may point: Slack, and the configured API (a fake in tests).
        self.response_origins = SLACK_RESPONSE_ORIGINS | (
            {origin_of(settings.slack_api_url)} if settings.slack_api_url else set()
        )
        # Bolt's own verification is off (`request_verification_enabled=False`): `_verified`
        # does it once, before anything is parsed.
        secret = settings.slack_signing_secret
        self._secret = secret.encode() if secret else None
        self.oauth = bool(settings.slack_client_id and settings.slack_client_secret)
        self.installations: EncryptedInstallationStore | None = None
        oauth_settings = None
        if self.oauth:
            assert settings.slack_client_id and settings.slack_client_secret
            engine = runtime.ctx.database
            # slack_sdk's store and tables; tokens encrypted with RUTRADAR_SECRET_KEY (the
            # composition root refuses OAuth without one, so no token is stored in clear).
            self.installations = EncryptedInstallationStore(
                settings.slack_client_id, engine, settings.secret_key
            )
            oauth_settings = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=list(SCOPES),
                installation_store=self.installations,
                installation_store_bot_only=True,
                state_store=AsyncSQLAlchemyOAuthStateStore(
                    expiration_seconds=600, engine=engine, table_name=OAUTH_STATES_TABLE
                ),
                callback_options=AsyncCallbackOptions(
                    success=self._installed, failure=self._install_failed
                ),
            )
        # Single-workspace mode when there is a bot token and no OAuth.
        self.client = AsyncWebClient(
            token=None if self.oauth else settings.slack_bot_token,
            base_url=self.api_url,
            logger=SDK_LOGGER,
        )
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret or "socket-mode",
            oauth_settings=oauth_settings,
            installation_store_bot_only=True if self.oauth else None,
            process_before_response=True,  # listeners finish before the ack: no dropped tasks
            request_verification_enabled=False,  # done in `events`, with the injected clock
            # Bolt runs each built-in middleware on every request (a Bolt round each, about
            # 2 % of `/rut help`); these have nothing to do here. The handshakes are answered
            # by `_answer_directly`; no request reaching Bolt carries a function token
            # (`bolt_body` keeps the validated fields only); and the bot's own messages in its
            # DM, all self events could be, are only acknowledged (`_ack_only`).
            ssl_check_enabled=False,
            url_verification_enabled=False,
            attaching_function_token_enabled=False,
            ignoring_self_events_enabled=False,
            raise_error_for_unhandled_request=False,
            logger=BOLT_LOGGER,
        )
        self._register()

    # --- HTTP ----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.router.add_post("/slack/events", self.events)
        app.cleanup_ctx.append(self._http_session)
        if self.oauth:
            app.router.add_get("/slack/install", self.oauth_start)
            app.router.add_get("/slack/oauth_redirect", self.oauth_redirect)
        if self.runtime.settings.slack_app_token:
            app.cleanup_ctx.append(self._socket_mode)

    @logged_when_refused  # answered deliveries are counted in the metrics
    async def events(self, request: web.Request) -> web.StreamResponse:
        """Verify, parse and validate, then let Bolt dispatch the validated body."""
        body = await request.read()
        if not self._verified(body, request.headers):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            inbound = parse_request(
                body,
                request.headers.get("Content-Type", ""),
                response_origins=self.response_origins,
            )
        except MalformedPayload as exc:
            self._reject(exc)
            return web.json_response({"error": f"malformed request: {exc}"}, status=400)
        response = self._answer_directly(inbound)
        if response is None:
            # Bolt is told only what its routing reads: the validated body, parsed. No query
            # string, and none of the request's headers (which it would copy and lower-case
            # on every request; `X-Slack-Bolt-Lazy-Only` would even make it skip the listener).
            response = await self.bolt.async_dispatch(
                AsyncBoltRequest(body=bolt_body(inbound), context={INBOUND: inbound}, mode=PARSED)
            )
        if response.status == RETRY_LATER:  # set by `_on_error` only: Slack retries it
            return web.Response(status=RETRY_LATER)
        if response.status >= 500:
            return web.json_response({"error": "the request could not be handled"}, status=400)
        return _to_aiohttp(response)

    async def _on_error(self, error: Exception) -> BoltResponse:
        """Bolt's error handler, for listeners and middleware: what a failure answers Slack.
        A claimed Events API delivery whose handling failed (`RetryLater`, its cause logged
        and its claim released by the engine) gets a bare 503, so Slack retries it
        (`X-Slack-Retry-Num`) and the retry does the work: one WARNING line. Anything else is
        logged with its traceback and answered as before (`events` turns a 500 into a 400)."""
        if isinstance(error, RetryLater):
            log.warning("slack event left for Slack's retry (%s): %s", RETRY_LATER, error)
            return BoltResponse(status=RETRY_LATER, body="")
        log.error("slack listener failed: %s", type(error).__name__, exc_info=error)
        return BoltResponse(status=500, body="")

    async def _check_socket_request(
        self,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        """Bolt middleware: Socket Mode requests reach Bolt without passing `events`, so they
        are validated here, by the same code (HTTP requests arrive already validated)."""
        if INBOUND in req.context:
            return await next()
        try:
            inbound = parse_data(req.body, response_origins=self.response_origins)
        except MalformedPayload as exc:
            self._reject(exc)
            return BoltResponse(status=400, body={"error": f"malformed request: {exc}"})
        response = self._answer_directly(inbound)
        if response is not None:
            return response
        req.context[INBOUND] = inbound
        return await next()

    def _reject(self, reason: MalformedPayload) -> None:
        """The one error path for bad input: counted, and one WARNING line naming the field
        (never its value)."""
        self.runtime.metrics.rejected.labels(PLATFORM).inc()
        log.warning("slack request refused (400): %s", reason)

    def _answer_directly(self, inbound: Request) -> BoltResponse | None:
        """What needs no listener: the handshakes, Slack throttling the app, events nobody
        subscribed to."""
        if isinstance(inbound, UrlVerification):
            return BoltResponse(status=200, body={"challenge": inbound.challenge})
        if isinstance(inbound, SslCheck):
            return BoltResponse(status=200, body="")
        if isinstance(inbound, AppRateLimited):
            self.runtime.metrics.rate_limited.labels(PLATFORM).inc()
            log.warning(
                "slack app_rate_limited: Slack holds back this app's events for %s this minute",
                inbound.team_id or "a workspace",
            )
            return BoltResponse(status=200, body="")
        if isinstance(inbound, IgnoredEvent):
            return BoltResponse(status=200, body="")
        return None

    def _verified(self, body: bytes, headers: Any) -> bool:
        """Signature and the 5-minute window, against the injected clock: slack_sdk's
        `SignatureVerifier` rule (platforms.md §1) over the raw bytes, so a body need not be
        decoded and encoded again to be checked, and one that is not UTF-8 but correctly
        signed is malformed (400), not forged (401)."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if self._secret is None or not signature.isascii() or not signature:
            return False
        if not (timestamp.isascii() and timestamp.isdigit()):
            return False
        if abs(self.runtime.ctx.clock.now().timestamp() - int(timestamp)) > REPLAY_WINDOW:
            return False
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.digest(self._secret, base, "sha256").hex()
        return hmac.compare_digest(expected, signature)

    async def oauth_start(self, request: web.Request) -> web.StreamResponse:
        assert self.bolt.oauth_flow is not None
        bolt_request = AsyncBoltRequest(
            body="", query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(
            await self.bolt.oauth_flow.handle_installation(bolt_request)
        )

    async def oauth_redirect(self, request: web.Request) -> web.StreamResponse:
        assert self.bolt.oauth_flow is not None
        bolt_request = AsyncBoltRequest(
            body="", query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(await self.bolt.oauth_flow.handle_callback(bolt_request))

    async def _http_session(self, _app: web.Application) -> Any:
        """One aiohttp session (and its keep-alive connections) for every Web API call while
        the app serves: without one, slack_sdk opens a new session, and a new connection,
        per call (`views.open` for every `/rut advice`, each post of a fan-out)."""
        async with self.http_session():
            yield

    @contextlib.asynccontextmanager
    async def http_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The Web API clients share one session inside this block (the dispatcher's sends,
        Bolt's per-request clients, which copy `self.client.session`)."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        self.client.session = session
        try:
            yield session
        finally:
            self.client.session = None
            await session.close()

    async def _socket_mode(self, _app: web.Application) -> Any:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(self.bolt, self.runtime.settings.slack_app_token)
        await handler.connect_async()
        yield
        await handler.close_async()

    # --- OAuth ---------------------------------------------------------------------------

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        """The installer becomes the workspace's first admin (design: "First admins")."""
        installation = args.installation
        team_id = installation_key(
            installation.enterprise_id,
            installation.team_id,
            bool(installation.is_enterprise_install),
        )
        await installed_by(
            self.runtime.ctx,
            PLATFORM,
            team_id,
            name=installation.team_name or team_id,
            installer_user_id=installation.user_id,
            installer_ref=where(team_id, installation.user_id),
            installation={  # no tokens: those live in slack_sdk's installation store only
                "app_id": installation.app_id,
                "bot_user_id": installation.bot_user_id,
                "enterprise_id": installation.enterprise_id,
            },
        )
        return await args.default.success(args)

    async def _install_failed(self, args: AsyncFailureArgs) -> BoltResponse:
        log.warning("slack installation failed: %s", args.reason)
        return await args.default.failure(args)

    # --- listeners -----------------------------------------------------------------------

    def _register(self) -> None:
        bolt = self.bolt
        bolt.error(self._on_error)
        if self.runtime.settings.slack_app_token:
            # Socket Mode requests reach Bolt without passing `events`: validated here. Over
            # HTTP every request was validated in `events`, and a pass-through middleware would
            # still cost each request Bolt's middleware round (about 3 % of `/rut help`).
            bolt.middleware(self._check_socket_request)
        # `/rut`, block actions and view submissions: see `_Answers`.
        bolt.middleware(_Answers(self._on_command, self._on_action, self._on_view_submission))
        bolt.view_closed(re.compile(".*"))(self._ack_only)
        bolt.event("app_home_opened")(self._on_home_opened)
        bolt.event("app_uninstalled")(self._on_uninstalled)
        bolt.event("tokens_revoked")(self._on_uninstalled)
        bolt.event("team_access_revoked")(self._on_uninstalled)
        bolt.event("message")(self._ack_only)

    async def _ack_only(self, ack: AsyncAck) -> None:
        await ack()

    async def _sender(self, client: AsyncWebClient, request: Request) -> Sender:
        """What Slack says about the person behind a request (users.info, cached)."""
        person_of = translate.who(request)
        person = await self._lookup(client, *person_of) if person_of is not None else None
        if person is None:
            return NOBODY
        return Sender(
            display_name=person.name,
            timezone=person.timezone,
            # Single-token mode: Slack's own admins are the first admins.
            grants_admin=person.is_admin and not self.oauth,
        )

    async def _lookup(
        self, client: AsyncWebClient, team_id: str, user_id: str
    ) -> SlackPerson | None:
        if self.people.unwarmed(team_id, user_id):
            # The first of a burst of first contacts (a round's prompts went out): the whole
            # workspace's people come in the background, 200 a call, so the rest of the burst
            # needs no users.info each (Slack allows it about a hundred times a minute).
            self.runtime.supervisor.spawn(self.people.warm(client, team_id), name="slack-people")
        try:
            return await self.people.get(client, team_id, user_id)
        except SlackApiError:
            return None

    async def _answer(self, what: str, call: Awaitable[Any]) -> None:
        """A call made while answering a request (open a modal, post to a response_url):
        Slack may refuse it (an expired trigger, a view already closed) or the network may
        fail; that is one WARNING line, and the request is still answered."""
        try:
            await call
        except SlackApiError as exc:
            log.warning("slack %s failed: %s", what, str(exc.response.get("error", ""))[:64])
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack %s failed: %s", what, type(exc).__name__)

    async def _on_command(
        self, ack: AsyncAck, client: AsyncWebClient, respond: Any, context: Any
    ) -> BoltResponse | None:
        """The first chat message is the command's HTTP answer: returned to Bolt as the
        response, already rendered (`ephemeral_reply`, kept for the help), rather than through
        `ack(**payload)`, which would turn the blocks to JSON again on every request.
        (`_Answers` answers with what this returns, or else with what was acked.)"""
        command = _request(context, SlashCommand)
        event = translate.command(command, await self._sender(client, command))
        _COMMAND_CHANNEL.set(command.channel_id)  # this listener's own task: nobody else's
        messages = await self._handle(event)
        chat = [m for m in messages if m.surface == "chat"]
        dialog = next((m for m in messages if m.surface == "dialog"), None)
        if dialog is not None:
            await self._answer(
                "views.open",
                client.api_call(
                    "views.open",
                    json={"trigger_id": command.trigger_id, "view": modal_json(dialog)},
                ),
            )
        if not chat:
            await ack()
            return None
        for extra in chat[1:]:
            await self._answer(
                "response_url", respond(response_type="ephemeral", **message_payload(extra))
            )
        return BoltResponse(status=200, body=ephemeral_reply(chat[0]))

    async def _on_action(
        self, ack: AsyncAck, client: AsyncWebClient, respond: Any, context: Any
    ) -> None:
        await ack()
        request = _request(context, BlockActions)
        user_id, view = request.user.id, request.view
        sender = await self._sender(client, request)
        event = translate.action(request, sender)
        messages = await self._handle(event)
        for message in messages:
            if message.surface == "dialog":
                # The view as JSON text, kept for a `cacheable` dialog (the check-in form):
                # encoding its five questions again for every press was a tenth of a press.
                if view is not None and view.type == "modal":
                    await self._answer(
                        "views.update",
                        client.api_call(
                            "views.update", json={"view_id": view.id, "view": modal_json(message)}
                        ),
                    )
                else:
                    await self._answer(
                        "views.open",
                        client.api_call(
                            "views.open",
                            json={"trigger_id": request.trigger_id, "view": modal_json(message)},
                        ),
                    )
            elif request.response_url and view is None:
                await self._answer(
                    "response_url",
                    respond(
                        response_type="ephemeral",
                        replace_original=False,
                        **message_payload(message),
                    ),
                )
            else:
                await self._answer(
                    "chat.postMessage",
                    client.chat_postMessage(channel=user_id, **message_payload(message)),
                )
        refresh = translate.home_refresh(request, sender)
        if refresh is not None:
            await self._publish_home(client, refresh)

    async def _on_view_submission(
        self, ack: AsyncAck, client: AsyncWebClient, context: Any
    ) -> None:
        request = _request(context, ViewSubmission)
        event = translate.form(request, await self._sender(client, request))
        messages = await self._handle(event)
        if not messages:
            await ack()
            return
        first = messages[0]
        # An error is shown under the form's first input, by its block id. (The inputs' state
        # is turned into plain values once, by `translate.form`: twice was 2–4 % of a
        # submission's samples.)
        blocks = request.view.state.values if request.view.state is not None else {}
        if "error" in first.tags and blocks:
            await ack(response_action="errors", errors={next(iter(blocks)): first.fallback[:150]})
            return
        shown = first if first.surface == "dialog" else _as_dialog(first)
        await ack(response_action="update", view=modal_view(shown))

    async def _on_home_opened(self, client: AsyncWebClient, context: Any) -> None:
        envelope = _request(context, EventCallback)
        if translate.home_opened(envelope) is None:
            return  # the Messages tab: not the bot's to draw, and no one to look up
        opened = translate.home_opened(envelope, await self._sender(client, envelope))
        assert opened is not None
        await self._publish_home(client, opened)

    async def _publish_home(self, client: AsyncWebClient, home: HomeOpened) -> None:
        messages = await self._handle(home)
        if messages:
            await self._answer(
                "views.publish",
                client.views_publish(user_id=home.user_id, view=home_view(messages)),
            )

    async def _on_uninstalled(self, context: Any) -> None:
        """One listener for all three (Bolt runs only the first match): delete at once.

        The installation is the one the event was delivered for, `authorizations[0]` as Bolt
        reads it: an org-wide install's envelope has `team_id: null`, and in a shared channel
        the envelope's team may be another workspace's."""
        envelope = _request(context, EventCallback)
        event = envelope.event
        if isinstance(event, TokensRevoked) and not event.tokens.bot:
            return  # only user tokens went; the bot still works
        # Claimed for the deletion: if it fails, the claim is released and Slack is answered
        # 503 (`RetryLater`), whose retry then deletes, instead of being dropped as a duplicate.
        async with self.runtime.chat.claimed(f"slack:{envelope.event_id}") as first:
            if not first:
                return
            installation = envelope.installation
            if isinstance(event, TeamAccessRevoked):
                # An org-wide app lost these workspaces; the org's installation stays.
                for team_id in event.team_ids:
                    await self._forget(installation.enterprise_id, team_id, team_id)
                return
            await self._forget(
                installation.enterprise_id,
                None if installation.is_enterprise_install else installation.team_id,
                installation.key,
            )

    async def _forget(self, enterprise_id: str | None, team_id: str | None, key: str) -> None:
        """Tokens from slack_sdk's store (its rows are keyed as Bolt keys installations), and
        the workspace's data (the design's deletion table)."""
        if self.installations is not None:
            await self.installations.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)
        await platform_uninstalled(self.runtime.ctx, PLATFORM, key)

    async def _handle(self, event: Event) -> list[Message]:
        self.runtime.metrics.event(PLATFORM, type(event).__name__)
        return await self.runtime.chat.handle(event)

    # --- outbound (the Adapter port) -----------------------------------------------------

    async def _client_for(self, team_id: str) -> AsyncWebClient:
        if not self.oauth:
            return self.client
        assert self.installations is not None
        org_wide = team_id.startswith("E")  # an org-wide install's workspace is its enterprise
        bot = await self.installations.async_find_bot(
            enterprise_id=team_id if org_wide else None,
            team_id=None if org_wide else team_id,
            is_enterprise_install=org_wide,
        )
        if bot is None:
            raise DeliveryError("no installation for this workspace", permanent=True)
        return AsyncWebClient(
            token=bot.bot_token,
            base_url=self.api_url,
            session=self.client.session,
            logger=SDK_LOGGER,
        )

    async def send(self, to: ConversationRef, msg: Message, *, key: str | None = None) -> SentRef:
        client = await self._client_for(to.tenant_id)
        await self.people.warm(client, to.tenant_id)
        person = await self._lookup(client, to.tenant_id, to.channel_id)
        if person is not None and person.deleted:
            raise DeliveryError("user_disabled", permanent=True)
        extra: dict[str, Any] = {}
        if key is not None:
            extra["metadata"] = {
                "event_type": METADATA_EVENT,
                "event_payload": {"delivery_id": key},
            }
        response = await _call(
            client.chat_postMessage, channel=to.channel_id, **message_payload(msg), **extra
        )
        return SentRef(PLATFORM, f"{to.tenant_id}:{response['channel']}", str(response["ts"]))

    def address(self, tenant_id: str, user_id: str) -> ConversationRef:
        return where(tenant_id, user_id)

    async def find_sent(self, to: ConversationRef, key: str) -> SentRef | None:
        """Recovery after a lost commit: the DM's recent messages, by the delivery id they carry."""
        client = await self._client_for(to.tenant_id)
        opened = await _call(client.conversations_open, users=to.channel_id)
        channel = opened["channel"]["id"]
        history = await _call(
            client.conversations_history,
            channel=channel,
            limit=RECOVERY_WINDOW,
            include_all_metadata=True,
        )
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("delivery_id") == key:
                return SentRef(PLATFORM, f"{to.tenant_id}:{channel}", str(message["ts"]))
        return None

    async def update(self, ref: SentRef, msg: Message) -> None:
        team_id, _, channel = ref.channel_id.partition(":")
        client = await self._client_for(team_id)
        await _call(client.chat_update, channel=channel, ts=ref.message_id, **message_payload(msg))

    async def resolve_person(self, tenant_id: str, name: str) -> str:
        """A user id or an e-mail address as a Slack user id that Slack knows (users.info;
        users.lookupByEmail, which needs the users:read.email scope)."""
        client = await self._client_for(tenant_id)
        value = name.strip()
        if "@" in value.lstrip("@"):
            try:
                response = await _call(client.users_lookupByEmail, email=value)
            except DeliveryError as exc:
                if exc.reason == "users_not_found":
                    raise UnknownPerson("slack_no_email", email=value) from None
                raise
            return str((response.get("user") or {}).get("id", ""))
        try:
            person = await self.people.get(client, tenant_id, value)
        except SlackApiError as exc:
            raise DeliveryError(str(exc.response.get("error", "")), permanent=False) from None
        if person is None:
            raise UnknownPerson("slack_unknown_user", user=value)
        if person.deleted:
            raise UnknownPerson("slack_deactivated", name=person.name or value)
        if person.is_bot:
            raise UnknownPerson("slack_bot", name=person.name or value)
        return value

    async def channel_members(self, tenant_id: str, channel_id: str) -> list[str]:
        """Humans in a channel (conversations.members, paginated), bots and deactivated left out.
        `THIS_CHANNEL` is the channel the slash command being handled was typed in."""
        if channel_id == THIS_CHANNEL:
            channel_id = _COMMAND_CHANNEL.get() or ""
            if not channel_id:
                raise UsageError("slack_from_channel_name")
        client = await self._client_for(tenant_id)
        members: list[str] = []
        cursor = None
        while True:
            response = await _call(
                client.conversations_members, channel=channel_id, cursor=cursor, limit=200
            )
            members.extend(response.get("members") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        humans = []
        for user_id in members:
            person = await self._lookup(client, tenant_id, user_id)
            if person is not None and not person.is_bot and not person.deleted:
                humans.append(user_id)
        return humans


class _Answers(AsyncMiddleware):
    """`/rut`, a block action and a view submission, answered by Bolt's last global middleware
    rather than by listeners.

    Bolt runs it after its authorization, with the same context a listener gets (the
    authorized `client`, `ack`, `respond`); an error in it goes to the same handler
    (`AsyncApp.error`, both kinds: `_on_error`), answered the same way, and it finishes before
    the response as every listener here does (`process_before_response`). What it saves is a
    listener's dispatch, which none of these needs: Bolt matches every listener against the
    request in turn, and for the one that matches builds the full set of keyword arguments a
    listener *may* ask for (forty-odd, from `say` to the assistant's thread context) twice,
    for its matcher and for the function. That was a seventh of `/rut help`'s CPU; `events`
    has already told what the request is (`payloads`). Anything else (events, a closed view),
    and a command other than `/rut` (answered 404, as Bolt answers what no listener handles),
    goes on to the listeners."""

    def __init__(
        self,
        command: Callable[..., Awaitable[BoltResponse | None]],
        action: Callable[..., Awaitable[None]],
        submission: Callable[..., Awaitable[None]],
    ) -> None:
        self._command = command
        self._action = action
        self._submission = submission

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt's name for it
    ) -> BoltResponse | None:
        context = req.context
        inbound = context.get(INBOUND)
        ack = context.ack
        response = None
        if isinstance(inbound, SlashCommand) and inbound.command == COMMAND:
            response = await self._command(ack, context.client, context.respond, context)
        elif isinstance(inbound, BlockActions):
            await self._action(ack, context.client, context.respond, context)
        elif isinstance(inbound, ViewSubmission):
            await self._submission(ack, context.client, context)
        else:
            await next()
            return resp
        return response or ack.response or BoltResponse(status=200, body="")


def _to_aiohttp(response: BoltResponse) -> web.Response:
    """A listener's answer as an aiohttp response: Bolt's `to_aiohttp_response` (a tenth of
    Bolt's share of `/rut help`) minus what only the OAuth pages use, cookies, whose
    answers still go through Bolt's."""
    headers = response.first_headers_without_set_cookie()
    content_type = headers.pop("content-type", "").split(";", 1)[0].strip()
    return web.Response(
        status=response.status,
        text=response.body,
        headers=headers,
        content_type=content_type
        or ("application/json" if response.body.startswith("{") else "text/plain"),
    )


def _request(context: Any, kind: type[R]) -> R:
    """The validated request a listener serves (put in Bolt's context by `events` or by
    `_check_socket_request`)."""
    request = context.get(INBOUND)
    if not isinstance(request, kind):
        raise TypeError(f"expected a validated {kind.__name__}, found {type(request).__name__}")
    return request


def _as_dialog(message: Message) -> Message:
    return Message(
        fallback=message.fallback,
        blocks=message.blocks or (Paragraph(message.fallback),),
        surface="dialog",
        title="Rut Radar",
        tags=message.tags,
        locale=message.locale,
    )


async def _call(method: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
    """A Web API call with Slack's errors sorted into permanent and transient."""
    try:
        return await method(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if exc.response.status_code == 429:
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            raise DeliveryError("ratelimited", permanent=False, retry_after=retry_after) from None
        raise DeliveryError(
            error or f"http {exc.response.status_code}", permanent=error in PERMANENT_ERRORS
        ) from None
    except (OSError, aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"connection: {type(exc).__name__}", permanent=False) from None


__all__: Sequence[str] = ("SlackAdapter",)
