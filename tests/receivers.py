"""Real local receivers for delivery tests: a webhook endpoint and an SMTP server.

Both listen on 127.0.0.1 on a free port, record what they really receive, can be stopped
and started again on the same port (to play "receiver down"), and are async context
managers::

    async with WebhookReceiver("whsec_…") as hook, SmtpReceiver() as smtp:
        await post_webhook(client, hook.url, "whsec_…", lead)
        await send_email(SmtpSettings("127.0.0.1", smtp.port), "crm@example.org", lead)

``WebhookReceiver`` is a tiny HTTP/1.1 server on ``asyncio.start_server`` (one request
per connection, answered with ``Connection: close``), running in the test's event loop.
It behaves like a careful CRM: it checks the Standard Webhooks signature with
:func:`bot.leads.delivery.verify` (401 if wrong or stale, 400 if headers are missing), stores the
delivery, and answers
200 to a duplicate ``webhook-id`` without storing it twice. ``SmtpReceiver``
wraps aiosmtpd's ``Controller`` (its own thread and loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bot.leads.delivery import verify

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- webhook


class _Running:
    """`async with receiver:` starts it and stops it."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@dataclass
class Delivery:
    """One HTTP request as the receiver saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the receiver answered

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.headers.get("x-boussole-event", "")

    @property
    def delivery_id(self) -> str:
        return self.headers.get("webhook-id", "")


class _BadRequest(Exception):
    pass


@dataclass
class WebhookReceiver(_Running):
    secret: str
    port: int = 0
    delay: float = 0.0  # seconds to wait (after storing) before answering
    tolerance: int = 300
    requests: list[Delivery] = field(default_factory=list)  # every request, answered or not
    received: list[Delivery] = field(default_factory=list)  # every accepted post (duplicates)
    unique: dict[str, Delivery] = field(default_factory=dict)  # accepted, by delivery id
    _fail: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/boussole"

    @property
    def running(self) -> bool:
        return self._server is not None

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer ``status`` (without storing) to the next ``n`` requests."""
        self._fail += [status] * n

    async def start(self) -> None:
        assert self._server is None, "already running"
        self._server = await asyncio.start_server(self._handle, HOST, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listening socket and drop every connection in progress."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                request = await self._read(reader)
            except (_BadRequest, asyncio.IncompleteReadError, ValueError):
                await self._answer(writer, 400)
                return
            self.requests.append(request)
            request.status = await self._decide(request)
            await self._answer(writer, request.status)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Delivery:
        line = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(line)
        headers: dict[str, str] = {}
        while True:
            raw = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
            if not raw:
                break
            name, sep, value = raw.partition(":")
            if not sep:
                raise _BadRequest(raw)
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest("chunked bodies are not supported by this test server")
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return Delivery(method=parts[0], path=parts[1], headers=headers, body=body)

    async def _decide(self, request: Delivery) -> int:
        if self._fail:
            return self._fail.pop(0)
        if request.method != "POST":
            return 405
        timestamp = request.headers.get("webhook-timestamp")
        signature = request.headers.get("webhook-signature")
        msg_id = request.delivery_id
        if not timestamp or not signature or not msg_id:
            return 400
        if not verify(
            self.secret, msg_id, timestamp, request.body, signature, tolerance=self.tolerance
        ):
            return 401
        # Stored first, answered afterwards: a slow answer means "stored, but the sender
        # may not know it", which is what makes deduplication necessary.
        self.received.append(request)
        self.unique.setdefault(request.delivery_id, request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return 200

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int) -> None:
        body = json.dumps({"status": status}).encode()
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


# --------------------------------------------------------------------------- SMTP


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # AUTH required this way rather than aiosmtpd's auth_required, which warns
        # without TLS.
        if self.receiver.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.receiver.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        mail_from = envelope.mail_from or ""
        self.receiver.messages.append(Mail(mail_from, list(envelope.rcpt_tos), message, raw))
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and (
                auth_data.login,
                auth_data.password,
            )
            == self.expected
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpReceiver(_Running):
    """An SMTP server recording every message (parsed with ``policy.default``).

    ``refuse`` maps a recipient address to the SMTP answer given to its RCPT TO (e.g.
    ``"550 5.1.1 No such user"``). ``credentials`` (username, password) makes AUTH required
    (over plain text: this is a test server).
    """

    port: int = 0
    credentials: tuple[str, str] | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    messages: list[Mail] = field(default_factory=list)
    _controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def unique(self) -> dict[str, Mail]:
        """Messages deduplicated on Message-ID (first one kept)."""
        out: dict[str, Mail] = {}
        for mail in self.messages:
            out.setdefault(str(mail.message["Message-ID"]), mail)
        return out

    def _start(self) -> None:
        assert self._controller is None, "already running"
        if not self.port:
            self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.credentials is not None:
            kwargs.update(
                authenticator=_Authenticator(*self.credentials),
                auth_require_tls=False,
            )
        controller = Controller(_Handler(self), hostname=HOST, port=self.port, **kwargs)
        controller.start()
        self._controller = controller

    def _stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)
