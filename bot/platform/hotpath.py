"""The read and the write of a conversation at every update, straight through the driver.

Every update reads one row and, when the conversation moved, writes it back with a
version check. Through SQLAlchemy's async layer that costs more than the rest of a step
put together (aiosqlite hops to its thread for every call; each statement is wrapped,
compiled and reset). So these two statements go to the driver directly, prepared once:

- SQLite: a plain `sqlite3` connection in autocommit mode that never waits for a lock
  (`busy_timeout=0`) runs the statement in place, in microseconds; when the database is
  locked (another process or transaction is writing), the statement goes to a worker
  thread whose own connection waits for the lock, so the event loop never waits. The
  in-place connection leaves WAL checkpoints to that thread (every `CHECKPOINT_EVERY`
  writes), since a checkpoint writes to the disk.
- PostgreSQL: an asyncpg pool, in autocommit mode (each statement is its own transaction,
  so no BEGIN/COMMIT round trips), with asyncpg's prepared statements. Conversation
  writes use `synchronous_commit = off`: PostgreSQL confirms them before the WAL reaches
  the disk, which saves a disk flush per step. A crash of the database server may then
  lose the last fraction of a second of steps (the person sees « ce bouton n'est plus
  valable » and where they are), never corrupt anything; leads and their deliveries are
  written by SQLAlchemy in ordinary, durable transactions.

Everything else (migrations, leads, deletes, purges) goes through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import make_url

#: SQLAlchemy's storage format for DateTime on SQLite (purges compare these strings)
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

#: the statements, with `{p}` the driver's placeholder style: SQLite `?`, asyncpg `$1`…
_READ = (
    "SELECT session_json, version, recent_updates, counted FROM conversations "
    "WHERE chat_key = {p[0]}"
)
#: `recent_updates` and `counted` given as NULL keep what is stored
_UPDATE = (
    "UPDATE conversations SET session_json = {p[0]}, version = {p[1]}, updated_at = {p[2]}, "
    "recent_updates = COALESCE({p[5]}, recent_updates), counted = COALESCE({p[6]}, counted) "
    "WHERE chat_key = {p[3]} AND version = {p[4]}"
)
_INSERT = (
    "INSERT INTO conversations (chat_key, session_json, version, updated_at, recent_updates, "
    "counted) VALUES ({p[0]}, {p[1]}, 1, {p[2]}, {p[3]}, COALESCE({p[4]}, {false}))"
)
#: what a read gives: the session's JSON, its version, the updates handled, counted or not
Row = tuple[str, int, str | None, bool]


class Lane(Protocol):
    async def read(self, chat_key: str) -> Row | None: ...

    async def write(
        self,
        chat_key: str,
        session_json: str,
        version: int,
        at: datetime,
        updates: str | None = None,
        counted: bool | None = None,
    ) -> bool:
        """Store the row if its version is still `version` (0: create it); False otherwise.
        `updates` and `counted`: None keeps what is stored."""
        ...

    async def close(self) -> None: ...


#: writes in place between two WAL checkpoints run by the lane's thread
CHECKPOINT_EVERY = 500


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class SqliteLane:
    def __init__(self, path: str, timeout: float = 15.0) -> None:
        self.path = path
        self.timeout = timeout
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lane")
        self._conn: sqlite3.Connection | None = None  # the thread's, waits for locks
        self._here: sqlite3.Connection | None = None  # the event loop's, never waits
        self._writes = 0
        self._checkpoint: Any = None
        marks = [f"?{i}" for i in range(1, 8)]  # numbered: the values go in index order
        self._read, self._update, self._insert = (
            sql.format(p=marks, false=0) for sql in (_READ, _UPDATE, _INSERT)
        )

    def _open(self, wait_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=wait_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={wait_ms}")
        # as the engine's connections: what a write replaces is overwritten (/oublier)
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:  # opened in the lane's thread, used only there
            self._conn = self._open(int(self.timeout * 1000))
        return self._conn

    def _in_place(self) -> sqlite3.Connection:
        if self._here is None:
            self._here = self._open(0)
            self._here.execute("PRAGMA wal_autocheckpoint=0")  # the thread checkpoints
        return self._here

    def _do_read(self, chat_key: str, conn: sqlite3.Connection | None = None) -> Row | None:
        row = (conn or self._connection()).execute(self._read, (chat_key,)).fetchone()
        return None if row is None else (row[0], int(row[1]), row[2], bool(row[3]))

    def _do_write(
        self,
        chat_key: str,
        session_json: str,
        version: int,
        at: datetime,
        updates: str | None = None,
        counted: bool | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> bool:
        conn = conn or self._connection()
        stamp = at.strftime(SQLITE_DATETIME)
        flag = None if counted is None else int(counted)
        if version == 0:
            try:
                conn.execute(self._insert, (chat_key, session_json, stamp, updates, flag))
            except sqlite3.IntegrityError:  # another worker created it first
                return False
            return True
        values = (session_json, version + 1, stamp, chat_key, version, updates, flag)
        return conn.execute(self._update, values).rowcount == 1

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def read(self, chat_key: str) -> Row | None:
        try:
            return self._do_read(chat_key, self._in_place())
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        result: Row | None = await self._run(self._do_read, chat_key)
        return result

    async def write(
        self,
        chat_key: str,
        session_json: str,
        version: int,
        at: datetime,
        updates: str | None = None,
        counted: bool | None = None,
    ) -> bool:
        args = (chat_key, session_json, version, at, updates, counted)
        try:  # autocommit: a statement refused for a lock wrote nothing, so it can go again
            done = self._do_write(*args, conn=self._in_place())
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            done = bool(await self._run(self._do_write, *args))
        self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = self._thread.submit(self._do_checkpoint)
        return done

    def _do_checkpoint(self) -> None:
        self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._conn.close()
                self._conn = None

        if self._here is not None:
            self._here.close()
            self._here = None
        await self._run(shut)
        self._thread.shutdown(wait=True)


async def _keep_session(connection: Any) -> None:
    """A connection back in the pool needs no reset query: these two statements leave no
    session state behind (no LISTEN, lock, cursor or SET), and it saves a round trip."""


class PostgresLane:
    def __init__(self, dsn: str, max_size: int = 10) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        marks = [f"${i}" for i in range(1, 8)]
        typed = {6: "$6::text", 7: "$7::boolean"}  # so that a NULL keeps the stored value
        self._read = _READ.format(p=marks, false="false")
        self._update = _UPDATE.format(p=[typed.get(i + 1, m) for i, m in enumerate(marks)])
        self._insert = _INSERT.format(p=[*marks[:3], "$4::text", "$5::boolean"], false="false")

    async def _acquire_pool(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=1,
                        max_size=self.max_size,
                        server_settings={"synchronous_commit": "off"},
                        reset=_keep_session,
                    )
        return self._pool

    async def read(self, chat_key: str) -> Row | None:
        pool = await self._acquire_pool()
        row = await pool.fetchrow(self._read, chat_key)
        return None if row is None else (row[0], int(row[1]), row[2], bool(row[3]))

    async def write(
        self,
        chat_key: str,
        session_json: str,
        version: int,
        at: datetime,
        updates: str | None = None,
        counted: bool | None = None,
    ) -> bool:
        import asyncpg

        pool = await self._acquire_pool()
        if version == 0:
            try:
                await pool.execute(self._insert, chat_key, session_json, at, updates, counted)
            except asyncpg.UniqueViolationError:  # another worker created it first
                return False
            return True
        status = await pool.execute(
            self._update, session_json, version + 1, at, chat_key, version, updates, counted
        )
        return bool(status == "UPDATE 1")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def lane_for(url: str) -> Lane | None:
    """The direct lane for a database URL, or None where SQLAlchemy must do it all
    (an in-memory SQLite database lives in one connection only)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return SqliteLane(path, timeout=float(parsed.query.get("timeout", 15)))  # type: ignore[arg-type]
    if parsed.get_backend_name() == "postgresql":
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresLane(dsn)
    return None
