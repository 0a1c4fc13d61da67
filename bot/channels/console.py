"""The console channel: the whole orientation in a terminal, scriptable through stdin."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.dialogue.service import ChatService
from bot.screens.labels import group
from bot.screens.render import html_to_text, split_reply
from bot.screens.views import Kind, Reply, Turn, is_listed, listed

QUIT = {"quitter", "q", "quit", "exit", "/quitter"}

#: the console's own words (labels.yaml)
WORDS = group("console")
#: what to type for a control button (the commands of bot.dialogue.commands)
TYPED_WORDS = {
    Kind.help: "aide",
    Kind.back: "retour",
    Kind.restart: "recommencer",
    Kind.current: "reprendre",
    Kind.change_place: "lieu",
    Kind.privacy: "confidentialite",
}


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

    def show(self, turn: Turn) -> None:
        """The replies, paged as in Telegram. The buttons of the last list shown are
        numbered, as the dialogue numbers them (a typed number means the same in every
        channel); the others are typed words."""
        parts = [part for reply in turn.replies for part in split_reply(reply)]
        numbered = listed(parts)
        last = max((i for i, p in enumerate(parts) if listed([p]) == numbered), default=-1)
        for i, part in enumerate(parts):
            self._print(part, numbered=i == last and numbered is not None)

    def _print(self, reply: Reply, numbered: bool) -> None:
        out = self.stdout
        out.write("\n" + html_to_text(reply.text) + "\n")
        buttons = [b for row in reply.buttons for b in row]
        if buttons:
            out.write("\n")
        number = 0
        for button in buttons:
            if button.url:
                out.write(f"  🔗 {button.label} : {button.url}\n")
            elif button.action is not None and is_listed(button.action):
                if numbered:
                    number += 1
                    out.write(f"  {number}. {button.label}\n")
                else:
                    out.write(f"  • {button.label}\n")
            elif button.action is not None:
                word = TYPED_WORDS.get(button.action.kind)
                if button.action.kind is Kind.place:
                    word = "passer"
                out.write(f"  [{word}] {button.label}\n" if word else f"  {button.label}\n")
        out.flush()

    async def handle(self, line: str) -> Turn:
        text = line.strip()
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
