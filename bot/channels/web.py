"""The webhook server (Starlette on uvicorn): Telegram's updates, health, readiness, metrics.

- `POST <path of WEBHOOK_URL>`: an update from Telegram, refused (403) without the right
  `X-Telegram-Bot-Api-Secret-Token`. It is handled before the answer is sent, so that a
  worker dying mid-update makes Telegram send it again instead of losing it.
- `GET /healthz`: the process is alive.
- `GET /readyz`: the database answers and the knowledge base is loaded (503 otherwise).
- `GET /metrics`: Prometheus metrics of this process.
- `/chat`…: the web chat, when the caller passes its routes (bot/channels/web_chat.py).

No telegram import here: the application hands in `process(data)`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.platform.observe import metrics

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Telegram's updates are far smaller
SECRET_HEADER = "x-telegram-bot-api-secret-token"

Process = Callable[[dict[str, Any]], Awaitable[None]]


class NotAnUpdate(Exception):
    """Raised by `process`: valid JSON that is not an update it can read."""


Ready = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


def build_web(
    process: Process,
    ready: Ready,
    secret: str,
    path: str,
    routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
) -> Starlette:
    """`routes` and `middleware`: another channel served by the same app (the web chat)."""

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
            return PlainTextResponse("too large", status_code=413)  # before reading it
        body = b""
        async for chunk in request.stream():  # no length given (chunked): count as it comes
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return PlainTextResponse("not an update", status_code=400)
        try:
            await process(data)
        except NotAnUpdate as exc:  # Telegram would re-send it for ever on an error status
            log.warning("update %d ignored: not a valid update (%s)", data["update_id"], exc)
            return PlainTextResponse("ignored: not a valid update")
        return PlainTextResponse("ok")

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        ok, checks = await ready()
        return JSONResponse(checks, status_code=200 if ok else 503)

    async def prometheus(_: Request) -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    route = "/" + path.strip("/")
    return Starlette(
        routes=[
            Route(route, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            *routes,
        ],
        middleware=list(middleware),
    )
