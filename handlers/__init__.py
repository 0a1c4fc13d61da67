"""Telegram handlers, grouped by feature; thin: parse the update, call the domain, send.

- `orientation`: /start, buttons, typed answers and commands in a private chat
- `other`: stickers, photos and other non-text messages, edited messages, group chats
- `errors`: the error handler
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.dialogue.service import ChatService
from handlers import errors, orientation, other
from handlers.common import SERVICE, service_of

__all__ = ["service_of", "setup"]


def setup(app: Application[Any, Any, Any, Any, Any, Any], service: ChatService) -> None:
    app.bot_data[SERVICE] = service
    orientation.register(app)
    other.register(app)
    errors.register(app)
