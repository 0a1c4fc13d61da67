"""Conversation state in the database: versioned writes, restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.engine import Session
from bot.storage import ConversationStore


async def test_load_save_and_version_check(database_url: str) -> None:
    url = database_url
    store = ConversationStore(url)
    await store.create_schema()
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
    await store.create_schema()
    one, two = Session((("profil", "porteur"),)), Session((("profil", "collectivite"),))
    results = await asyncio.gather(store.save("tg:9", one, 0), store.save("tg:9", two, 0))
    assert sorted(results) == [False, True]  # exactly one wins, the other is told
    stored, version = await store.load("tg:9")
    assert version == 1 and stored == (one if results[0] else two)
    await store.close()


async def test_purge_deletes_only_inactive_conversations(database_url: str) -> None:
    store = ConversationStore(database_url)
    await store.create_schema()
    await store.save("tg:1", Session((("profil", "porteur"),)), 0)
    assert await store.purge(timedelta(days=1)) == 0
    assert await store.purge(timedelta(seconds=-1)) == 1  # everything is older than "in 1 s"
    assert await store.count() == 0
    await store.close()
