"""What is not an orientation step: non-text messages, edits, group chats."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from handlers.common import Context, chat_key, keyboard, send, service_of

PRIVATE = filters.ChatType.PRIVATE


async def unsupported(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files, locations…: text or buttons only."""
    assert update.effective_chat is not None
    turn = await service_of(context).unsupported(chat_key(update))
    await send(context.bot, update.effective_chat.id, turn)


async def edited(update: Update, context: Context) -> None:
    assert update.effective_chat is not None
    service = service_of(context)
    session, _ = await service.store.load(chat_key(update))
    await send(context.bot, update.effective_chat.id, service.conversation.edited(session))


async def group(update: Update, context: Context) -> None:
    """In a group, commands get an invitation to a private chat; nothing is stored."""
    message = update.effective_message
    assert message is not None
    link = f"https://t.me/{context.bot.username}"
    reply = service_of(context).conversation.group_invite(link)
    await message.reply_text(reply.text, reply_markup=keyboard(reply.buttons))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    message = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(PRIVATE & message & ~filters.TEXT, unsupported))
    app.add_handler(MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, edited))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & message & filters.COMMAND, group))
