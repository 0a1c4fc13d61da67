"""End-to-end harness: a Telegram Bot API emulator and a user who talks to the bot through it.

The emulator is the npm package ``telegram-test-api`` (pinned in tests/emulator/package.json),
started by ``tests/emulator/server.js`` which shims it for python-telegram-bot 22. The bot under
test is pointed at ``Emulator.api_base`` (PTB's ``base_url``, the token is appended to it) or,
for Boussole's settings, at ``Emulator.url`` (``TELEGRAM_API_BASE_URL``, which adds ``/bot``).

    with Emulator() as emulator:
        user = EmulatedUser(emulator, token)
        user.send_command("/start")
        user.wait_for(lambda messages: len(messages) == 1)

The user side is synchronous (httpx): run it in a thread when the bot shares the event loop.
"""

from __future__ import annotations

import html
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"

Buttons = list[list[tuple[str, str]]]


class EmulatorError(RuntimeError):
    """The emulator could not be installed or started, or refused a request."""


def ensure_emulator_installed() -> Path:
    """Install the pinned emulator (``npm ci``) unless already there; return its directory."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise EmulatorError(
            f"{' and '.join(missing)} not found on PATH: the Telegram emulator needs Node.js "
            "(>= 18) and npm to run the end-to-end tests"
        )
    if not (EMULATOR_DIR / "node_modules" / "telegram-test-api").is_dir():
        npm = shutil.which("npm")
        assert npm is not None
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=EMULATOR_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EmulatorError(f"npm ci failed in {EMULATOR_DIR}:\n{done.stdout}{done.stderr}")
    return EMULATOR_DIR


class Emulator:
    """The emulator process on 127.0.0.1; a context manager (started on enter, stopped on exit)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", startup_timeout: float = 20.0):
        self.host = host
        self.port = port  # 0: the server picks a free port and reports it
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._http: httpx.Client | None = None

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT`` (Boussole's TELEGRAM_API_BASE_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """PTB's ``ApplicationBuilder().base_url(...)``: ``http://127.0.0.1:PORT/bot``."""
        return f"{self.url}/bot"

    def start(self) -> Emulator:
        directory = ensure_emulator_installed()
        # stderr of node, kept until __exit__ so log() can show why it failed
        self._log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        command = ["node", str(directory / "server.js"), "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--host", self.host],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = ""
        while time.monotonic() < deadline and self._process.poll() is None:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.1)
            if ready:
                line = self._process.stdout.readline()
                break
        if not line.startswith("READY "):
            self.stop()
            raise EmulatorError(f"emulator did not start (got {line!r}):\n{self.log()}")
        self.port = int(line.split()[1])
        self._http = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    def log(self) -> str:
        """What the emulator wrote on stderr (startup errors, ``DEBUG=TelegramServer:*``)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def call(self, route: str, payload: dict[str, Any]) -> Any:
        """POST to a client route of the emulator (``/sendMessage``...) and return ``result``."""
        if self._http is None:
            raise EmulatorError("the emulator is not running")
        response = self._http.post(route, json=payload)
        try:
            data = response.json()
        except ValueError:
            data = {"description": response.text}
        if response.status_code != 200 or not data.get("ok"):
            raise EmulatorError(f"{route} -> HTTP {response.status_code}: {data}")
        return data["result"]

    def commands(self, token: str, scope: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The command menu the bot registered with setMyCommands (default scope)."""
        params: dict[str, Any] = {"token": token}
        if scope is not None:
            params["scope"] = scope
        result: list[dict[str, str]] = self.call("/getCommands", params)
        return result

    def descriptions(self, token: str) -> dict[str, str]:
        """What setMyDescription and setMyShortDescription set."""
        result: dict[str, str] = self.call("/getDescriptions", {"token": token})
        return result


@dataclass(frozen=True)
class BotMessage:
    """A bot message as the user sees it now (after edits)."""

    message_id: int
    text: str  # as displayed: HTML markup removed when parse_mode is HTML
    buttons: Buttons  # rows of (label, callback_data or url)
    source: str = ""  # as the bot sent it (with its markup)
    parse_mode: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery the bot gave in the chat (a toast, or an alert)."""

    callback_query_id: str
    text: str | None
    show_alert: bool


def _displayed(text: str, parse_mode: str | None) -> str:
    if (parse_mode or "").upper() != "HTML":
        return text
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def _buttons(markup: dict[str, Any] | None) -> Buttons:
    rows = (markup or {}).get("inline_keyboard") or (markup or {}).get("keyboard") or []
    return [
        [
            (
                str(button["text"]),
                str(button.get("callback_data") or button.get("url") or ""),
            )
            for button in row
        ]
        for row in rows
    ]


class EmulatedUser:
    """A Telegram user in one chat (private, or a group) with the bot of ``token``."""

    def __init__(
        self,
        emulator: Emulator,
        token: str,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Camille",
    ):
        if chat_type not in ("private", "group"):
            raise ValueError(f"chat_type must be 'private' or 'group', not {chat_type!r}")
        self.emulator = emulator
        self.token = token
        self.user_id = user_id
        self.chat_id = (
            chat_id if chat_id is not None else (user_id if chat_type == "private" else -1)
        )
        self.chat_type = chat_type
        self.first_name = first_name

    @property
    def user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": self.first_name}

    @property
    def chat(self) -> dict[str, Any]:
        if self.chat_type == "private":
            return {"id": self.chat_id, "type": "private", "first_name": self.first_name}
        return {"id": self.chat_id, "type": self.chat_type, "title": "Groupe de test"}

    def _message(self, **fields: Any) -> dict[str, Any]:
        date = int(time.time())
        return {
            "botToken": self.token,
            "date": date,
            "from": self.user,
            "chat": self.chat,
            **fields,
        }

    # ------------------------------------------------------------------ what the user does

    def send_text(self, text: str) -> int:
        """Send a text message; returns its message_id."""
        result = self.emulator.call("/sendMessage", self._message(text=text))
        return int(result["message_id"])

    def send_command(self, command: str) -> int:
        """Send ``/name args`` with its bot_command entity; returns the message_id."""
        if not command.startswith("/"):
            raise ValueError(f"a command starts with '/': {command!r}")
        name = command.split(" ", 1)[0]
        entities = [{"type": "bot_command", "offset": 0, "length": len(name)}]
        message = self._message(text=command, entities=entities)
        result = self.emulator.call("/sendCommand", message)
        return int(result["message_id"])

    def click(self, message_id: int, callback_data: str) -> str:
        """Press an inline button of bot message ``message_id``; returns the callback query id."""
        query = {
            "botToken": self.token,
            "from": self.user,
            "data": callback_data,
            "message": {"message_id": message_id, "date": int(time.time()), "chat": self.chat},
        }
        result = self.emulator.call("/sendCallback", query)
        return str(result["callback_query_id"])

    def send_sticker(self) -> int:
        """Send a sticker (a message without text); returns its message_id."""
        sticker = {
            "file_id": "CAACAgIAAxkBAAEBtestSticker",
            "file_unique_id": "AgADtestSticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        result = self.emulator.call("/sendMessage", self._message(sticker=sticker))
        return int(result["message_id"])

    # ------------------------------------------------------------------ what the user sees

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.emulator.call(
            "/getChatState", {"token": self.token, "chatId": self.chat_id}
        )
        return state

    def chat_state(self) -> list[BotMessage]:
        """The bot's messages in this chat, oldest first, as they are now."""
        messages = []
        for message in self._state()["messages"]:
            source = str(message.get("text") or "")
            parse_mode = message.get("parse_mode")
            messages.append(
                BotMessage(
                    message_id=int(message["message_id"]),
                    text=_displayed(source, parse_mode),
                    buttons=_buttons(message.get("reply_markup")),
                    source=source,
                    parse_mode=parse_mode,
                    edited="edit_date" in message,
                )
            )
        return messages

    def callback_answers(self) -> list[CallbackAnswer]:
        """The bot's answers to this chat's button presses, oldest first."""
        return [
            CallbackAnswer(
                callback_query_id=str(answer["callback_query_id"]),
                text=answer.get("text"),
                show_alert=bool(answer.get("show_alert")),
            )
            for answer in self._state()["callback_answers"]
        ]

    def wait_for(
        self,
        predicate: Callable[[list[BotMessage]], bool],
        timeout: float = 10.0,
        interval: float = 0.05,
    ) -> list[BotMessage]:
        """Poll the chat until ``predicate(chat_state())`` holds; return that state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.chat_state()
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                shown = "\n".join(f"  {message}" for message in state) or "  (no message)"
                raise AssertionError(
                    f"chat {self.chat_id}: condition not met in {timeout}s:\n{shown}"
                )
            time.sleep(interval)

    def last_message(self) -> BotMessage:
        state = self.chat_state()
        if not state:
            raise AssertionError(f"chat {self.chat_id}: the bot has sent no message")
        return state[-1]

    def button(self, label_substring: str) -> tuple[int, str]:
        """(message_id, callback_data) of the newest message with a button labelled so."""
        for message in reversed(self.chat_state()):
            for row in message.buttons:
                for label, data in row:
                    if label_substring in label:
                        return message.message_id, data
        raise AssertionError(f"chat {self.chat_id}: no button containing {label_substring!r}")
