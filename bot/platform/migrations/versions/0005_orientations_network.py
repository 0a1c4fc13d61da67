"""Orientations: the network whose web page they started from (`?from=`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orientations") as batch:
        batch.add_column(sa.Column("network", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orientations") as batch:
        batch.drop_column("network")
