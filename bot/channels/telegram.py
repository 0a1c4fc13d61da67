"""The Telegram application: python-telegram-bot wired to the domain.

The only module of `bot/` that imports telegram. It builds the `Application` (Bot API
address, HTML by default, rate limiter, per-chat ordering), registers the handlers of
`handlers/`, creates the database schema, registers the command menu, purges old
conversations, and runs in polling or webhook mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import uvicorn
from sqlalchemy import text
from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseUpdateProcessor
from telegram.ext import Defaults as _Defaults
from telegram.request import BaseRequest

import handlers
from bot.channels.logs import configure_logging
from bot.channels.web import NotAnUpdate, build_web
from bot.channels.web_chat import WebChat, web_settings, web_share_link
from bot.dialogue.commands import BOT_COMMANDS, GROUP_COMMANDS, OPERATOR_COMMANDS
from bot.dialogue.router import Conversation
from bot.dialogue.service import ChatService
from bot.leads.delivery import DeliveryError, SmtpSettings
from bot.leads.limits import LeadLimits
from bot.leads.outbox import ChatMoved, Outbox
from bot.leads.partners import Partners, load_partners
from bot.orientation.engine import Session
from bot.orientation.share import PAYLOAD
from bot.platform.config import BotMode, Settings
from bot.platform.observe import (
    OUTCOME,
    RELOADS,
    log_update,
    update_type,
)
from bot.platform.storage import ConversationStore
from bot.screens.render import Renderer, html_to_text
from bot.screens.views import Reply, Turn
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge

log = logging.getLogger(__name__)

PURGE_EVERY = timedelta(hours=6)
PURGE_TASK = "purge_task"
OUTBOX = "outbox"
OUTBOX_TASK = "outbox_task"
RELOAD_ROOT = "reload_root"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Many chats at once, but the updates of one chat one after the other, in order.

    Across processes the version check of the store does the same job; inside one
    process this avoids replaying an update needlessly.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                started = time.perf_counter()
                OUTCOME.set("ok")
                try:
                    await coroutine
                except Exception:
                    OUTCOME.set("error")
                    raise
                finally:
                    seconds = time.perf_counter() - started
                    log_update(update_type(update), key, seconds, OUTCOME.get())
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else waits: forget the lock
                del self._waiting[key], self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def build_application(
    settings: Settings,
    kb: KnowledgeBase,
    request: BaseRequest | None = None,
    store: ConversationStore | None = None,
    partners: Partners | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot, ready to run or to be fed updates (tests pass an offline `request`)."""
    token = settings.token
    if token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    base = settings.telegram_api_base_url.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .defaults(
            _Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrent_updates))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    contacts = {contact.id for contact in kb.contacts}
    conversation = Conversation(
        kb,
        retention_days=settings.retention_days,
        partners=partners or load_partners(settings.partners_file, contacts),
        lead_retention_days=settings.lead_retention_days,
    )
    limits = LeadLimits(settings.lead_daily_cap, settings.lead_daily_cap_operator)
    store = store or ConversationStore(settings.database_url)
    service = ChatService(conversation, store, limits=limits)
    if settings.web_public_url:
        service.shares.links.web = web_share_link(settings.web_public_url)
    handlers.setup(app, service)
    app.bot_data["settings"] = settings
    return app


class BotMessenger:
    """The outbox's way to Telegram: a reply to a chat (a partner's group, a person)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, reply: Reply) -> list[int]:
        try:
            return await handlers.common.send(self.bot, chat_id, Turn(Session(), [reply], False))
        except ChatMigrated as exc:  # the group became a supergroup: the outbox follows it
            raise ChatMoved(int(exc.new_chat_id)) from exc
        except (Forbidden, BadRequest) as exc:  # blocked, chat gone, refused text: final
            raise DeliveryError(f"Telegram refused: {type(exc).__name__}", permanent=True) from exc
        except TelegramError as exc:  # network, flood control: later
            raise DeliveryError(f"Telegram: {type(exc).__name__}", permanent=False) from exc

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        try:
            await self.bot.edit_message_text(
                reply.text, chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except TelegramError as exc:  # deleted, too old, not modified…
            raise DeliveryError(f"Telegram: {type(exc).__name__}", permanent=True) from exc


def build_outbox(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> Outbox:
    service = handlers.service_of(app)
    smtp = None
    if settings.smtp_host:
        smtp = SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    return Outbox(
        service.leads,
        service.conversation.partner,
        BotMessenger(app.bot),
        smtp,
        reminder_after=timedelta(hours=settings.partner_reminder_hours),
        followup_after=timedelta(days=settings.followup_days),
        first_retry=settings.outbox_first_retry,
    )


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    service = handlers.service_of(app)
    settings: Settings = app.bot_data["settings"]
    await service.store.migrate()
    if app.bot.username:  # known once initialised (getMe)
        service.shares.links.telegram = f"https://t.me/{app.bot.username}?start={PAYLOAD}{{id}}"
    if RELOAD_ROOT in app.bot_data:  # polling mode started by `run`
        _reload_on_sighup(app, app.bot_data[RELOAD_ROOT])
    await present_the_bot(app.bot, service.conversation.partners, service.conversation.renderer)
    app.bot_data[PURGE_TASK] = asyncio.create_task(_purge_loop(service, settings))
    outbox = app.bot_data[OUTBOX] = build_outbox(app, settings)
    if settings.outbox_worker:
        service.on_lead = outbox.wake
        app.bot_data[OUTBOX_TASK] = asyncio.create_task(
            outbox.run_forever(settings.outbox_interval)
        )
    if RELOAD_ROOT in app.bot_data:  # polling starts right after this
        log.info("%s (Bot API at %s)", POLLING_READY, settings.telegram_api_base_url)


DESCRIPTION_LIMIT, SHORT_DESCRIPTION_LIMIT = 512, 120  # Telegram's limits (characters)


def menus(partners: Partners) -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """Each command menu and where Telegram shows it: private chats (and the default),
    groups, and each operator's own chat with /leads and /stats."""
    private = [BotCommand(name, description) for name, description in BOT_COMMANDS]
    operator = private + [BotCommand(name, text) for name, text in OPERATOR_COMMANDS]
    out: list[tuple[BotCommandScope, list[BotCommand]]] = [
        (BotCommandScopeDefault(), private),
        (BotCommandScopeAllPrivateChats(), private),
        (BotCommandScopeAllGroupChats(), [BotCommand(n, d) for n, d in GROUP_COMMANDS]),
    ]
    for user_id in sorted({o.telegram_user_id for o in partners.operators}):
        out.append((BotCommandScopeChat(user_id), operator))
    return out


async def present_the_bot(bot: Bot, partners: Partners, renderer: Renderer) -> None:
    """What Telegram shows before the first message (the empty chat's description, the
    profile's short description, from templates) and the command menus. A comfort: the
    bot works without them, so a refusal is logged, never fatal."""
    description = html_to_text(renderer.render("description.j2"))
    short = html_to_text(renderer.render("short_description.j2"))
    assert len(description) <= DESCRIPTION_LIMIT and len(short) <= SHORT_DESCRIPTION_LIMIT
    try:
        await bot.set_my_description(description)
        await bot.set_my_short_description(short)
    except TelegramError:
        log.warning("could not set the bot's description", exc_info=True)
    for scope, commands in menus(partners):
        try:
            await bot.set_my_commands(commands, scope=scope)
        except TelegramError:  # e.g. an operator who never opened a chat with the bot
            log.warning("could not register the command menu (%s)", scope.type, exc_info=True)


async def _post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    for key in (PURGE_TASK, OUTBOX_TASK):
        task = app.bot_data.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    outbox = app.bot_data.pop(OUTBOX, None)
    if outbox is not None:
        await outbox.close()
    await handlers.service_of(app).store.close()


async def _purge_loop(service: ChatService, settings: Settings) -> None:
    retention = timedelta(days=settings.retention_days)
    lead_retention = timedelta(days=settings.lead_retention_days)
    while True:
        try:
            gone = await service.purge(retention)
            leads = await service.leads.purge(lead_retention)
            if gone or leads:
                log.info("purged %d inactive conversations and %d old leads", gone, leads)
        except Exception:
            log.exception("purge of old conversations failed; will retry")
        await asyncio.sleep(PURGE_EVERY.total_seconds())


ALLOWED = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
WEBHOOK_READY = "webhook server listening"  # logged once updates can be received
POLLING_READY = "polling for updates"  # logged once updates can be received (polling mode)


def reload_knowledge(app: Application[Any, Any, Any, Any, Any, Any], root: Path | None) -> bool:
    """Load the knowledge base again; keep the running one when the new one is invalid."""
    service = handlers.service_of(app)
    current = service.conversation
    try:
        kb = load_knowledge(root)
    except KnowledgeError as exc:
        RELOADS.labels("refused").inc()
        log.error(
            "knowledge base reload refused, still serving version %s:\n%s",
            current.kb.version,
            exc.render(),
        )
        return False
    fresh = Conversation(
        kb,
        geo=current.geo,  # the territory index does not depend on the knowledge base
        retention_days=current.retention_days,
        partners=current.partners,
        lead_retention_days=current.lead_retention_days,
    )
    service.swap(fresh)
    outbox = app.bot_data.get(OUTBOX)
    if outbox is not None:
        outbox.dialogue = fresh.partner
    RELOADS.labels("ok").inc()
    log.info("knowledge base reloaded: version %s → %s", current.kb.version, kb.version)
    return True


def _reload_on_sighup(app: Application[Any, Any, Any, Any, Any, Any], root: Path | None) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP, lambda: reload_knowledge(app, root)
        )


async def readiness(app: Application[Any, Any, Any, Any, Any, Any]) -> tuple[bool, dict[str, str]]:
    service = handlers.service_of(app)
    checks = {"knowledge": f"version {service.conversation.kb.version}"}
    try:
        async with service.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # unreachable, wrong credentials…
        checks["database"] = f"unreachable ({type(exc).__name__})"
        return False, checks
    return True, checks


def webhook_process(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """What the web server does with an update's JSON: read it, then handle it in order."""

    async def process(data: dict[str, Any]) -> None:
        try:
            update = Update.de_json(data, app.bot)
        except Exception as exc:  # valid JSON, but not an update PTB can read
            raise NotAnUpdate(type(exc).__name__) from exc
        await app.update_processor.process_update(update, app.process_update(update))

    return process


async def serve_webhook(
    app: Application[Any, Any, Any, Any, Any, Any], settings: Settings, root: Path | None
) -> None:
    """Webhook mode: Telegram posts to our web server, which also answers health checks."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    await app.initialize()
    assert app.post_init is not None and app.post_shutdown is not None
    await app.post_init(app)
    await app.start()
    _reload_on_sighup(app, root)

    routes, middleware = [], []
    if settings.web_chat:  # the web chat, on the same server and database
        listen = f"http://{settings.webhook_listen}:{settings.webhook_port}"
        share = settings.web_public_url is not None  # else the address is only a local one
        chat = WebChat(handlers.service_of(app), web_settings(settings, listen), share)
        routes, middleware = chat.routes(), [chat.middleware()]
    path = urlparse(settings.webhook_url).path
    web = build_web(webhook_process(app), lambda: readiness(app), secret, path, routes, middleware)
    config = uvicorn.Config(
        web,
        host=settings.webhook_listen,
        port=settings.webhook_port,
        log_level="warning",
        lifespan="off",
        proxy_headers=True,
        log_config=None,  # uvicorn's records go through our handlers (and their redaction)
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # listen first, then tell Telegram where to post
            if serving.done():
                await serving  # it could not listen (port taken…): say why
                return
            await asyncio.sleep(0.05)
        await app.bot.set_webhook(
            settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED
        )
        log.info(
            "%s on %s:%d, webhook registered",
            WEBHOOK_READY,
            settings.webhook_listen,
            settings.webhook_port,
        )
        await serving
    finally:
        await app.stop()
        await app.post_shutdown(app)
        await app.shutdown()


BAD_TOKEN = (
    "Telegram refuse le jeton du bot (TELEGRAM_BOT_TOKEN) : il est faux ou a été révoqué. "
    "Copiez le jeton actuel depuis @BotFather (/mybots), puis relancez."
)
NO_BOT_API = (
    "Bot API injoignable à {url} après {attempts} tentatives : vérifiez le réseau, le "
    "pare-feu ou TELEGRAM_API_BASE_URL, puis relancez."
)


async def reach_bot_api(settings: Settings) -> bool:
    """Before anything else: can the Bot API be reached, and does it accept the token?

    A network failure is retried with a growing wait, one log line per attempt; a refused
    token or too many failures end in one line that says what to do (False)."""
    assert settings.token is not None
    base = settings.telegram_api_base_url.rstrip("/")
    wait = settings.startup_first_wait
    for attempt in range(1, settings.startup_attempts + 1):
        bot = Bot(settings.token, base_url=f"{base}/bot")
        try:
            async with bot:  # getMe
                return True
        except InvalidToken:
            log.error(BAD_TOKEN)
            return False
        except TelegramError as exc:  # network, timeout, Bot API down
            if attempt == settings.startup_attempts:
                break
            log.warning(
                "Bot API injoignable (tentative %d/%d : %s) ; nouvel essai dans %.0f s",
                attempt,
                settings.startup_attempts,
                type(exc).__name__,
                wait,
            )
        await asyncio.sleep(wait)
        wait *= 2
    log.error(NO_BOT_API.format(url=base, attempts=settings.startup_attempts))
    return False


def run(settings: Settings, kb: KnowledgeBase, root: Path | None = None) -> int:
    """`python -m bot run`: serve the bot until interrupted; 2 when it cannot start."""
    partners = load_partners(settings.partners_file, {contact.id for contact in kb.contacts})
    configure_logging(settings, partners)
    if not asyncio.run(reach_bot_api(settings)):
        return 2
    app = build_application(settings, kb, partners=partners)
    try:
        if settings.bot_mode is BotMode.webhook:
            asyncio.run(serve_webhook(app, settings, root))
        else:
            log.info("polling mode, Bot API at %s", settings.telegram_api_base_url)
            app.bot_data[RELOAD_ROOT] = root
            app.run_polling(poll_interval=settings.poll_interval, allowed_updates=ALLOWED)
    except InvalidToken:  # revoked while starting
        log.error(BAD_TOKEN)
        return 2
    return 0
