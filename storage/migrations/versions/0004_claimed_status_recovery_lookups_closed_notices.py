"""claimed deliveries, bounded recovery lookups, closed-round notices

- `deliveries.status` gains `claimed`: leased by a dispatcher but not on the wire, so a crash
  leaves only the rows whose platform call was in flight as `sending` (needing a lookup).
- `deliveries.lookups` counts failed recovery lookups, so they are bounded and then decided.
- `deliveries.kind` gains `closed_notice`: after close, a sent prompt is edited to say the
  round closed; the row carries the message reference only, no person.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:50:07.711174
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("prompt", "reminder", "summary")
NEW_KINDS = (*OLD_KINDS, "closed_notice")
OLD_STATUSES = ("pending", "sending", "sent", "failed", "skipped")
NEW_STATUSES = ("pending", "claimed", "sending", "sent", "failed", "skipped")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Native enum types: new values are appended (PostgreSQL 12+ allows this inside the
        # migration's transaction, as long as the transaction does not use them).
        op.execute("ALTER TYPE delivery_kind ADD VALUE IF NOT EXISTS 'closed_notice'")
        op.execute("ALTER TYPE delivery_status ADD VALUE IF NOT EXISTS 'claimed' AFTER 'pending'")
        op.add_column(
            "deliveries",
            sa.Column("lookups", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        )
        return
    # SQLite stores enums as VARCHAR sized to the longest value (no CHECK constraint): the kind
    # column widens for `closed_notice`; `claimed` fits the status column as it is.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lookups", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.alter_column(
            "kind",
            existing_type=sa.Enum(*OLD_KINDS, name="delivery_kind"),
            type_=sa.Enum(*NEW_KINDS, name="delivery_kind"),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "status",
            existing_type=sa.Enum(*OLD_STATUSES, name="delivery_status"),
            type_=sa.Enum(*NEW_STATUSES, name="delivery_status"),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Rows the old code cannot read: notices are dropped (their prompts stay as they are on the
    # platform), claimed rows go back to pending (nothing of them reached a platform).
    op.execute("DELETE FROM deliveries WHERE kind = 'closed_notice'")
    op.execute(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'claimed'"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("deliveries", "lookups")
        for column, name, values in (
            ("kind", "delivery_kind", OLD_KINDS),
            ("status", "delivery_status", OLD_STATUSES),
        ):
            # PostgreSQL cannot drop an enum value: rebuild the type without it.
            op.execute(f"ALTER TYPE {name} RENAME TO {name}_0004")
            sa.Enum(*values, name=name).create(op.get_bind())
            op.execute(
                f"ALTER TABLE deliveries ALTER COLUMN {column} TYPE {name} "
                f"USING {column}::text::{name}"
            )
            op.execute(f"DROP TYPE {name}_0004")
        return
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.Enum(*NEW_STATUSES, name="delivery_status"),
            type_=sa.Enum(*OLD_STATUSES, name="delivery_status"),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "kind",
            existing_type=sa.Enum(*NEW_KINDS, name="delivery_kind"),
            type_=sa.Enum(*OLD_KINDS, name="delivery_kind"),
            existing_nullable=False,
        )
        batch_op.drop_column("lookups")
