"""Partner groups upgraded to supergroups: Telegram gives them a new id.

When the Bot API answers a send with `migrate_to_chat_id`, the outbox records the move
here and sends again to the new id at once; the partner's buttons are accepted from the
new id, and the log says what to change in the partners file.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot.leads.store import now
from bot.platform.storage import Base


class ChatMoveRow(Base):
    """A partner's Telegram group upgraded to a supergroup: its old id, its new id."""

    __tablename__ = "chat_moves"

    old_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    new_chat_id: Mapped[int] = mapped_column(BigInteger)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChatMoves:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def moved_chat(self, chat_id: int) -> int:
        """Where a partner's Telegram group is now (itself unless it was upgraded)."""
        async with self.engine.connect() as conn:
            moved = await conn.scalar(
                select(ChatMoveRow.new_chat_id).where(ChatMoveRow.old_chat_id == chat_id)
            )
        return int(moved) if moved is not None else chat_id

    async def chats_moved_to(self, chat_id: int) -> set[int]:
        """The old ids of a group that is now `chat_id`."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(ChatMoveRow.old_chat_id).where(ChatMoveRow.new_chat_id == chat_id)
            )
            return {int(old) for (old,) in rows.all()}

    async def record_move(self, old_chat_id: int, new_chat_id: int) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    delete(ChatMoveRow).where(ChatMoveRow.old_chat_id == old_chat_id)
                )
                await conn.execute(
                    insert(ChatMoveRow).values(
                        old_chat_id=old_chat_id, new_chat_id=new_chat_id, moved_at=now()
                    )
                )
        except IntegrityError:  # recorded at the same instant by another worker
            pass
