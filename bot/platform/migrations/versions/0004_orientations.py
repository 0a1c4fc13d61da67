"""Finished orientations, anonymous: statistics and unmet demand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orientations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile", sa.String(40), nullable=True),
        sa.Column("schemes", sa.String(400), nullable=False),
        sa.Column("unmet", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_orientations_finished_at", "orientations", ["finished_at"])


def downgrade() -> None:
    op.drop_table("orientations")
