"""Configuration from the environment (the design's "Interfaces that must hold")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.lookups import DEFAULT_TTL_SECONDS
from storage.db import DEFAULT_POOL_SIZE, DEFAULT_SQLITE_URL

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_SQLITE_URL, validation_alias="RUTRADAR_DATABASE_URL")
    # NORMAL: durable against crashes of the process, not of the machine (storage/db.py).
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", validation_alias="RUTRADAR_SQLITE_SYNCHRONOUS"
    )
    # Connections kept per process (storage/db.py `DEFAULT_POOL_SIZE` says why 35).
    db_pool_size: int = Field(DEFAULT_POOL_SIZE, ge=1, validation_alias="RUTRADAR_DB_POOL_SIZE")
    # Seconds a replica may serve a workspace, person or role it looked up before: another
    # replica's change (a role granted, a team joined) takes effect within this (bot/core/lookups.py).
    lookup_ttl_seconds: float = Field(
        DEFAULT_TTL_SECONDS, ge=0, validation_alias="RUTRADAR_LOOKUP_TTL"
    )
    host: str = Field("127.0.0.1", validation_alias="RUTRADAR_HOST")
    port: int = Field(3000, validation_alias="RUTRADAR_PORT")
    log_level: str = Field("INFO", validation_alias="RUTRADAR_LOG_LEVEL")
    playground: bool | None = Field(None, validation_alias="RUTRADAR_PLAYGROUND")
    dev: bool = Field(False, validation_alias="RUTRADAR_DEV")
    tick_seconds: float = Field(30.0, validation_alias="RUTRADAR_TICK_SECONDS")
    lease_seconds: float = Field(120.0, validation_alias="RUTRADAR_LEASE_SECONDS")
    dispatch_concurrency: int | None = Field(None, validation_alias="RUTRADAR_DISPATCH_CONCURRENCY")
    slack_send_rate: float = Field(5.0, validation_alias="RUTRADAR_SLACK_SEND_RATE")
    dispatch_interval_seconds: float = Field(5.0, validation_alias="RUTRADAR_DISPATCH_INTERVAL")
    # A recovery lookup that keeps failing is tried this often, then decided: sent again while
    # the delivery fell due less than the resend window ago, marked failed after (rounds.md).
    recovery_lookups: int = Field(3, ge=1, validation_alias="RUTRADAR_RECOVERY_LOOKUPS")
    resend_window_seconds: float = Field(
        86400.0, ge=0, validation_alias="RUTRADAR_RESEND_WINDOW_SECONDS"
    )

    # Fernet keys, comma-separated: the first encrypts stored platform tokens, all decrypt
    # (storage/crypto.py; rotation in docs/privacy.md).
    secret_key: str | None = Field(None, validation_alias="RUTRADAR_SECRET_KEY")

    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_client_id: str | None = Field(None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(None, validation_alias="SLACK_CLIENT_SECRET")
    slack_api_url: str | None = Field(None, validation_alias="SLACK_API_URL")

    microsoft_app_id: str | None = Field(None, validation_alias="MICROSOFT_APP_ID")
    microsoft_app_password: str | None = Field(None, validation_alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(None, validation_alias="MICROSOFT_APP_TENANT_ID")
    microsoft_app_type: str | None = Field(None, validation_alias="MICROSOFT_APP_TYPE")
    # Where Bot Framework signing keys (inbound) and access tokens (outbound) come from; unset,
    # Microsoft's public cloud. Tests point them at local fakes, as SLACK_API_URL does.
    microsoft_openid_metadata_url: str | None = Field(
        None, validation_alias="MICROSOFT_OPENID_METADATA_URL"
    )
    microsoft_login_url: str | None = Field(None, validation_alias="MICROSOFT_LOGIN_URL")
    teams_send_rate: float = Field(20.0, validation_alias="RUTRADAR_TEAMS_SEND_RATE")

    @property
    def slack_oauth(self) -> bool:
        """Slack's OAuth install flow: each workspace's tokens are stored (encrypted)."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_signing_secret or self.slack_app_token)

    @property
    def teams_configured(self) -> bool:
        return bool(self.microsoft_app_id) or self.dev

    @property
    def playground_enabled(self) -> bool:
        """On when asked for, or by default when no platform is configured."""
        if self.playground is not None:
            return self.playground
        return not (self.slack_configured or self.teams_configured)

    def wanted_adapters(self) -> set[str]:
        """Entry-point names of the adapters this configuration asks for."""
        wanted = set()
        if self.playground_enabled:
            wanted.add("playground")
        if self.slack_configured:
            wanted.add("slack")
        if self.teams_configured:
            wanted.add("teams")
        return wanted

    @property
    def binds_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")
