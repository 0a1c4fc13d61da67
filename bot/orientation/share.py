"""A result shared as a link: the answers (and the place) stored under an unguessable id.

« 🔗 Partager ce résultat » stores a copy of the result's session, without anything the
person typed in a form, as a conversation of its own (`share:<id>`), so it follows the
same retention as every conversation. The link (web page `/chat/r/<id>`, Telegram deep
link `?start=r_<id>`) reopens that result read-only, for anyone who has it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.orientation.engine import Session
from bot.platform.storage import ConversationStore
from bot.screens.labels import button
from bot.screens.views import Action, Button, Kind, Reply

if TYPE_CHECKING:
    from bot.dialogue.router import Conversation

SHARE_KEY = "share:"
PAYLOAD = "r_"  # a Telegram deep link's payload: r_<id>
_ID = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass
class ShareLinks:
    """Where a shared result opens; `{id}` is replaced by the share's id."""

    web: str | None = None  # e.g. https://boussole.example/chat/r/{id}
    telegram: str | None = None  # e.g. https://t.me/BoussoleBot?start=r_{id}

    def of(self, share_id: str) -> dict[str, str]:
        return {
            name: template.format(id=share_id)
            for name, template in (("web", self.web), ("telegram", self.telegram))
            if template
        }


def share_id(payload: str) -> str | None:
    """The id of a `r_<id>` deep-link payload, or None."""
    if not payload.startswith(PAYLOAD):
        return None
    value = payload.removeprefix(PAYLOAD)
    return value if _ID.fullmatch(value) else None


class Shares:
    def __init__(self, store: ConversationStore, links: ShareLinks | None = None) -> None:
        self.store = store
        self.links = links or ShareLinks()

    async def create(self, session: Session) -> str:
        """Store the result's answers and place (no form, no contact) under a new id."""
        kept = Session(answers=session.answers, place=session.place)
        while True:
            new = secrets.token_urlsafe(16)  # 128 bits: 22 characters
            if await self.store.save(SHARE_KEY + new, kept, 0):
                return new

    async def load(self, share: str) -> Session | None:
        if not _ID.fullmatch(share):
            return None
        session, version = await self.store.load(SHARE_KEY + share)
        return session if version else None


def link_reply(conversation: Conversation, links: dict[str, str]) -> Reply:
    return Reply(conversation.renderer.render("share.j2", kind="link", links=links))


def shared_replies(conversation: Conversation, session: Session | None) -> list[Reply]:
    """The shared result, read-only: its texts without their buttons, then a way to start."""
    start = [[Button(button("own_orientation"), Action(Kind.current))]]
    render = conversation.renderer.render
    state = conversation.engine.state(session) if session is not None else None
    if state is None or state.question is not None:
        return [Reply(render("share.j2", kind="missing"), start)]
    screens = conversation.screen(state)
    if state.session.place is None:
        screens = screens[:1]  # no place given: no contacts, and nobody to ask where
    texts = [Reply(render("share.j2", kind="shared"))] + [Reply(r.text) for r in screens]
    texts[-1].buttons = start
    return texts
