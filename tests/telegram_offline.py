"""An offline Bot API for the real python-telegram-bot `Application`.

`OfflineRequest` replaces PTB's HTTP layer: it answers the Bot API methods the bot uses,
keeps what each chat shows (messages and their edits, callback answers), and enforces
Telegram's rules: a call that Telegram would refuse gets the same 400 answer, and is
recorded in `violations` so that a test fails on it:

- message text: 1 to 4096 characters after HTML parsing (counted in UTF-16 code units),
  HTML that Telegram accepts (supported tags, balanced, escaped);
- inline buttons: a non-empty label and either callback data of 1 to 64 bytes or an
  http(s) URL;
- callback answers: at most 200 characters;
- editing a message: it must exist in that chat and actually change.

`TelegramUser` plays a person in a chat: it builds the updates Telegram would send
(`/start`, text, a click on a button seen on screen, a sticker…) and feeds them to the
application.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from tests.telegram_html import html_errors

BOT_ID = 777000111
BOT_USERNAME = "BoussoleTestBot"
TAG = re.compile(r"<[^>]+>")


def visible_text(text: str) -> str:
    """What a person reads once Telegram has parsed the HTML."""
    return html.unescape(TAG.sub("", text))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Shown:
    """A bot message as it is currently displayed in a chat."""

    message_id: int
    chat_id: int
    html: str
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    edits: int = 0
    document: tuple[str, bytes] | None = None  # (file name, content) of a sent file

    @property
    def text(self) -> str:
        return visible_text(self.html)

    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]


class BadRequest(Exception):
    pass


class Refused(Exception):
    """An error answer Telegram gives on purpose (not a violation by the bot)."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class OfflineRequest(BaseRequest):
    def __init__(self, keep: bool = True) -> None:
        """`keep=False` (benchmarks) checks every call but remembers nothing."""
        self.keep = keep
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.counts: Counter[str] = Counter()
        self.violations: list[str] = []
        self.messages: dict[tuple[int, int], Shown] = {}
        self.toasts: list[str | None] = []
        self.commands: list[dict[str, Any]] = []  # the default scope's menu
        self.menus: dict[str, list[dict[str, Any]]] = {}  # by scope: "default", "chat:42"…
        self.descriptions: dict[str, str] = {}  # "description", "short_description"
        self._ids = itertools.count(1000)
        #: faults to inject: groups upgraded to a supergroup (old id → new id), chats that
        #: removed the bot (403)
        self.migrated: dict[int, int] = {}
        self.kicked: set[int] = set()

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            params["_files"] = {
                key: (value[0], value[1]) for key, value in request_data.multipart_data.items()
            }
        self.counts[name] += 1
        if self.keep:
            self.calls.append((name, params))
        try:
            self._faults(name, params)
            result = self._answer(name, params)
        except Refused as exc:
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.code, json.dumps(body).encode()
        except BadRequest as exc:
            self.violations.append(f"{name}: {exc}")
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
            return 400, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # ---------------------------------------------------------------- the Bot API

    def _faults(self, name: str, p: dict[str, Any]) -> None:
        if name not in ("sendMessage", "sendDocument", "editMessageText"):
            return
        chat_id = int(p["chat_id"])
        if chat_id in self.migrated:
            raise Refused(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        if chat_id in self.kicked:
            raise Refused(403, "Forbidden: bot was kicked from the supergroup chat")

    def _answer(self, name: str, p: dict[str, Any]) -> Any:
        if name == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Boussole",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if name == "sendMessage":
            chat_id = int(p["chat_id"])
            self._check_text(p)
            buttons = self._check_markup(p)
            shown = Shown(next(self._ids), chat_id, p["text"], buttons)
            if self.keep:
                self.messages[(chat_id, shown.message_id)] = shown
            return self.as_api(shown)
        if name == "sendDocument":
            chat_id = int(p["chat_id"])
            caption = p.get("caption") or ""
            if p.get("parse_mode") == "HTML" and html_errors(caption):
                raise BadRequest(f"can't parse entities: {html_errors(caption)[0]}")
            if len(visible_text(caption)) > 1024:
                raise BadRequest("message caption is too long")
            filename, content = next(iter(p["_files"].values()))
            shown = Shown(next(self._ids), chat_id, caption, self._check_markup(p))
            shown.document = (filename, content)
            if self.keep:
                self.messages[(chat_id, shown.message_id)] = shown
            return self.as_api(shown)
        if name == "editMessageText":
            chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
            shown = self.messages.get((chat_id, message_id))
            if shown is None and not self.keep:
                self._check_text(p)
                self._check_markup(p)
                return self.as_api(Shown(message_id, chat_id, p["text"], self._check_markup(p)))
            if shown is None:
                raise BadRequest("message to edit not found")
            self._check_text(p)
            buttons = self._check_markup(p)
            if p["text"] == shown.html and buttons == shown.buttons:
                raise BadRequest(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message"
                )
            shown.html, shown.buttons, shown.edits = p["text"], buttons, shown.edits + 1
            return self.as_api(shown)
        if name == "answerCallbackQuery":
            text = p.get("text")
            if text is not None and len(text) > 200:
                raise BadRequest("callback answer text is longer than 200 characters")
            if self.keep:
                self.toasts.append(text)
            return True
        if name == "setMyCommands":
            commands = p["commands"]
            for c in commands:
                if not re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]):
                    raise BadRequest(f"invalid command name {c['command']!r}")
                if not 1 <= len(c["description"]) <= 256:
                    raise BadRequest("command description must be 1-256 characters")
            scope = p.get("scope") or {"type": "default"}
            if isinstance(scope, str):
                scope = json.loads(scope)
            if scope["type"] not in ("default", "all_private_chats", "all_group_chats", "chat"):
                raise BadRequest(f"unsupported command scope {scope['type']!r}")
            key = f"chat:{scope['chat_id']}" if scope["type"] == "chat" else scope["type"]
            self.menus[key] = commands
            if key == "default":
                self.commands = commands
            return True
        if name in ("setMyDescription", "setMyShortDescription"):
            field, limit = (
                ("description", 512) if name == "setMyDescription" else ("short_description", 120)
            )
            text = p.get(field) or ""
            if len(text) > limit:
                raise BadRequest(f"{field} is longer than {limit} characters")
            self.descriptions[field] = text
            return True
        if name in ("deleteWebhook", "setWebhook", "close", "logOut"):
            return True
        if name == "getUpdates":
            return []
        raise BadRequest(f"method {name} is not emulated")

    def as_api(self, shown: Shown) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": shown.message_id,
            "date": 1_700_000_000,
            "chat": {"id": shown.chat_id, "type": "private" if shown.chat_id > 0 else "group"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Boussole"},
            "text": shown.text,
        }
        if shown.buttons:
            data["reply_markup"] = {"inline_keyboard": shown.buttons}
        if shown.document is not None:
            data.pop("text")
            data["caption"] = shown.text
            data["document"] = {
                "file_id": f"doc{shown.message_id}",
                "file_unique_id": f"u{shown.message_id}",
                "file_name": shown.document[0],
            }
        return data

    def _check_text(self, p: dict[str, Any]) -> None:
        text = p.get("text") or ""
        if p.get("parse_mode") == "HTML":
            errors = html_errors(text)
            if errors:
                raise BadRequest(f"can't parse entities: {errors[0]}")
            text = visible_text(text)
        if not text.strip():
            raise BadRequest("message text is empty")
        if utf16_len(text) > 4096:
            raise BadRequest(f"message is too long ({utf16_len(text)} > 4096)")

    def _check_markup(self, p: dict[str, Any]) -> list[list[dict[str, Any]]]:
        markup = p.get("reply_markup")
        if markup is None:
            return []
        rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        for row in rows:
            for button in row:
                if not button.get("text", "").strip():
                    raise BadRequest("inline keyboard button text is empty")
                data, url = button.get("callback_data"), button.get("url")
                if (data is None) == (url is None):
                    raise BadRequest("a button needs exactly one of callback_data and url")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise BadRequest(f"BUTTON_DATA_INVALID ({len(data.encode())} bytes)")
                if url is not None and not re.match(r"^(https?|tg)://\S+$", url):
                    raise BadRequest(f"wrong HTTP URL {url!r}")
        return rows

    # ---------------------------------------------------------------- for the tests

    def chat(self, chat_id: int) -> list[Shown]:
        """Every bot message of a chat, oldest first, as currently displayed."""
        return sorted(
            (m for (c, _), m in self.messages.items() if c == chat_id), key=lambda m: m.message_id
        )

    def count(self, name: str) -> int:
        return self.counts[name]


class TelegramUser:
    """A person in a chat with the bot, sending what the Telegram app would send."""

    _updates = itertools.count(1)
    _user_messages = itertools.count(1)

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        request: OfflineRequest,
        user_id: int = 4242,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> None:
        self.app = app
        self.request = request
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat_type = chat_type

    # ---- building updates

    def _chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": self.chat_type}
        if self.chat_type == "private":
            chat["first_name"] = "Camille"
        else:
            chat["title"] = "Réseau ESS"
        return chat

    def _from(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": "Camille", "language_code": "fr"}

    def message_data(self, text: str | None = None, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": next(self._user_messages),
            "date": 1_700_000_000,
            "chat": self._chat(),
            "from": self._from(),
            **extra,
        }
        if text is not None:
            data["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                data["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return data

    async def feed(self, data: dict[str, Any]) -> None:
        update = Update.de_json({"update_id": next(self._updates), **data}, self.app.bot)
        await self.app.process_update(update)

    # ---- what a person does

    async def send(self, text: str) -> None:
        await self.feed({"message": self.message_data(text)})

    async def send_other(self, **content: Any) -> None:
        """A message without text: sticker=…, photo=…, voice=…, location=…"""
        await self.feed({"message": self.message_data(None, **content)})

    async def edit(self, text: str) -> None:
        data = self.message_data(text, edit_date=1_700_000_100)
        await self.feed({"edited_message": data})

    def callback_update(self, message: Shown, data: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": str(next(self._updates)),
                "from": self._from(),
                "chat_instance": f"ci{self.chat_id}",
                "data": data,
                "message": self.request.as_api(message) | {"chat": self._chat()},
            }
        }

    async def press(self, data: str, message: Shown | None = None) -> None:
        """A callback with arbitrary data (a forged or outdated button), on a shown message."""
        target = message or self.last()
        await self.feed(self.callback_update(target, data))

    async def click(self, label: str) -> None:
        """Click the newest button whose label contains `label`."""
        message, data = self.find(label)
        await self.feed(self.callback_update(message, data))

    def find(self, label: str) -> tuple[Shown, str]:
        for message in reversed(self.screen()):
            for row in message.buttons:
                for button in row:
                    if label.lower() in button["text"].lower() and "callback_data" in button:
                        return message, button["callback_data"]
        shown = [m.labels() for m in self.screen()[-3:]]
        raise AssertionError(f"no button {label!r} on screen; last buttons: {shown}")

    # ---- what a person sees

    def screen(self) -> list[Shown]:
        return self.request.chat(self.chat_id)

    def last(self) -> Shown:
        messages = self.screen()
        assert messages, "the bot has not sent anything"
        return messages[-1]

    def texts(self) -> str:
        return "\n---\n".join(m.text for m in self.screen())
