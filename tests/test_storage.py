"""Conversation state in the database: versioned writes, restarts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.orientation.engine import Session
from bot.platform.storage import ConversationStore


async def test_load_save_and_version_check(database_url: str) -> None:
    url = database_url
    store = ConversationStore(url)
    await store.migrate()
    assert await store.load("tg:1") == (Session(), 0)
    one = Session((("profil", "porteur"),))
    assert await store.save("tg:1", one, 0)
    assert await store.load("tg:1") == (one, 1)
    # a second writer that read version 0 too is refused: nothing is overwritten
    assert not await store.save("tg:1", Session((("profil", "entreprise"),)), 0)
    two = Session((*one.answers, ("projet_porteur", "lieu")))
    assert await store.save("tg:1", two, 1)
    assert not await store.save("tg:1", one, 1)  # stale version
    await store.close()

    # a new process (new engine) finds the conversation where it was
    again = ConversationStore(url)
    assert await again.load("tg:1") == (two, 2)
    assert await again.count() == 1
    await again.delete("tg:1")
    assert await again.load("tg:1") == (Session(), 0)
    await again.close()


async def test_two_writers_racing_on_a_new_conversation(database_url: str) -> None:
    store = ConversationStore(database_url)
    await store.migrate()
    one, two = Session((("profil", "porteur"),)), Session((("profil", "collectivite"),))
    results = await asyncio.gather(store.save("tg:9", one, 0), store.save("tg:9", two, 0))
    assert sorted(results) == [False, True]  # exactly one wins, the other is told
    stored, version = await store.load("tg:9")
    assert version == 1 and stored == (one if results[0] else two)
    await store.close()


async def test_purge_deletes_only_inactive_conversations(database_url: str) -> None:
    store = ConversationStore(database_url)
    await store.migrate()
    await store.save("tg:1", Session((("profil", "porteur"),)), 0)
    assert await store.purge(timedelta(days=1)) == 0
    assert await store.purge(timedelta(seconds=-1)) == 1  # everything is older than "in 1 s"
    assert await store.count() == 0
    await store.close()


async def test_migrations_build_exactly_the_models_and_run_twice(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import bot.leads.store  # noqa: F401
    from bot.platform.storage import Base

    store = ConversationStore(database_url)
    assert await store.migrate() == "0006"
    assert await store.migrate() == "0006"  # a second start changes nothing

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    await store.close()


async def test_a_database_from_before_migrations_is_taken_over(database_url: str) -> None:
    """Conversations stored by version 0.1 (tables made without Alembic) are kept."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE conversations (chat_key VARCHAR(80) PRIMARY KEY, "
                "session_json TEXT NOT NULL, version INTEGER NOT NULL, "
                "updated_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        await conn.execute(
            text("INSERT INTO conversations VALUES (:key, :json, 3, :at)"),
            {
                "key": "console:local",
                "json": '{"v":1,"a":[["profil","porteur"]]}',
                "at": datetime(2026, 11, 1, tzinfo=UTC),
            },
        )
    await engine.dispose()
    store = ConversationStore(database_url)
    assert await store.migrate() == "0006"
    assert await store.load("console:local") == (Session((("profil", "porteur"),)), 3)
    await store.close()


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    """Three processes start on an empty database at the same moment."""
    code = (
        "import asyncio, sys\n"
        "from bot.platform.storage import ConversationStore\n"
        "async def main():\n"
        "    store = ConversationStore(sys.argv[1])\n"
        "    print(await store.migrate())\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [w.communicate(timeout=60) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["0006"] * 3
