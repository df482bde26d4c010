"""checked_in deliveries: the "you checked in" edit of a prompt goes through the outbox

- `deliveries.kind` gains `checked_in`: queued in the check-in's transaction, it edits the
  answered prompt on the platform; the row carries the prompt's message reference only (no
  person, no time of answering), is deleted once sent and with the round's raw data at
  close. It used to be a fire-and-forget task of the engine, lost on a restart or an outage.

SQLite stores the enum as a VARCHAR as wide as its longest value (`closed_notice`, 13), which
`checked_in` fits: nothing to alter there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("prompt", "reminder", "summary", "closed_notice")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Appended to the native enum (allowed inside the migration's transaction as long as
        # the transaction does not use the new value).
        op.execute("ALTER TYPE delivery_kind ADD VALUE IF NOT EXISTS 'checked_in'")


def downgrade() -> None:
    # The old code edits prompts itself: the edits still waiting are dropped (their prompts
    # keep their button, which answers "already counted").
    op.execute("DELETE FROM deliveries WHERE kind = 'checked_in'")
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL cannot drop an enum value: rebuild the type without it.
        op.execute("ALTER TYPE delivery_kind RENAME TO delivery_kind_0008")
        sa.Enum(*OLD_KINDS, name="delivery_kind").create(op.get_bind())
        op.execute(
            "ALTER TABLE deliveries ALTER COLUMN kind TYPE delivery_kind "
            "USING kind::text::delivery_kind"
        )
        op.execute("DROP TYPE delivery_kind_0008")
