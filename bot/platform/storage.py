"""Conversation state in the database (SQLite by default, PostgreSQL in production).

Each chat has one row: the engine's answer log as JSON and a version number. A write
only succeeds if the version read is still the stored one, so two processes (or a
double click) can never silently overwrite each other's step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Integer,
    String,
    Text,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.orientation.engine import Session
from bot.platform.hotpath import Lane, lane_for

#: more work to do in the transaction that writes a conversation
Also = Callable[[AsyncConnection], Awaitable[None]]


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"

    chat_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    session_json: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, index=True
    )
    #: the ids of the last updates handled (a redelivered update changes nothing)
    recent_updates: Mapped[str | None] = mapped_column(String(200))
    #: the orientation in progress has been counted in the statistics already
    counted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class UnrecognisedRow(Base):
    """A typed message that Boussole did not understand, counted by kind: never its text."""

    __tablename__ = "unrecognised"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)


#: how many update ids are remembered per chat
RECENT_UPDATES = 8

_TABLE = ConversationRow
_READ = select(
    ConversationRow.session_json,
    ConversationRow.version,
    ConversationRow.recent_updates,
    ConversationRow.counted,
)


@dataclass(frozen=True)
class Stored:
    """A conversation as read: its session, version, the updates handled, counted or not."""

    session: Session
    version: int = 0
    updates: tuple[int, ...] = ()
    counted: bool = False

    def handled(self, update_id: int | None) -> bool:
        return update_id is not None and update_id in self.updates

    def with_update(self, update_id: int | None) -> str | None:
        if update_id is None:
            return ",".join(map(str, self.updates)) or None
        return ",".join(map(str, (*self.updates, update_id)[-RECENT_UPDATES:]))


def _updates(raw: str | None) -> tuple[int, ...]:
    return tuple(int(u) for u in (raw or "").split(",") if u.strip().lstrip("-").isdigit())


async def record_unrecognised(conn: AsyncConnection, kind: str) -> None:
    await conn.execute(insert(UnrecognisedRow).values(at=datetime.now(UTC), kind=kind[:20]))


async def unrecognised(engine: AsyncEngine) -> dict[str, int]:
    """How many typed messages were not understood, by kind (no text is ever kept)."""
    query = select(UnrecognisedRow.kind, func.count()).group_by(UnrecognisedRow.kind)
    async with engine.connect() as conn:
        return {str(kind): int(n) for kind, n in (await conn.execute(query)).all()}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Several processes on one SQLite file: write-ahead log, wait for locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    # erased rows are overwritten with zeros, whatever this build's default (/oublier)
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


async def checkpoint(engine: AsyncEngine) -> None:
    """After an erasure on SQLite: copy the write-ahead log into the database file (where
    `secure_delete` has zeroed the erased rows) and truncate it, so that no copy of the
    erased data stays on disk. PostgreSQL keeps dead rows until VACUUM (docs/guarantees.md)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: any number, the same in every process: PostgreSQL serialises the migrations on it
_MIGRATION_LOCK = 0x426F7573


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The latest migration's revision: what `migrate` brings a database to."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: Connection) -> str:
    """Run the migrations on an open connection (several workers may start at once)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = _alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "conversations" in tables and "alembic_version" not in tables:
        # a database made before migrations existed holds the first revision's table
        command.stamp(config, "0001")
    command.upgrade(config, "head")
    revision = MigrationContext.configure(connection).get_current_revision()
    return revision or ""


class ConversationStore:
    def __init__(self, url: str, direct: bool = True) -> None:
        """`direct=False`: every statement through SQLAlchemy (the benchmark's baseline)."""
        sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(
            url, connect_args={"timeout": 15} if sqlite else {}
        )
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        #: the read and the write of every update, straight through the driver
        self.lane: Lane | None = lane_for(url) if direct else None

    async def migrate(self, attempts: int = 5) -> str:
        """Bring the database schema to the latest migration; the revision it is at.

        PostgreSQL serialises workers starting together with a lock; SQLite runs DDL outside
        transactions, so there a worker that lost the race simply tries again and finds the
        work done.
        """
        for attempt in range(attempts):
            try:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(_upgrade)
            except DBAPIError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.lane is not None:
            await self.lane.close()
        await self.engine.dispose()

    async def load(self, chat_key: str) -> tuple[Session, int]:
        """The stored session and its version (0 when the chat has none)."""
        stored = await self.read(chat_key)
        return stored.session, stored.version

    async def read(self, chat_key: str) -> Stored:
        """The stored conversation with what the service needs besides the session."""
        if self.lane is not None:
            found = await self.lane.read(chat_key)
        else:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(_READ.where(ConversationRow.chat_key == chat_key))
                ).first()
            found = None if row is None else (*row,)
        if found is None:
            return Stored(Session())
        session_json, version, recent, counted = found
        return Stored(Session.from_json(session_json), version, _updates(recent), bool(counted))

    async def save(
        self,
        chat_key: str,
        session: Session,
        version: int,
        also: Also | None = None,
        updates: str | None = None,
        counted: bool | None = None,
    ) -> bool:
        """Store `session` if the stored version is still `version`; False if it moved on.

        `also` runs in the same transaction, only when the session is written (a lead sent
        from this step is stored with it, or not at all); so do `updates` (the ids of the
        updates handled) and `counted` (None keeps it)."""
        session_json, at = session.to_json(), datetime.now(UTC)
        if also is None and self.lane is not None:
            return await self.lane.write(chat_key, session_json, version, at, updates, counted)
        values: dict[str, Any] = {"session_json": session_json, "updated_at": at}
        if updates is not None:
            values["recent_updates"] = updates
        if counted is not None:
            values["counted"] = counted
        if version == 0:
            try:
                async with self.engine.begin() as conn:
                    row = insert(_TABLE).values(chat_key=chat_key, version=1, **values)
                    await conn.execute(row)
                    if also is not None:
                        await also(conn)
            except IntegrityError:  # another worker created it first
                return False
            return True
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(_TABLE)
                .where(ConversationRow.chat_key == chat_key, ConversationRow.version == version)
                .values(version=version + 1, **values)
            )
            if result.rowcount != 1:
                return False
            if also is not None:
                await also(conn)
            return True

    async def mark(self, chat_key: str, updates: str | None) -> None:
        """Remember the updates handled by a step that changed nothing else."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(_TABLE)
                .where(ConversationRow.chat_key == chat_key)
                .values(recent_updates=updates)
            )

    async def delete(self, chat_key: str, also: Also | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(_TABLE).where(ConversationRow.chat_key == chat_key))
            if also is not None:
                await also(conn)
        await checkpoint(self.engine)

    async def purge(self, older_than: timedelta) -> int:
        """Delete the conversations without any message for `older_than`; how many went."""
        cutoff = datetime.now(UTC) - older_than
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(_TABLE).where(ConversationRow.updated_at < cutoff))
            return int(result.rowcount or 0)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(_TABLE)) or 0)
