"""The console channel: the whole orientation in a terminal, scriptable through stdin."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.dialogue.service import ChatService
from bot.screens.labels import group
from bot.screens.render import html_to_text, split_reply
from bot.screens.views import Action, Reply, Turn

QUIT = {"quitter", "q", "quit", "exit", "/quitter"}

#: the console's own words (labels.yaml)
WORDS = group("console")


class Console:
    """A terminal chat. Its state goes through the same service (and database) as Telegram."""

    def __init__(
        self,
        service: ChatService,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        chat_key: str = "console:local",
    ) -> None:
        self.service = service
        self.chat_key = chat_key
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.echo = not self.stdin.isatty()
        self.actions: list[Action] = []  # the numbered buttons on screen

    def show(self, turn: Turn) -> None:
        for reply in turn.replies:
            for part in split_reply(reply):
                self._print(part)

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

    async def handle(self, line: str) -> Turn:
        text = line.strip()
        if text.isdigit() and self.actions and 1 <= int(text) <= len(self.actions):
            return await self.service.action(self.chat_key, self.actions[int(text) - 1])
        return await self.service.text(self.chat_key, text)

    async def run(self, fresh: bool = False) -> int:
        if fresh:
            await self.service.store.delete(self.chat_key)
        self.show(await self.service.start(self.chat_key))
        self.stdout.write(f"\n{WORDS['prompt_hint']}\n")
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:  # end of input (Ctrl-D or end of a script)
                self.stdout.write(f"\n{WORDS['goodbye_saved']}\n")
                return 0
            if self.echo:
                self.stdout.write(line if line.endswith("\n") else line + "\n")
            if line.strip().lower() in QUIT:
                self.stdout.write(f"\n{WORDS['goodbye']}\n")
                return 0
            self.show(await self.handle(line))
