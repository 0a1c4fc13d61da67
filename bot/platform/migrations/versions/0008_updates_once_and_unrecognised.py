"""Each update once (the ids of the last updates handled, with the session), an
orientation counted once, and typed messages not understood counted by kind.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("recent_updates", sa.String(200), nullable=True))
        batch.add_column(
            sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "unrecognised",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
    )
    op.create_index("ix_unrecognised_at", "unrecognised", ["at"])


def downgrade() -> None:
    op.drop_table("unrecognised")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("counted")
        batch.drop_column("recent_updates")
