"""privacy hardening: rounds.scrub_pending; room for encrypted Slack tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00

- `rounds.scrub_pending`: a round closed whose scrub (SQLite WAL checkpoint, PostgreSQL
  VACUUM FULL) has not finished yet; every scheduler pass retries it.
- The token columns of slack_sdk's tables widen from 200 to 1000 characters: tokens are
  stored encrypted (storage/slack_store.py), which makes them about 2.7 times as long.
  Tokens already stored stay as they are (in clear) until `rutradar secrets rotate`
  encrypts them; the server reads both meanwhile.

Downgrade: the old code reads tokens in clear only, so the tokens are decrypted with
RUTRADAR_SECRET_KEY from the environment (refused, with the reason, if it is missing).
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECRETS = {
    "slack_bots": ("bot_token", "bot_refresh_token"),
    "slack_installations": (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",
    ),
}


def upgrade() -> None:
    # Not in a batch: on SQLite a batch may copy `rounds`, and dropping the old table with
    # foreign keys on would cascade to every delivery and release. ADD COLUMN is native.
    op.add_column(
        "rounds",
        sa.Column("scrub_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for table, columns in SECRETS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column, existing_type=sa.String(length=200), type_=sa.String(length=1000)
                )


def downgrade() -> None:
    _decrypt_tokens()
    for table, columns in SECRETS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column, existing_type=sa.String(length=1000), type_=sa.String(length=200)
                )
    if op.get_bind().dialect.name == "sqlite":
        # Natively (SQLite 3.35+): a batch copy would drop and re-create `rounds`, and with
        # foreign keys on, dropping it cascades to every delivery and release.
        op.execute("ALTER TABLE rounds DROP COLUMN scrub_pending")
    else:
        op.drop_column("rounds", "scrub_pending")


def _decrypt_tokens() -> None:
    from storage.crypto import KEY_VARIABLE, SecretBox, is_encrypted

    bind = op.get_bind()
    box = SecretBox.from_setting(os.environ.get(KEY_VARIABLE))
    for name, columns in SECRETS.items():
        table = sa.table(name, sa.column("id"), *(sa.column(c) for c in columns))
        for row in bind.execute(sa.select(table)).mappings().all():
            values = {
                c: row[c] for c in columns if isinstance(row[c], str) and is_encrypted(row[c])
            }
            if not values:
                continue
            if box is None:
                raise RuntimeError(
                    f"{KEY_VARIABLE} is needed to downgrade: the Slack tokens are encrypted and "
                    "the older schema keeps them in clear."
                )
            bind.execute(
                sa.update(table)
                .where(table.c.id == row["id"])
                .values({c: box.decrypt(v) for c, v in values.items()})
            )
