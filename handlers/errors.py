"""When a handler fails: log it (never the token), tell the person, keep their place."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application

from bot.platform.observe import ERRORS, OUTCOME, hashed
from handlers.common import Context, chat_key, send, service_of

log = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    ERRORS.inc()
    OUTCOME.set("error")  # the update's log line says so
    chat = update.effective_chat if isinstance(update, Update) else None
    log.error(
        "update failed (chat %s): %s",
        hashed(chat.id) if chat else "-",
        type(context.error).__name__,
        exc_info=context.error,
    )
    if not isinstance(update, Update) or chat is None or chat.type != ChatType.PRIVATE:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        turn = await service_of(context).failure(chat_key(update))
        await send(context.bot, chat.id, turn)
    except Exception:  # the error message itself failed (Telegram down…): logged only
        log.warning("could not tell chat %s about the failure", hashed(chat.id), exc_info=True)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_error_handler(on_error)
