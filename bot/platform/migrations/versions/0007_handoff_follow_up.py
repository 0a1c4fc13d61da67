"""Hand-offs followed by the network that sent them: the sending organisation of a lead
qualified on behalf of someone, the code that lets that person erase it, and when it was
found unanswered after the reminders.

Revision ID: 0007
Revises: 0005 (re-chained after 0005 and 0006 at merge time)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("sender_organisation", sa.String(40), nullable=True))
        batch.add_column(sa.Column("erasure_code", sa.String(16), nullable=True))
        batch.add_column(sa.Column("unanswered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_leads_sender_organisation", "leads", ["sender_organisation"])
    op.create_index("ix_leads_erasure_code", "leads", ["erasure_code"])


def downgrade() -> None:
    op.drop_index("ix_leads_erasure_code", "leads")
    op.drop_index("ix_leads_sender_organisation", "leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("unanswered_at")
        batch.drop_column("erasure_code")
        batch.drop_column("sender_organisation")
