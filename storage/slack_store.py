"""slack_sdk's installation and OAuth state tables, declared on the project's metadata so
that Alembic creates them (never `create_tables()` at run time) and the migration test
holds them to the library's definitions, and the installation store the Slack adapter uses:
slack_sdk's own, with every token encrypted on its way in and decrypted on its way out
(privacy rule 12; storage/crypto.py).

The token columns are wider than the library makes them (migration 0007): an encrypted
token is about 2.7 times as long as the token, and Slack's refresh tokens are already long.
"""

from __future__ import annotations

import contextvars
import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.crypto import NO_KEY, SecretBox, SecretKeyError, is_encrypted
from storage.models import Base

log = logging.getLogger(__name__)

BOTS_TABLE = "slack_bots"
INSTALLATIONS_TABLE = "slack_installations"
OAUTH_STATES_TABLE = "slack_oauth_states"
SECRET_LENGTH = 1000

# What grants access to a workspace: tokens, refresh tokens, and an incoming webhook's URL.
BOT_SECRETS = ("bot_token", "bot_refresh_token")
INSTALLATION_SECRETS = (*BOT_SECRETS, "user_token", "user_refresh_token", "incoming_webhook_url")

slack_bots = SQLAlchemyInstallationStore.build_bots_table(Base.metadata, BOTS_TABLE)
slack_installations = SQLAlchemyInstallationStore.build_installations_table(
    Base.metadata, INSTALLATIONS_TABLE
)
slack_oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    Base.metadata, OAUTH_STATES_TABLE
)
SECRET_COLUMNS: dict[Table, tuple[str, ...]] = {
    slack_bots: BOT_SECRETS,
    slack_installations: INSTALLATION_SECRETS,
}
for _table, _columns in SECRET_COLUMNS.items():
    for _name in _columns:
        _table.c[_name].type = String(SECRET_LENGTH)

Entity = TypeVar("Entity", Installation, Bot)
# Set while slack_sdk's own code runs inside one of ours: the values are already in the form
# they are stored in (async_save calls async_save_bot, async_find_installation async_find_bot).
_stored_form: contextvars.ContextVar[bool] = contextvars.ContextVar("stored_form", default=False)


@contextmanager
def _inside() -> Iterator[None]:
    token = _stored_form.set(True)
    try:
        yield
    finally:
        _stored_form.reset(token)


class EncryptedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's store over its own tables; tokens are encrypted with the SecretBox before
    they are written and decrypted after they are read. Without a key nothing is stored."""

    def __init__(self, client_id: str, engine: AsyncEngine, secret_key: str | None) -> None:
        """`secret_key`: RUTRADAR_SECRET_KEY as configured (storage/crypto.py)."""
        super().__init__(
            client_id,
            engine,
            bots_table_name=BOTS_TABLE,
            installations_table_name=INSTALLATIONS_TABLE,
        )
        self._box = SecretBox.from_setting(secret_key)
        self._warned_clear = False

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise SecretKeyError(NO_KEY)
        return self._box

    def _sealed(self, entity: Entity, fields: tuple[str, ...]) -> Entity:
        box = self._require_box()
        sealed = copy.copy(entity)
        for name in fields:
            value = getattr(sealed, name, None)
            if isinstance(value, str) and value:
                setattr(sealed, name, box.encrypt(value))
        return sealed

    def _opened(self, entity: Entity | None, fields: tuple[str, ...]) -> Entity | None:
        if entity is None:
            return None
        for name in fields:
            value = getattr(entity, name, None)
            if not isinstance(value, str) or not value:
                continue
            if is_encrypted(value):
                setattr(entity, name, self._require_box().decrypt(value))
            elif not self._warned_clear:  # stored before encryption at rest: still usable
                self._warned_clear = True
                log.warning(
                    "a Slack token is stored in clear (from before encryption at rest): "
                    "run `rutradar secrets rotate` to encrypt it"
                )
        return entity

    async def async_save(self, installation: Installation) -> None:
        sealed = self._sealed(installation, INSTALLATION_SECRETS)
        with _inside():
            await super().async_save(sealed)

    async def async_save_bot(self, bot: Bot) -> None:
        if _stored_form.get():
            await super().async_save_bot(bot)
            return
        sealed = self._sealed(bot, BOT_SECRETS)
        with _inside():
            await super().async_save_bot(sealed)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await super().async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found if _stored_form.get() else self._opened(found, BOT_SECRETS)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        with _inside():
            found = await super().async_find_installation(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                is_enterprise_install=is_enterprise_install,
            )
        return self._opened(found, INSTALLATION_SECRETS)


async def reencrypt_tokens(engine: AsyncEngine, box: SecretBox) -> dict[str, int]:
    """`rutradar secrets rotate`: every stored secret re-encrypted with the first key (and any
    stored in clear from before, encrypted). Returns how many values each table had."""
    counts: dict[str, int] = {}
    async with engine.begin() as conn:
        for table, columns in SECRET_COLUMNS.items():
            rows = (await conn.execute(select(table.c.id, *(table.c[c] for c in columns)))).all()
            changed = 0
            for row in rows:
                values: dict[str, Any] = {}
                for name, value in zip(columns, row[1:], strict=True):
                    if isinstance(value, str) and value:
                        values[name] = box.rotate(value)
                if values:
                    await conn.execute(update(table).where(table.c.id == row[0]).values(**values))
                    changed += len(values)
            counts[table.name] = changed
    return counts
