"""The web chat: the same dialogue as Telegram and the console, on a page (`/chat`).

- `GET /chat[?from=<network>][&profil=<first answer>]`: the conversation (welcome, or
  where the person was). The conversation is keyed `web:[<network>.]<random id>`; the id
  lives in a cookie (HttpOnly, SameSite=Lax, Secure behind TLS) and, signed, in every
  form (the anti-forgery token), so an embedded page whose cookie the browser withholds
  still continues its own conversation.
- `POST /chat`: one input, `a` (a button's encoded action) or `text` (typed), with `t`
  (the token). Answers the whole page, or only the new turn when the script asks.
- `GET /chat/r/<id>`: a shared result, read-only. `GET /chat/integrer`: the snippet a
  network pastes on its site.

Every input goes through `ChatService`, so state, version checks, retention and erasure
are those of every channel. No personal data in URLs or logs: the id is never logged,
and what a person types travels in the request body only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlparse

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.dialogue.service import ChatService
from bot.platform.config import Settings
from bot.screens.views import Action, Kind, Turn, decode_action, network_tag
from knowledge.loader import KnowledgeBase

from .web_html import STATIC, Pages

log = logging.getLogger(__name__)

BASE = "/chat"
COOKIE = "boussole"
MAX_FORM = 16_000  # bytes of a posted form: a typed answer is far smaller
MAX_TEXT = 4096  # characters of a typed text, as on Telegram
FRAGMENT = "x-boussole-fragment"  # the script asks for the new turn only
_ID = re.compile(r"(?:[a-z0-9][a-z0-9-]{0,29}\.)?[A-Za-z0-9_-]{22}")


def web_share_link(public_url: str) -> str:
    """The web address of a shared result, `{id}` to be filled."""
    return public_url.rstrip("/") + BASE + "/r/{id}"


@dataclass(frozen=True)
class WebSettings:
    public_url: str  # e.g. https://boussole.example.org
    frame_ancestors: str = "'self'"
    rate_limit: int = 120  # requests per minute per client; 0: none
    secret: bytes = b""  # signs the tokens; random per process when empty


class RateLimit:
    """At most `limit` requests per client per minute (fixed windows, in this process)."""

    def __init__(self, limit: int, window: float = 60.0, clients: int = 50_000) -> None:
        self.limit, self.window, self.clients = limit, window, clients
        self.counts: dict[str, tuple[float, int]] = {}

    def allow(self, client: str) -> bool:
        if not self.limit:
            return True
        moment = time.monotonic()
        start, count = self.counts.get(client, (moment, 0))
        if moment - start >= self.window:
            start, count = moment, 0
        if len(self.counts) >= self.clients and client not in self.counts:
            self.counts = {k: v for k, v in self.counts.items() if moment - v[0] < self.window}
        self.counts[client] = (start, count + 1)
        return count < self.limit


class Guard:
    """ASGI middleware for the web chat's paths: security headers and the rate limit."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]], limit: RateLimit):
        self.app, self.headers, self.limit = app, headers, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith(BASE)):
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        extra = self.headers + (
            [(b"strict-transport-security", b"max-age=31536000")] if secure else []
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        client = (scope.get("client") or ("?", 0))[0]
        if not path.startswith(BASE + "/static/") and not self.limit.allow(client):
            response = PlainTextResponse(
                "Trop de demandes d'un coup : patientez une minute, puis réessayez.",
                status_code=429,
                headers={"retry-after": "60"},
            )
            await response(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


def security_headers(frame_ancestors: str) -> list[tuple[bytes, bytes]]:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),  # a shared link never leaks to other sites
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if frame_ancestors.strip() in ("'self'", "'none'"):  # old browsers: same rule
        headers.append((b"x-frame-options", b"SAMEORIGIN"))
    return headers


class WebChat:
    def __init__(self, service: ChatService, settings: WebSettings, share: bool = True) -> None:
        """`share`: give this page's address in share links (not when it is only the
        address it listens on, behind a proxy)."""
        self.service = service
        self.settings = settings
        self.pages = Pages(BASE)
        self.key = settings.secret or secrets.token_bytes(32)
        self.limit = RateLimit(settings.rate_limit)
        if share:
            service.shares.links.web = web_share_link(settings.public_url)

    # ------------------------------------------------------------ identity and tokens

    def token(self, value: str) -> str:
        mac = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{value}~{mac}"

    def _signed(self, token: str) -> str | None:
        value = token.rpartition("~")[0]
        if not _ID.fullmatch(value) or not hmac.compare_digest(self.token(value), token):
            return None
        return value

    @staticmethod
    def _new_id(network: str | None) -> str:
        value = secrets.token_urlsafe(16)
        return f"{network}.{value}" if network else value

    def _cookie(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE, "")
        return value if _ID.fullmatch(value) else None

    def _set_cookie(self, request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(timedelta(days=self.service.conversation.retention_days).total_seconds()),
            path=BASE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":  # not told (the signed token still decides)
            return True
        own = {f"{request.url.scheme}://{request.url.netloc}"}
        public = urlparse(self.settings.public_url)
        own.add(f"{public.scheme}://{public.netloc}")
        return origin in own

    # ------------------------------------------------------------ pages

    async def page(self, request: Request) -> Response:
        value = self._cookie(request)
        profile = ""
        if value is None:  # a new conversation: where it comes from, whom it is for
            value = self._new_id(network_tag(request.query_params.get("from")))
            profile = (request.query_params.get("profil") or "")[:40]
        # (an embedded page reloads with the same ?profil=: it must not start again)
        key = "web:" + value
        turn = await self._safely(key, lambda: self.service.start(key, profile))
        return self._answer(request, turn, value)

    async def post(self, request: Request) -> Response:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_FORM:
            return self._message(request, 413, "Message trop long", "Écrivez plus court.")
        if not self._same_origin(request):
            refused = "Elle ne vient pas de cette page."
            return self._message(request, 403, "Demande refusée", refused)
        form = await self._form(request)
        value = self._signed(form.get("t", "")) if form is not None else None
        cookie = self._cookie(request)
        if form is None or value is None or (cookie is not None and cookie != value):
            return self._message(
                request,
                403,
                "Page expirée",
                "Cette page n'est plus valable. Revenez à la conversation : "
                "vos réponses sont gardées.",
            )
        key = "web:" + value
        said = ""
        if "a" in form:
            action = decode_action(form["a"])
            turn = await self._safely(key, lambda: self.service.action(key, action))
        else:
            said = form.get("text", "")[:MAX_TEXT]
            turn = await self._safely(key, lambda: self.service.text(key, said))
            said = said.strip()
        if not turn.replies and not request.headers.get(FRAGMENT):
            # only a toast (a double click…): a whole page still shows where the person is
            here = await self._safely(key, lambda: self.service.action(key, Action(Kind.current)))
            turn = replace(turn, replies=here.replies)
        if turn.erase:  # everything is gone: the next visit is a new conversation
            value = self._new_id(None)
        return self._answer(request, turn, value, said)

    async def shared(self, request: Request) -> Response:
        share = request.path_params["share"]
        replies = await self.service.shared(share)
        context = self.pages.turn(replies, "", readonly=True)
        status = 200 if len(replies) > 1 else 404
        return HTMLResponse(self.pages.render("shared.html", **context), status_code=status)

    async def embed(self, request: Request) -> Response:
        public = self.settings.public_url.rstrip("/")
        snippet = (
            f'<iframe src="{public}{BASE}?from=votre-reseau" title="Boussole : '
            "s'orienter dans l'économie sociale et solidaire\" "
            'style="width:100%;max-width:720px;height:720px;border:0" loading="lazy">'
            "</iframe>"
        )
        start = self.service.conversation.engine.start
        profiles = [(o.value, o.label) for o in start.options]
        return HTMLResponse(self.pages.render("embed.html", snippet=snippet, profiles=profiles))

    async def _form(self, request: Request) -> dict[str, str] | None:
        """The posted fields (URL-encoded, as forms and the script send them), or None
        when the body is too long or not a form."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                return None
        try:
            pairs = parse_qsl(body.decode("utf-8"), max_num_fields=8, strict_parsing=bool(body))
        except ValueError:  # not UTF-8, malformed, too many fields
            return None
        return dict(pairs)

    async def _safely(self, key: str, step: Callable[[], Awaitable[Turn]]) -> Turn:
        try:
            return await step()
        except Exception:
            log.exception("web chat: an input failed")  # no key, no text: no personal data
            return await self.service.failure(key)

    def _answer(self, request: Request, turn: Turn, value: str, said: str = "") -> Response:
        context = self.pages.turn(turn.replies, self.token(value), said, turn.notice)
        name = "turn.html" if request.headers.get(FRAGMENT) else "chat.html"
        response = HTMLResponse(self.pages.render(name, **context))
        response.headers["cache-control"] = "no-store"
        self._set_cookie(request, response, value)
        return response

    def _message(self, request: Request, status: int, title: str, text: str) -> Response:
        body = self.pages.render("message.html", title=title, text=text)
        return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})

    # ------------------------------------------------------------ the routes

    def routes(self) -> list[BaseRoute]:
        async def home(request: Request) -> Response:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(BASE + query, status_code=303)

        return [
            Route("/", home, methods=["GET"]),
            Route(BASE, self.page, methods=["GET"]),
            Route(BASE, self.post, methods=["POST"]),
            Route(BASE + "/r/{share}", self.shared, methods=["GET"]),
            Route(BASE + "/integrer", self.embed, methods=["GET"]),
            Mount(BASE + "/static", StaticFiles(directory=STATIC), name="static"),
        ]

    def middleware(self) -> Middleware:
        headers = security_headers(self.settings.frame_ancestors)
        return Middleware(Guard, headers=headers, limit=self.limit)


def build_chat_app(chat: WebChat, purge: Callable[[], Awaitable[None]] | None = None) -> Starlette:
    """The web chat alone (`python -m bot web`), with /healthz, purging old data hourly."""

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_every(purge, 3600)) if purge is not None else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return Starlette(
        routes=[*chat.routes(), Route("/healthz", healthz)],
        middleware=[chat.middleware()],
        lifespan=lifespan,
    )


async def _every(job: Callable[[], Awaitable[None]], seconds: float) -> None:
    while True:
        try:
            await job()
        except Exception:
            log.exception("web chat: purge failed; will retry")
        await asyncio.sleep(seconds)


def web_settings(settings: Settings, listen_url: str) -> WebSettings:
    """The web chat's settings from the application's."""
    secret = settings.web_secret or settings.webhook_secret
    return WebSettings(
        public_url=settings.web_public_url or listen_url,
        frame_ancestors=settings.web_frame_ancestors,
        rate_limit=settings.web_rate_limit,
        secret=secret.get_secret_value().encode() if secret is not None else b"",
    )


def serve(settings: Settings, kb: KnowledgeBase, host: str, port: int) -> int:
    """`python -m bot web`: the web chat alone, without Telegram (leads are stored and
    delivered by the bot's own worker, `python -m bot run`, on the same database)."""
    import uvicorn

    from bot.dialogue.router import Conversation
    from bot.leads.partners import load_partners
    from bot.platform.storage import ConversationStore

    logging.basicConfig(level=settings.log_level.upper())
    contacts = {contact.id for contact in kb.contacts}
    conversation = Conversation(
        kb,
        retention_days=settings.retention_days,
        partners=load_partners(settings.partners_file, contacts),
        lead_retention_days=settings.lead_retention_days,
    )
    store = ConversationStore(settings.database_url)
    service = ChatService(conversation, store)
    chat = WebChat(service, web_settings(settings, f"http://{host}:{port}"))

    async def purge() -> None:
        await service.purge(timedelta(days=settings.retention_days))
        await service.leads.purge(timedelta(days=settings.lead_retention_days))

    async def main() -> None:
        await store.migrate()
        config = uvicorn.Config(
            build_chat_app(chat, purge),
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=True,
        )
        try:
            log.info("web chat on http://%s:%d%s", host, port, BASE)
            await uvicorn.Server(config).serve()
        finally:
            await store.close()

    asyncio.run(main())
    return 0
