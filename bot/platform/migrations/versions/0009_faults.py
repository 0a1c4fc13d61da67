"""Leads under faults: message ids sent to partners, migrated partner groups.

- `jobs.sent_json`: the Telegram messages a job sent (chat and message ids), so that an
  erasure can edit them;
- `chat_moves`: a partner's Telegram group upgraded to a supergroup, old id → new id.

(The update ids a conversation handled are `conversations.recent_updates`, from 0008.)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sent_json", sa.Text(), nullable=True))
    op.create_table(
        "chat_moves",
        sa.Column("old_chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("new_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_moves")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sent_json")
