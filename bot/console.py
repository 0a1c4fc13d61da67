"""The console channel: the whole orientation in a terminal, scriptable through stdin."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.conversation import Conversation
from bot.engine import Session
from bot.render import html_to_text
from bot.storage import ConversationStore
from bot.views import Action, Reply, Turn

QUIT = {"quitter", "q", "quit", "exit", "/quitter"}


class Console:
    def __init__(
        self,
        conversation: Conversation,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        store: ConversationStore | None = None,
        chat_key: str = "console:local",
    ) -> None:
        self.conversation = conversation
        self.store = store
        self.chat_key = chat_key
        self.version = 0
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.echo = not self.stdin.isatty()
        self.session = Session()
        self.actions: list[Action] = []  # the numbered buttons on screen

    def show(self, turn: Turn) -> None:
        self.session = turn.session
        for reply in turn.replies:
            self._print(reply)

    def _print(self, reply: Reply) -> None:
        out = self.stdout
        out.write("\n" + html_to_text(reply.text) + "\n")
        numbered = [b for row in reply.buttons for b in row if b.action is not None]
        if numbered:
            self.actions = [b.action for b in numbered if b.action is not None]
            out.write("\n")
            for i, button in enumerate(numbered, 1):
                out.write(f"  {i}. {button.label}\n")
        for row in reply.buttons:
            for button in row:
                if button.url:
                    out.write(f"  🔗 {button.label} : {button.url}\n")
        out.flush()

    def handle(self, line: str) -> Turn:
        text = line.strip()
        if text.isdigit() and self.actions and 1 <= int(text) <= len(self.actions):
            return self.conversation.handle_action(self.session, self.actions[int(text) - 1])
        return self.conversation.handle_text(self.session, text)

    async def _save(self, turn: Turn) -> None:
        if self.store is None or not turn.changed:
            return
        if await self.store.save(self.chat_key, turn.session, self.version):
            self.version += 1
        else:  # another process moved this conversation on: continue from the stored state
            session, self.version = await self.store.load(self.chat_key)
            turn.session = session
            turn.replies = self.conversation.screen(session)

    async def run(self, fresh: bool = False) -> int:
        session = Session()
        if self.store is not None:
            session, self.version = await self.store.load(self.chat_key)
            if fresh and session.step:
                session = Session()
                await self._save(Turn(session, [], True))
        turn = self.conversation.welcome(session)
        await self._save(turn)
        self.show(turn)
        self.stdout.write("\n(Tapez le numéro d'une réponse, ou « quitter » pour sortir.)\n")
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:  # end of input (Ctrl-D or end of a script)
                self.stdout.write(
                    "\nÀ bientôt ! Vos réponses sont gardées pour la prochaine fois.\n"
                )
                return 0
            if self.echo:
                self.stdout.write(line if line.endswith("\n") else line + "\n")
            if line.strip().lower() in QUIT:
                self.stdout.write("\nÀ bientôt sur Boussole !\n")
                return 0
            turn = self.handle(line)
            await self._save(turn)
            self.show(turn)
