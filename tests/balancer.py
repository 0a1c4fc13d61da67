"""A small HTTP load balancer for the tests: round robin over workers, next one on failure.

    python tests/balancer.py PORT BACKEND_PORT [BACKEND_PORT…]

Each request goes to the next worker in turn (so a conversation hops between workers);
a worker that refuses the connection is skipped, as nginx's `proxy_next_upstream error`
does. `GET /_balancer` tells which worker served each request.
"""

from __future__ import annotations

import itertools
import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

port, *backends = (int(a) for a in sys.argv[1:])
turn = itertools.cycle(range(len(backends)))
served: list[int] = []
client = httpx.AsyncClient(trust_env=False, timeout=30)


async def forward(request: Request) -> Response:
    body = await request.body()
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
    }
    first = next(turn)
    for i in range(len(backends)):
        backend = backends[(first + i) % len(backends)]
        try:
            answer = await client.request(
                request.method,
                f"http://127.0.0.1:{backend}{request.url.path}",
                content=body,
                headers=headers,
            )
        except httpx.ConnectError:
            continue
        served.append(backend)
        return Response(
            answer.content, answer.status_code, media_type=answer.headers.get("content-type")
        )
    return Response("no worker", 502)


async def stats(_: Request) -> Response:
    return JSONResponse({"served": served})


app = Starlette(
    routes=[
        Route("/_balancer", stats, methods=["GET"]),
        Route("/{path:path}", forward, methods=["GET", "POST"]),
    ]
)

if __name__ == "__main__":
    print(f"READY {port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
