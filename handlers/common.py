"""Shared by the handlers: the domain service, chat keys, and drawing a turn in Telegram."""

from __future__ import annotations

import logging
from typing import Any, cast

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes

from bot.dialogue.service import ChatService
from bot.screens.render import html_to_text, split_reply
from bot.screens.views import Button, Reply, Turn, encode_action

log = logging.getLogger(__name__)

SERVICE = "service"
Context = ContextTypes.DEFAULT_TYPE
#: Telegram shows at most 200 characters in a callback answer
TOAST_LIMIT = 200


def service_of(app_or_context: Application[Any, Any, Any, Any, Any, Any] | Context) -> ChatService:
    return cast(ChatService, app_or_context.bot_data[SERVICE])


def chat_key(update: Update) -> str:
    chat = update.effective_chat
    assert chat is not None
    return f"tg:{chat.id}"


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url
                else InlineKeyboardButton(
                    b.label, callback_data=encode_action(b.action) if b.action else "c|||"
                )
                for b in row
            ]
            for row in rows
        ]
    )


async def send(bot: Bot, chat_id: int, turn: Turn, origin: Message | None = None) -> list[int]:
    """Send the turn's replies; with `turn.edit`, the first one replaces `origin`. The ids
    of the messages sent (not the edited one)."""
    sent: list[int] = []
    parts: list[Reply] = [part for reply in turn.replies for part in split_reply(reply)]
    if turn.edit and origin is not None and parts:
        first, parts = parts[0], parts[1:]
        try:
            await origin.edit_text(first.text, reply_markup=keyboard(first.buttons))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():  # too old to edit, deleted…: send it
                log.info("could not edit a message (%s); sending a new one", exc)
                parts.insert(0, first)
    for part in parts:
        if part.document is not None:
            name, content = part.document
            message = await bot.send_document(
                chat_id,
                InputFile(content, filename=name),
                caption=part.text,
                reply_markup=keyboard(part.buttons),
            )
            sent.append(message.message_id)
            continue
        message = await bot.send_message(chat_id, part.text, reply_markup=keyboard(part.buttons))
        sent.append(message.message_id)
    return sent


async def redraw(message: Message, reply: Reply) -> None:
    """Replace a message's text and buttons (a lead whose status changed)."""
    try:
        await message.edit_text(reply.text, reply_markup=keyboard(reply.buttons))
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def toast(query: CallbackQuery, notice: str | None) -> None:
    """Stop the button's spinner, with a short notice when there is one."""
    text = html_to_text(notice).strip()[:TOAST_LIMIT] if notice else None
    await query.answer(text or None)
