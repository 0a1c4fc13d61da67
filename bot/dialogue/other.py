"""Input that is not a text or a button of the orientation: stickers and photos, edits,
group chats, and what to show after an error or a conflict between workers."""

from __future__ import annotations

from bot.dialogue.parts import Parts, Screen
from bot.orientation.engine import Session
from bot.screens.labels import button
from bot.screens.views import Button, Reply, Turn


class OtherInput:
    def __init__(self, parts: Parts, screen: Screen) -> None:
        self.parts = parts
        self.screen = screen

    def _text(self, kind: str) -> str:
        return self.parts.renderer.render("other.j2", kind=kind)

    def unsupported(self, session: Session) -> Turn:
        """A sticker, photo, voice message, file or location."""
        return Turn(session, [Reply(self._text("unsupported")), *self.screen(session)], False)

    def edited(self, session: Session) -> Turn:
        return Turn(session, [Reply(self._text("edited"))], False)

    def group_invite(self, private_link: str) -> Reply:
        """In a group the bot only invites to a private chat, where answers stay private."""
        return Reply(self._text("group"), [[Button(button("private_chat"), url=private_link)]])

    def group_notice(self) -> str:
        """The short answer to a button pressed in a group (the bot draws none there)."""
        return self._text("group_button")

    def failure(self, session: Session) -> Turn:
        """Something broke while handling a message: say so, show where the person is."""
        return Turn(session, [Reply(self._text("error")), *self.screen(session)], False)

    def busy(self, session: Session) -> Turn:
        """The conversation kept moving under us (another worker): show the stored state."""
        return Turn(session, [Reply(self._text("busy")), *self.screen(session)], False)
