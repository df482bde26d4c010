"""The same-run baselines of the request benchmarks, each a small server of its own process:

- ``bolt``: a bare slack-bolt ``AsyncApp`` on aiohttp that verifies a slash command's
  signature and acks a fixed text (what the platform SDK costs, with nothing of ours);
- ``bolt-commit``: the same app, whose ``view_submission`` listener commits one row per
  submission to the database named in ``BENCH_DATABASE_URL`` (the least a check-in can do:
  table ``bench_answers``, made by the benchmark) and answers with a fixed modal; a button
  (``checkin_open``) is acked and answered with ``views.open`` of a fixed modal, and
  ``app_home_opened`` with ``views.publish`` of a fixed Home, all over one aiohttp session
  to the Web API (as the product's), and SQLite's writers queued in-process, not in its busy
  handler (as the product's: both favour the baseline over a naive bare app);
- ``teams``: a bare botbuilder ``CloudAdapter`` echo bot, botbuilder's own authentication
  (``ConfigurationBotFrameworkAuthentication``, JWT validated against the fake identity's
  key, outbound tokens from its login endpoint) replying to the fake Bot Connector.

``python -m benchmarks.baselines KIND PORT``; prints ``ready`` once listening. Configuration
comes from the environment as for the product (``SLACK_SIGNING_SECRET``, ``MICROSOFT_APP_ID``,
``MICROSOFT_APP_PASSWORD``, ``MICROSOFT_OPENID_METADATA_URL``, ``MICROSOFT_LOGIN_URL``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from types import SimpleNamespace
from typing import Any

from aiohttp import web


def bolt_app(commit_url: str | None) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(
        token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-bench"),
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    )
    bolt = AsyncApp(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        request_verification_enabled=True,
    )

    @bolt.command("/rut")
    async def rut(ack: Any) -> None:
        await ack(text="Rut Radar helps you notice when work has gone flat.")

    app = web.Application()
    if commit_url:
        import contextlib

        import aiohttp
        from sqlalchemy import text

        from storage.db import create_engine, is_sqlite

        engine = create_engine(commit_url)
        writer = asyncio.Lock() if is_sqlite(engine) else contextlib.nullcontext()
        modal = {
            "type": "modal",
            "callback_id": "checkin",
            "title": {"type": "plain_text", "text": "Check-in"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Counted."}}],
        }
        home = {
            "type": "home",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Rut Radar"}}],
        }

        @bolt.action("checkin_open")
        async def opened(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view=modal)

        @bolt.view("checkin")
        async def submitted(ack: Any, body: dict[str, Any]) -> None:
            async with writer, engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO bench_answers (trigger_id, score) VALUES (:t, :s)"),
                    {"t": body["trigger_id"], "s": 3},
                )
            await ack(response_action="update", view=modal)

        @bolt.event("app_home_opened")
        async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
            await client.views_publish(user_id=event["user"], view=home)

        async def session(_app: web.Application) -> Any:
            client.session = aiohttp.ClientSession()
            yield
            await client.session.close()
            await engine.dispose()

        app.cleanup_ctx.append(session)

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    app.router.add_post("/slack/events", slack_events)
    return app


def teams_app() -> web.Application:
    """As botbuilder's samples build it (and with platforms.md §7's invoke workaround, which
    a message does not need): one ``CloudAdapter``, ``process_activity``, a text echo."""
    from botbuilder.core import TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity
    from botframework.connector.auth import AuthenticationConstants as C

    _OneTokenFactory = _one_token_factory()

    metadata = os.environ["MICROSOFT_OPENID_METADATA_URL"]
    cfg = SimpleNamespace(
        APP_ID=os.environ["MICROSOFT_APP_ID"],
        APP_PASSWORD=os.environ["MICROSOFT_APP_PASSWORD"],
        APP_TYPE="MultiTenant",
        APP_TENANTID="",
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=metadata,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=metadata,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=C.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=C.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=os.environ["MICROSOFT_LOGIN_URL"],
        OAUTH_URL=C.OAUTH_URL,
    )
    adapter = CloudAdapter(
        ConfigurationBotFrameworkAuthentication(cfg, credentials_factory=_OneTokenFactory(cfg))
    )

    async def echo(tc: TurnContext) -> None:
        await tc.send_activity(f"echo: {tc.activity.text}")

    async def messages(request: web.Request) -> web.Response:
        body = await request.json()
        activity = Activity().deserialize(body)
        auth = request.headers.get("Authorization", "")
        response = await adapter.process_activity(auth, activity, echo)
        if response is not None:
            return web.json_response(response.body, status=response.status)
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def _one_token_factory() -> type:
    """botbuilder's own password credentials factory, whose MSAL token request is replaced.

    MSAL refuses an `http://` authority, so the fake identity on loopback cannot serve it. Stock
    botbuilder builds new credentials, so a new MSAL app, for every turn; the replacement fetches
    one token from the fake's token endpoint for the whole process and hands it to every turn's
    credentials. That favours the baseline (no token request per turn): ratios against it are,
    if anything, understated."""
    import requests
    from botframework.connector.auth import (
        MicrosoftAppCredentials,
        PasswordServiceClientCredentialFactory,
    )

    token: dict[str, str] = {}

    class OneToken(MicrosoftAppCredentials):  # type: ignore[misc,unused-ignore]
        def get_access_token(self, force_refresh: bool = False) -> str:
            if "value" not in token:
                login = os.environ["MICROSOFT_LOGIN_URL"].rstrip("/")
                response = requests.post(
                    f"{login}/botframework.com/oauth2/v2.0/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.microsoft_app_id,
                        "client_secret": self.microsoft_app_password,
                        "scope": "https://api.botframework.com/.default",
                    },
                    timeout=10,
                )
                response.raise_for_status()
                token["value"] = response.json()["access_token"]
            return token["value"]

    class Factory(PasswordServiceClientCredentialFactory):  # type: ignore[misc,unused-ignore]
        def __init__(self, cfg: Any) -> None:
            super().__init__(cfg.APP_ID, cfg.APP_PASSWORD, cfg.APP_TENANTID)

        async def create_credentials(
            self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
        ) -> Any:
            # The same per-turn construction as botbuilder's (a new credentials object).
            return OneToken(app_id, self.password, self.tenant_id, oauth_scope)

    return Factory


async def main(kind: str, port: int) -> None:
    if kind == "bolt":
        app = bolt_app(None)
    elif kind == "bolt-commit":
        app = bolt_app(os.environ["BENCH_DATABASE_URL"])
    elif kind == "teams":
        app = teams_app()
    else:
        raise SystemExit(f"unknown baseline {kind!r}")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
