"""Self-test of the Telegram emulator harness with a tiny python-telegram-bot 22 bot.

    .venv/bin/python tests/emulator/selftest.py

Starts the emulator, runs an echo bot in polling mode then in webhook mode (with a secret
token) in this process, and plays a user against it. Exits 0 when every check passes.
"""

from __future__ import annotations

import asyncio
import html
import socket
import sys
from pathlib import Path
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.emulator_harness import EmulatedUser, Emulator

TOKEN = "123456:selftest-token"
App = Application[Any, Any, Any, Any, Any, Any]


async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    payload = update.message.text.partition(" ")[2] if update.message.text else ""
    button = InlineKeyboardButton("Continuer ▶", callback_data="go")
    await update.message.reply_text(
        f"<b>Bienvenue</b> {html.escape(payload)}".strip(),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


async def clicked(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    assert query.message.date.year >= 2024, query.message.date  # seconds, not milliseconds
    await query.answer("Bien reçu")
    await query.edit_message_text(f"Choix : {query.data}")


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def sticker(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("joli sticker")


def build(emulator: Emulator) -> App:
    # Same defaults as Boussole: link_preview_options is sent with every message, as JSON.
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )
    builder = ApplicationBuilder().token(TOKEN).base_url(emulator.api_base).defaults(defaults)
    app: App = builder.build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(clicked))
    app.add_handler(MessageHandler(filters.Sticker.ALL, sticker))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


def check(label: str, condition: bool, detail: object = "") -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {label}" + (f"  [{detail}]" if detail else ""))
    if not condition:
        raise SystemExit(f"selftest failed: {label}")


def polling_scenario(user: EmulatedUser) -> None:
    user.send_command("/start depuis-le-test")
    state = user.wait_for(lambda s: len(s) == 1)
    check("/start answered with a button", state[0].buttons == [[("Continuer ▶", "go")]], state[0])
    check("/start payload reached the bot", state[0].text == "Bienvenue depuis-le-test")
    check("HTML shown as text, kept in source", state[0].source.startswith("<b>Bienvenue</b>"))

    message_id, data = user.button("Continuer")
    user.click(message_id, data)
    state = user.wait_for(lambda s: s[0].text == "Choix : go")
    check("click edited the message", state[0].edited and state[0].buttons == [], state[0])
    answers = user.callback_answers()
    check("callback answer recorded", [a.text for a in answers] == ["Bien reçu"], answers)

    user.send_text("Bonjour le bot")
    state = user.wait_for(lambda s: len(s) == 2)
    check("text echoed", user.last_message().text == "Bonjour le bot", state[-1])

    user.send_sticker()
    user.wait_for(lambda s: len(s) == 3)
    check("sticker handled", user.last_message().text == "joli sticker")


def group_scenario(user: EmulatedUser) -> None:
    user.send_text("salut le groupe")
    state = user.wait_for(lambda s: len(s) == 1)
    check("group message echoed in the group", state[0].text == "salut le groupe", state[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def main() -> None:
    with Emulator() as emulator:
        print(f"emulator at {emulator.api_base}")

        print("polling mode")
        app = build(emulator)
        await app.initialize()
        check("getMe accepted", app.bot.username == "BoussoleTestBot", app.bot.bot)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.05)
        try:
            user = EmulatedUser(emulator, TOKEN, user_id=42)
            await asyncio.to_thread(polling_scenario, user)
            group = EmulatedUser(emulator, TOKEN, user_id=43, chat_id=-100, chat_type="group")
            await asyncio.to_thread(group_scenario, group)

            commands = [BotCommand("start", "Commencer"), BotCommand("aide", "Aide")]
            check("setMyCommands", await app.bot.set_my_commands(commands))
            stored = await asyncio.to_thread(emulator.commands, TOKEN)
            expected = [
                {"command": "start", "description": "Commencer"},
                {"command": "aide", "description": "Aide"},
            ]
            check("getCommands returns them", stored == expected, stored)
            check(
                "getMyCommands returns them",
                tuple(await app.bot.get_my_commands()) == tuple(commands),
            )
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

        print("webhook mode (secret token)")
        app = build(emulator)
        port = free_port()
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="s3cret-token",
        )
        try:
            user = EmulatedUser(emulator, TOKEN, user_id=44)

            def webhook_scenario() -> None:
                user.send_text("par webhook")
                state = user.wait_for(lambda s: len(s) == 1)
                check("update delivered with the secret header", state[0].text == "par webhook")

            await asyncio.to_thread(webhook_scenario)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    print("selftest passed")


if __name__ == "__main__":
    asyncio.run(main())
