"""A fake Microsoft identity platform for the Bot Framework: a real aiohttp server on
127.0.0.1, port 0.

- Inbound (channel → bot): an OpenID configuration whose `jwks_uri` serves a test RSA key with
  `"endorsements": ["msteams"]`, and :meth:`FakeIdentity.mint`, which signs RS256 tokens with
  it the way the Bot Connector does (`iss` https://api.botframework.com, `aud` = the app id, a
  `serviceurl` claim). Point `MICROSOFT_OPENID_METADATA_URL` at :attr:`metadata_url` and
  botbuilder's real validation runs against them (platforms.md §10).
- Outbound (bot → channel): the OAuth 2 token endpoint (`/{tenant}/oauth2/v2.0/token`,
  client credentials). Point `MICROSOFT_LOGIN_URL` at :attr:`base_url`; tokens issued are in
  :attr:`issued`, so a fake connector can insist on one of them.

Tokens are minted relative to the wall clock, not the tests' injected clock: botbuilder checks
`exp` and `nbf` with PyJWT against real time (with 5 minutes' leeway), which is acceptable for
authentication and cannot be injected.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import Any, Self

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.loopback import Loopback

ISSUER = "https://api.botframework.com"
KEY_ID = "rutradar-test-key"


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per test session (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def other_key() -> rsa.RSAPrivateKey:
    """A key the fake does not publish: tokens signed with it are forgeries."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256", "endorsements": endorsements}


@dataclass
class TokenRequest:
    tenant: str
    form: dict[str, str]
    status: int


@dataclass
class FakeIdentity:
    """Use as ``async with FakeIdentity(app_id=..., password=...) as idp:``."""

    app_id: str = "00000000-0000-0000-0000-00000000a11d"
    password: str = "test-app-password"
    endorsements: list[str] = field(default_factory=lambda: ["msteams"])
    token_lifetime: int = 3600

    extra_keys: list[dict[str, Any]] = field(default_factory=list)  # published too (rotation)
    issued: list[str] = field(default_factory=list)
    token_requests: list[TokenRequest] = field(default_factory=list)
    metadata_fetches: int = 0
    key_fetches: int = 0

    def __post_init__(self) -> None:
        self._server = Loopback()
        self._counter = itertools.count(1)

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        await self._server.start(app)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}.well-known/openidconfiguration"

    # --- inbound tokens ------------------------------------------------------------------

    def mint(
        self,
        service_url: str,
        *,
        audience: str | None = None,
        issuer: str = ISSUER,
        expires_in: int = 3600,
        not_before: int = -60,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KEY_ID,
        algorithm: str = "RS256",
        claims: dict[str, Any] | None = None,
    ) -> str:
        """An `Authorization` header value, as the Bot Connector sends it to the bot."""
        now = int(time.time())  # wall clock: botbuilder validates exp/nbf against real time
        payload = {
            "iss": issuer,
            "aud": self.app_id if audience is None else audience,
            "serviceurl": service_url,
            "nbf": now + not_before,
            "exp": now + expires_in,
            **(claims or {}),
        }
        token = jwt.encode(payload, key or signing_key(), algorithm=algorithm, headers={"kid": kid})
        return f"Bearer {token}"

    async def _metadata(self, _request: web.Request) -> web.Response:
        self.metadata_fetches += 1
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{self.base_url}authorize",
                "jwks_uri": f"{self.base_url}keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _request: web.Request) -> web.Response:
        self.key_fetches += 1
        keys = [public_jwk(signing_key(), KEY_ID, self.endorsements), *self.extra_keys]
        return web.json_response({"keys": keys})

    # --- outbound tokens -----------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        tenant = request.match_info["tenant"]
        ok = (
            form.get("grant_type") == "client_credentials"
            and form.get("client_id") == self.app_id
            and form.get("client_secret") == self.password
            and form.get("scope") == "https://api.botframework.com/.default"
        )
        self.token_requests.append(TokenRequest(tenant, form, 200 if ok else 401))
        if not ok:
            return web.json_response(
                {"error": "invalid_client", "error_description": "bad credentials"}, status=401
            )
        token = f"fake-access-token-{next(self._counter)}"
        self.issued.append(token)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )
