"""Leads under faults: message ids sent to partners, migrated partner groups, replays.

- `jobs.sent_json`: the Telegram messages a job sent (chat and message ids), so that an
  erasure can edit them;
- `chat_moves`: a partner's Telegram group upgraded to a supergroup, old id → new id;
- `conversations.recent_updates`: the last Telegram update ids that changed the
  conversation, so that a re-delivered update changes nothing.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sent_json", sa.Text(), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("recent_updates", sa.Text(), nullable=True))
    op.create_table(
        "chat_moves",
        sa.Column("old_chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("new_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_moves")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("recent_updates")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sent_json")
