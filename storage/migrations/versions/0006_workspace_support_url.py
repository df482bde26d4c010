"""workspace support_url: the support link shown after very low answers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends, never a batch: on SQLite a batch rebuilds the table, and
# dropping the old `workspaces` with foreign keys on would cascade to every team, round and
# delivery. SQLite (3.35+) adds and drops a plain column in place.


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("support_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.drop_column("workspaces", "support_url")
