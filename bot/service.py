"""One input of one chat: read the stored session, run the dialogue, write it back.

Every channel goes through here, so the state is never only in memory: a restart, or
another process serving the same bot, continues each conversation where it was. Writes
are checked against the version read; when another worker moved the conversation on
in the meantime (a double click landing on two workers), the input is replayed on the
fresh state, where a duplicate click is recognised as such.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bot.conversation import Conversation
from bot.engine import Session
from bot.storage import ConversationStore
from bot.views import Action, Turn

log = logging.getLogger(__name__)

Step = Callable[[Session], Turn]


class ChatService:
    def __init__(
        self, conversation: Conversation, store: ConversationStore, attempts: int = 5
    ) -> None:
        self.conversation = conversation
        self.store = store
        self.attempts = attempts

    async def start(self, chat_key: str, payload: str = "") -> Turn:
        return await self.run(chat_key, lambda s: self.conversation.welcome(s, payload))

    async def text(self, chat_key: str, text: str) -> Turn:
        return await self.run(chat_key, lambda s: self.conversation.handle_text(s, text))

    async def action(self, chat_key: str, action: Action | None) -> Turn:
        return await self.run(chat_key, lambda s: self.conversation.handle_action(s, action))

    async def unsupported(self, chat_key: str) -> Turn:
        return await self.run(chat_key, self.conversation.unsupported)

    async def failure(self, chat_key: str) -> Turn:
        """What to show after an error: where the person is, read again from the store."""
        session, _ = await self.store.load(chat_key)
        return self.conversation.failure(session)

    async def run(self, chat_key: str, step: Step) -> Turn:
        session = Session()
        for _ in range(self.attempts):
            session, version = await self.store.load(chat_key)
            turn = step(session)
            if not turn.changed:
                return turn
            if turn.erase:
                await self.store.delete(chat_key)
                return turn
            if await self.store.save(chat_key, turn.session, version):
                return turn
            log.info("conversation moved on during an update; replaying it")
        return self.conversation.busy(session)

    async def purge(self, older_than: timedelta) -> int:
        return await self.store.purge(older_than)
