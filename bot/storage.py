"""Conversation state in the database (SQLite by default, PostgreSQL in production).

Each chat has one row: the engine's answer log as JSON and a version number. A write
only succeeds if the version read is still the stored one, so two processes (or a
double click) can never silently overwrite each other's step.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.engine import Session


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"

    chat_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    session_json: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ConversationStore:
    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def load(self, chat_key: str) -> tuple[Session, int]:
        """The stored session and its version (0 when the chat has none)."""
        async with self._sessions() as db:
            row = await db.get(ConversationRow, chat_key)
            if row is None:
                return Session(), 0
            return Session.from_json(row.session_json), row.version

    async def save(self, chat_key: str, session: Session, version: int) -> bool:
        """Store `session` if the stored version is still `version`; False if it moved on."""
        now = datetime.now(UTC)
        async with self._sessions() as db:
            if version == 0:
                db.add(
                    ConversationRow(
                        chat_key=chat_key, session_json=session.to_json(), version=1, updated_at=now
                    )
                )
                try:
                    await db.commit()
                except IntegrityError:
                    await db.rollback()
                    return False
                return True
            result = await db.execute(
                update(ConversationRow)
                .where(ConversationRow.chat_key == chat_key, ConversationRow.version == version)
                .values(session_json=session.to_json(), version=version + 1, updated_at=now)
            )
            await db.commit()
            return bool(getattr(result, "rowcount", 0) == 1)

    async def delete(self, chat_key: str) -> None:
        async with self._sessions() as db:
            row = await db.get(ConversationRow, chat_key)
            if row is not None:
                await db.delete(row)
                await db.commit()

    async def count(self) -> int:
        async with self._sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(ConversationRow)) or 0)
