"""The orientation in a private chat: /start with its deep links, buttons, typed text."""

from __future__ import annotations

from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.screens.views import Kind, decode_action
from handlers.common import Context, chat_key, redraw, send, service_of, toast

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


async def start(update: Update, context: Context) -> None:
    assert update.effective_chat is not None
    payload = " ".join(context.args or [])
    turn = await service_of(context).start(chat_key(update), payload, update.update_id)
    await send(context.bot, update.effective_chat.id, turn)


async def text(update: Update, context: Context) -> None:
    assert update.effective_chat is not None and update.effective_message is not None
    typed = update.effective_message.text or ""
    turn = await service_of(context).text(chat_key(update), typed, update.update_id)
    await send(context.bot, update.effective_chat.id, turn)


async def button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    action = decode_action(query.data)
    origin = query.message if isinstance(query.message, Message) else None
    if action is not None and action.kind is Kind.partner:  # a partner's button on a lead
        user_id = query.from_user.id if query.from_user else None
        answer = await service_of(context).desk.press(action, update.effective_chat.id, user_id)
        await toast(query, answer.notice)
        if answer.reply is not None and origin is not None:
            await redraw(origin, answer.reply)
        return
    if update.effective_chat.type != ChatType.PRIVATE:  # the bot draws no other buttons there
        await toast(query, service_of(context).conversation.group_notice())
        return
    turn = await service_of(context).action(chat_key(update), action, update.update_id)
    await toast(query, turn.notice)
    await send(context.bot, update.effective_chat.id, turn, origin)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("start", start, filters=PRIVATE))
    app.add_handler(MessageHandler(PRIVATE & filters.TEXT, text))
    app.add_handler(CallbackQueryHandler(button))
