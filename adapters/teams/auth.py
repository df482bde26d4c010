"""Bot Framework authentication for the Teams adapter: botbuilder's own validation of inbound
tokens, with three things botbuilder 4.17 does slowly or on the event loop done differently.

- Inbound: `ConfigurationBotFrameworkAuthentication(cfg)` validates every request (signature
  against the OpenID keys, issuer, audience = our app id, the `serviceurl` claim against the
  activity, the channel's endorsement, expiry with its 5-minute leeway). Nothing here changes
  what it checks. Its key cache (`JwtTokenExtractor.metadataCache`) fetches keys with blocking
  `requests` calls from inside the event loop; `use_off_loop_keys` puts a subclass in that cache
  that fetches in a worker thread, with a timeout, one refresh at a time.
- Outbound: botbuilder builds new credentials (a new MSAL app, so a new token request) and a
  new `ConnectorClient` for every turn and every proactive message. `ReusedConnectors` keeps
  one client per service URL and `CachedCredentials` one credentials object per app id, whose
  token is fetched asynchronously (OAuth 2 client credentials over aiohttp) and refreshed
  before it expires, so `signed_session` (which msrest calls synchronously) only reads it.

- Inbound, again: a header botbuilder validated is remembered (`_Validated`) for the same
  channel and service URL until the token's `exp` or the next signing-key refresh, so the
  Bot Connector's token, reused for an hour, is not re-verified (RSA) on every activity.

JWT expiry is checked by PyJWT against the wall clock: that is the one place time does not come
from the injected clock, and it is only about authentication.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.auth.jwt_token_extractor import (
    JwtTokenExtractor,
    _OpenIdConfig,
    _OpenIdMetadata,
)
from jwt.algorithms import RSAAlgorithm
from msrest.authentication import Authentication
from msrest.exceptions import ClientRequestError
from msrest.pipeline import AsyncHTTPSender, AsyncPipeline, Request, Response, SansIOHTTPPolicy
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse
from urllib3.util.retry import Retry

from bot.core.clock import Clock
from bot.server.config import Settings

log = logging.getLogger(__name__)

CHANNEL_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
LOGIN_PREFIX = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
CHANNEL_METADATA = AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
EMULATOR_METADATA = AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
PASSWORD_APP_TYPES = frozenset({"multitenant", "singletenant"})
KEY_FETCH_TIMEOUT = 10.0  # seconds, per request, for the OpenID metadata and the keys
CALL_TIMEOUT = 30  # seconds, per connector call; the dispatcher retries what times out
TOKEN_EARLY = timedelta(minutes=5)  # refresh an access token this long before it expires
MAX_VALIDATED = 4096  # validated tokens remembered (the Bot Connector reuses one for an hour)
MAX_CLIENTS = 64  # connector clients kept, by service URL (Teams uses a handful per region)


def bot_framework_config(settings: Settings) -> SimpleNamespace:
    """The configuration object botbuilder reads (samples fill it from `MicrosoftAppId`...).

    With `MICROSOFT_OPENID_METADATA_URL` set (tests: a local fake), botbuilder's
    parameterized authentication takes that URL for channel and emulator tokens, with the
    public cloud's issuer and scope, so the same validation code runs against it."""
    cfg = SimpleNamespace(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=settings.microsoft_app_password or "",
        APP_TYPE=settings.microsoft_app_type or "MultiTenant",
        APP_TENANTID=settings.microsoft_app_tenant_id or "",
    )
    if settings.microsoft_openid_metadata_url:
        cfg.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.microsoft_openid_metadata_url
        cfg.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = settings.microsoft_openid_metadata_url
        cfg.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = CHANNEL_ISSUER
        cfg.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = SCOPE
        cfg.TO_CHANNEL_FROM_BOT_LOGIN_URL = settings.microsoft_login_url or LOGIN_PREFIX
        cfg.OAUTH_URL = AuthenticationConstants.OAUTH_URL
    return cfg


def metadata_urls(settings: Settings) -> tuple[str, ...]:
    if settings.microsoft_openid_metadata_url:
        return (settings.microsoft_openid_metadata_url,)
    return (CHANNEL_METADATA, EMULATOR_METADATA)


# --- inbound: signing keys fetched off the event loop ------------------------------------------


class _OffLoopKeys(_OpenIdMetadata):
    """botbuilder's key cache (refresh daily, or at most hourly when a key id is unknown),
    fetching in a worker thread. A thread lock makes concurrent refreshes one; asyncio locks
    would tie this process-wide cache to one event loop. Keys are parsed once per refresh, and
    an unknown key id is "not found" (botbuilder's `_find` raises IndexError there, so its
    hourly refresh never ran and a rotated key was refused until the daily one)."""

    last_updated: datetime
    keys: list[dict[str, Any]]

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lock = threading.Lock()
        self._parsed: dict[str, _OpenIdConfig] = {}

    def _find(self, key_id: str) -> _OpenIdConfig | None:
        if key_id not in self._parsed:
            key = next((k for k in self.keys or [] if k.get("kid") == key_id), None)
            if key is None:
                return None
            public_key = RSAAlgorithm.from_jwk(json.dumps(key))
            self._parsed[key_id] = _OpenIdConfig(public_key, key.get("endorsements", []))
        return self._parsed[key_id]

    async def _refresh(self) -> None:
        seen: datetime = self.last_updated
        await asyncio.to_thread(self._fetch, seen)

    def _fetch(self, seen: datetime) -> None:
        with self._lock:
            if self.last_updated != seen:
                return  # another request refreshed while this one waited
            response = requests.get(self.url, timeout=KEY_FETCH_TIMEOUT)
            response.raise_for_status()
            keys = requests.get(response.json()["jwks_uri"], timeout=KEY_FETCH_TIMEOUT)
            keys.raise_for_status()
            self.keys = keys.json()["keys"]
            self._parsed = {}
            self.last_updated = datetime.now()


def use_off_loop_keys(urls: tuple[str, ...]) -> list[_OffLoopKeys]:
    """Put fresh off-loop key caches in botbuilder's process-wide cache for these URLs."""
    caches = [_OffLoopKeys(url) for url in urls]
    for cache in caches:
        JwtTokenExtractor.metadataCache[cache.url] = cache
    return caches


async def warm_keys(caches: list[_OffLoopKeys]) -> None:
    """Fetch the signing keys before the first request needs them; a failure is retried by
    the first request (in a thread too), so it is only a warning."""
    for cache in caches:
        try:
            await cache._refresh()
        except Exception as exc:
            log.warning("Bot Framework signing keys not fetched yet: %s", type(exc).__name__)


# --- outbound: one token, refreshed ahead of expiry ----------------------------------------------


class _ClientCredentials(Authentication):
    """An app id and password's access token (OAuth 2 client credentials grant), fetched with
    aiohttp by `ready()`, which every outbound path awaits before msrest signs a request."""

    def __init__(
        self,
        *,
        app_id: str,
        password: str,
        tenant: str,
        scope: str,
        login_url: str,
        clock: Clock,
        http: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.microsoft_app_id = app_id
        self._password = password
        self._scope = scope if scope.endswith("/.default") else scope.rstrip("/") + "/.default"
        self._token_url = f"{login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self._clock = clock
        self._http = http
        self._token: str | None = None
        self._expires: datetime | None = None
        self._refreshing: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return (
            self._token is not None
            and self._expires is not None
            and self._clock.now() < self._expires - TOKEN_EARLY
        )

    async def ready(self) -> None:
        if self._fresh():
            return
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if self._fresh():
                return
            form = {
                "grant_type": "client_credentials",
                "client_id": self.microsoft_app_id,
                "client_secret": self._password,
                "scope": self._scope,
            }
            try:
                async with self._http().post(
                    self._token_url, data=form, timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT)
                ) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                raise PermissionError(
                    f"access token request failed: {type(exc).__name__}"
                ) from None
            if status != 200 or not isinstance(body, dict) or "access_token" not in body:
                error = body.get("error") if isinstance(body, dict) else None
                raise PermissionError(f"access token refused ({status} {error or ''})".strip())
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3599)
            self._expires = self._clock.now() + timedelta(seconds=lifetime)

    def signed_session(self, session: requests.Session | None = None) -> requests.Session:
        session = session or requests.Session()
        if self._token is None:
            raise PermissionError("no access token yet: ready() was not awaited")
        session.headers["Authorization"] = f"Bearer {self._token}"
        return session


class CachedCredentials(ServiceClientCredentialsFactory):
    """One credentials object per (app id, scope), made ready before each use. Password apps
    (MultiTenant, SingleTenant) use `_ClientCredentials`; managed identities use botbuilder's
    own, with the token warmed in a worker thread."""

    def __init__(
        self, settings: Settings, clock: Clock, http: Callable[[], aiohttp.ClientSession]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._http = http
        self._inner = ConfigurationServiceClientCredentialFactory(bot_framework_config(settings))
        self._cache: dict[tuple[str, str], Authentication] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        scope = oauth_scope or SCOPE
        credentials = self._cache.get((app_id, scope))
        if credentials is None:
            credentials = await self._new(app_id, scope, login_endpoint, validate_authority)
            self._cache[(app_id, scope)] = credentials
        if isinstance(credentials, _ClientCredentials):
            await credentials.ready()
        elif isinstance(credentials, AppCredentials) and credentials.microsoft_app_id:
            await asyncio.to_thread(credentials.get_access_token)  # MSAL caches it from here on
        return credentials

    async def _new(
        self, app_id: str, scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        settings = self._settings
        if await self.is_authentication_disabled():
            return MicrosoftAppCredentials.empty()
        if not await self.is_valid_app_id(app_id):
            raise PermissionError("Invalid app_id")
        app_type = (settings.microsoft_app_type or "MultiTenant").lower()
        if app_type not in PASSWORD_APP_TYPES:
            return await self._inner.create_credentials(
                app_id, scope, login_endpoint, validate_authority
            )
        tenant = (
            settings.microsoft_app_tenant_id
            if app_type == "singletenant" and settings.microsoft_app_tenant_id
            else AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT
        )
        return _ClientCredentials(
            app_id=app_id,
            password=settings.microsoft_app_password or "",
            tenant=tenant,
            scope=scope,
            login_url=settings.microsoft_login_url or LOGIN_PREFIX,
            clock=self._clock,
            http=self._http,
        )


# --- outbound: the connector's calls over the process's aiohttp session ------------------------


class _Bearer(SansIOHTTPPolicy):
    """The access token on every connector call. `create_credentials` made it ready (fetched
    or refreshed asynchronously) before the turn took its client, so this only reads it."""

    def __init__(self, credentials: Authentication) -> None:
        self._credentials = credentials

    def on_request(self, request: Request, **kwargs: Any) -> None:
        token = access_token(self._credentials)
        if token:
            request.http_request.headers["Authorization"] = f"Bearer {token}"


def access_token(credentials: Authentication) -> str | None:
    """The connector's access token, made ready by `create_credentials`; None when
    authentication is disabled (RUTRADAR_DEV on loopback)."""
    if isinstance(credentials, _ClientCredentials):
        if credentials._token is None:
            raise PermissionError("no access token yet: ready() was not awaited")
        return credentials._token
    if isinstance(credentials, AppCredentials) and credentials.microsoft_app_id:
        return str(credentials.get_access_token())  # MSAL's cache, warmed off the loop
    return None


class ConnectorRefused(ClientRequestError):
    """The Bot Connector answered a direct post (`post_activity`) with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"http {status}")
        self.status = status


async def post_activity(
    http: aiohttp.ClientSession, client: ConnectorClient, path: str, body: dict[str, Any]
) -> None:
    """POST an activity already in its wire form (camelCase JSON) to the connector the turn
    uses, with its credentials' token, over the shared session: what msrest does for a reply,
    without building, validating and serialising its models (a third of a Teams turn's CPU)."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    token = access_token(client.config.credentials)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = client.config.base_url.rstrip("/") + path
    try:
        async with http.post(
            url,
            data=json.dumps(body, separators=(",", ":")).encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
        ) as response:
            await response.read()
            if response.status >= 400:
                raise ConnectorRefused(response.status)
    except aiohttp.ClientError as exc:
        raise ClientRequestError(f"connection: {type(exc).__name__}") from None


class _AioHttpSender(AsyncHTTPSender):
    """msrest's transport, replaced: its default sends every call with `requests` in a worker
    thread (a thread hop and a GIL hand-over per reply, a new connection per client); this
    sends it on the event loop over one shared aiohttp session with keep-alive. What is sent
    and how the answer is read (status codes, errors, deserialisation) stay msrest's."""

    def __init__(self, http: Callable[[], aiohttp.ClientSession]) -> None:
        self._http = http

    async def __aenter__(self) -> _AioHttpSender:
        return self

    async def __aexit__(self, *exc_details: Any) -> None:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http_request = request.http_request
        try:
            result = await self._http().request(
                http_request.method,
                http_request.url,
                headers=http_request.headers,
                data=http_request.data,
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
            )
            response = AioHttpClientResponse(http_request, result)
            await response.load_body()
        except aiohttp.ClientError as exc:
            raise ClientRequestError(f"connection: {type(exc).__name__}") from None
        return Response(request, response)


def _aiohttp_pipeline(
    client: ConnectorClient, credentials: Authentication, http: Callable[[], aiohttp.ClientSession]
) -> AsyncPipeline:
    """msrest's default async pipeline (user agent, credentials, raw deserialiser, HTTP
    logger) with `_Bearer` for the credentials and `_AioHttpSender` for the transport."""
    config = client.config
    policies = [
        config.user_agent_policy,
        _Bearer(credentials),
        RawDeserializer(),
        config.http_logger_policy,
    ]
    return AsyncPipeline(policies, _AioHttpSender(http))


class ReusedConnectors(ConnectorFactory):
    """Connector clients kept per (service URL, audience) instead of one per turn, sending
    over the adapter's aiohttp session when it gives one."""

    def __init__(
        self,
        app_id: str,
        credentials: CachedCredentials,
        login_endpoint: str,
        http: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self._app_id = app_id
        self._credentials = credentials
        self._login_endpoint = login_endpoint
        self._http = http
        self._clients: OrderedDict[tuple[str, str], ConnectorClient] = OrderedDict()

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        scope = audience or SCOPE
        credentials = await self._credentials.create_credentials(
            self._app_id, scope, self._login_endpoint, True
        )
        key = (service_url, scope)
        client = self._clients.get(key)
        if client is None:
            client = ConnectorClient(credentials, base_url=service_url)
            client.config.add_user_agent("RutRadar")
            client.config.connection.timeout = CALL_TIMEOUT
            # No retries inside msrest (it would sleep in a worker thread, up to 3 times): the
            # dispatcher retries with its own backoff, and a 5xx keeps its status code.
            client.config.retry_policy.policy = Retry(total=0, raise_on_status=False)
            if self._http is not None:
                client.config.pipeline = _aiohttp_pipeline(client, credentials, self._http)
            self._clients[key] = client
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return client


# --- inbound: a token validated once is not validated again for the same activity shape --------


def _keys_version() -> tuple[object, ...]:
    """Changes whenever botbuilder's signing-key caches refresh (a rotation, a removal)."""
    return tuple(
        getattr(cache, "last_updated", None) for cache in JwtTokenExtractor.metadataCache.values()
    )


class _Validated:
    """A token that passed botbuilder's whole validation for one (channel id, service URL).

    Reused only for that same header, channel and service URL (so the `serviceurl` claim
    and the channel's endorsement were checked against exactly these), only before the
    token's `exp` by the wall clock (stricter than botbuilder's 5-minute leeway), and only
    while the signing keys it was checked against are the ones in botbuilder's cache (a
    refresh, which is how a revoked key disappears, validates every token again). The
    signature is over the exact bytes of the header, so the same header cannot carry other
    claims: nothing is accepted here that botbuilder would refuse, except within the leeway
    botbuilder itself allows."""

    def __init__(
        self, audience: str, identity: ClaimsIdentity, caller_id: str, expires: float
    ) -> None:
        self.audience = audience
        self.identity = identity
        self.caller_id = caller_id
        self.expires = expires
        self.keys = _keys_version()

    def still_valid(self) -> bool:
        return time.time() < self.expires and self.keys == _keys_version()


def _app_id_of(identity: ClaimsIdentity) -> str:
    claims = identity.claims or {}
    return str(
        claims.get(AuthenticationConstants.AUDIENCE_CLAIM)
        or claims.get(AuthenticationConstants.APP_ID_CLAIM)
        or ""
    )


class TeamsAuthentication(BotFrameworkAuthentication):
    """`ConfigurationBotFrameworkAuthentication`, validating exactly as it does, whose
    connector factories and user token clients are reused across turns."""

    def __init__(
        self,
        settings: Settings,
        credentials: CachedCredentials,
        http: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        cfg = bot_framework_config(settings)
        self._http = http
        self._inner = ConfigurationBotFrameworkAuthentication(cfg, credentials_factory=credentials)
        self._credentials = credentials
        self._login = getattr(cfg, "TO_CHANNEL_FROM_BOT_LOGIN_URL", LOGIN_PREFIX)
        self._factories: dict[str, ReusedConnectors] = {}
        self._token_clients: dict[str, UserTokenClient] = {}
        self._validated: OrderedDict[tuple[str, str, str], _Validated] = OrderedDict()

    def connectors(self, app_id: str) -> ReusedConnectors:
        factory = self._factories.get(app_id)
        if factory is None:
            factory = self._factories[app_id] = ReusedConnectors(
                app_id, self._credentials, self._login, self._http
            )
        return factory

    async def authenticate_request(
        self, activity: Activity, auth_header: str | None
    ) -> AuthenticateRequestResult:
        key = (auth_header or "", activity.channel_id or "", activity.service_url or "")
        known = self._validated.get(key) if auth_header else None
        if known is not None and known.still_valid():
            self._validated.move_to_end(key)
            result = AuthenticateRequestResult()
            result.audience = known.audience
            result.claims_identity = known.identity
            result.caller_id = known.caller_id
        else:
            result = await self._inner.authenticate_request(activity, auth_header)
            if auth_header and result.claims_identity and result.claims_identity.is_authenticated:
                self._remember(key, result)
        result.connector_factory = self.connectors(_app_id_of(result.claims_identity))
        return result

    def _remember(self, key: tuple[str, str, str], result: AuthenticateRequestResult) -> None:
        expires = (result.claims_identity.claims or {}).get("exp")
        if not isinstance(expires, int | float):
            return
        self._validated[key] = _Validated(
            result.audience, result.claims_identity, result.caller_id, float(expires)
        )
        while len(self._validated) > MAX_VALIDATED:
            self._validated.popitem(last=False)

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        raise PermissionError("streaming connections are not served")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self.connectors(_app_id_of(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = _app_id_of(claims_identity)
        client = self._token_clients.get(app_id)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[app_id] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
