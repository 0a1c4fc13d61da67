"""Conversation state in the database: versioned writes, restarts."""

from __future__ import annotations

from pathlib import Path

from bot.engine import Session
from bot.storage import ConversationStore


async def test_load_save_and_version_check(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
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
