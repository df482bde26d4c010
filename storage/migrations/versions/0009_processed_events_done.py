"""processed_events.done: a claim is a lease until its work is done

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends (see 0006). Claims already there were written after their
# work under the old rule, so they count as done.


def upgrade() -> None:
    op.add_column(
        "processed_events",
        sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("processed_events", "done")
