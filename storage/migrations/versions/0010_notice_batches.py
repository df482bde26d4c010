"""notice_batch deliveries: the close queues its closed notices a thousand to a row

- `deliveries.kind` gains `notice_batch`: the close writes the message references of a
  round's sent prompts as `{"refs": [...]}`, a thousand to a row (no person, not answered),
  instead of one `closed_notice` row per prompt; the dispatcher turns each into its
  `closed_notice` rows. A round of 100,000 prompts closes with a hundred rows written.

SQLite stores the enum as a VARCHAR as wide as its longest value (`closed_notice`, 13), which
`notice_batch` fits: nothing to alter there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("prompt", "reminder", "summary", "closed_notice", "checked_in")

# Down: the older code makes the notices from `closed_notice` rows only, so the batches still
# waiting become those rows here (as the dispatcher would), rather than being lost.
_EXPAND = {
    "postgresql": (
        "INSERT INTO deliveries (id, round_id, person_id, kind, not_before, status, attempts,"
        " lookups, message_ref, answered)"
        " SELECT md5(gen_random_uuid()::text), b.round_id, NULL, 'closed_notice', b.not_before,"
        " 'pending', 0, 0, ref.value, false"
        " FROM deliveries AS b, json_array_elements(b.message_ref -> 'refs')"
        " WITH ORDINALITY AS ref(value, n)"
        " WHERE b.kind = 'notice_batch' ORDER BY b.id, ref.n"
    ),
    "sqlite": (
        "INSERT INTO deliveries (id, round_id, person_id, kind, not_before, status, attempts,"
        " lookups, message_ref, answered)"
        " SELECT lower(hex(randomblob(16))), b.round_id, NULL, 'closed_notice', b.not_before,"
        " 'pending', 0, 0, ref.value, 0"
        " FROM deliveries AS b, json_each(b.message_ref, '$.refs') AS ref"
        " WHERE b.kind = 'notice_batch' ORDER BY b.id, ref.key"
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Appended to the native enum (allowed inside the migration's transaction as long as
        # the transaction does not use the new value).
        op.execute("ALTER TYPE delivery_kind ADD VALUE IF NOT EXISTS 'notice_batch'")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(_EXPAND["sqlite" if dialect == "sqlite" else "postgresql"])
    op.execute("DELETE FROM deliveries WHERE kind = 'notice_batch'")
    if dialect == "postgresql":
        # PostgreSQL cannot drop an enum value: rebuild the type without it.
        op.execute("ALTER TYPE delivery_kind RENAME TO delivery_kind_0010")
        sa.Enum(*OLD_KINDS, name="delivery_kind").create(op.get_bind())
        op.execute(
            "ALTER TABLE deliveries ALTER COLUMN kind TYPE delivery_kind "
            "USING kind::text::delivery_kind"
        )
        op.execute("DROP TYPE delivery_kind_0010")
