"""Load test: simulated people doing full orientations through the webhook, 1 and 2 workers,
then through the web chat (/chat, served by the same workers), 1 and 2 workers.

    python benchmarks/load.py [--users 40] [--seconds 30] [--soak 600]

Worker processes (`python -m bot run`, webhook mode) share one database (PostgreSQL when
BOUSSOLE_TEST_POSTGRES_URL is set, SQLite otherwise) and talk to a stub Bot API in this
process that answers at once. Each simulated person posts an update to a worker (round
robin, as a balancer would), waits for the answer (a worker answers once the update is
handled, conversation written), then clicks the next button: /start, every question,
then starts again. Reported: sustained updates per second, handling latency (median, p99,
as seen at the webhook), errors, and the workers' memory over a soak. On the web chat each
person opens /chat (a new conversation, its cookie), then posts every answer as the page
without JavaScript does (a form post answered by a whole page), then restarts: pages per
second, latency and errors (any answer but 200 with the expected page).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.outbox import empty  # noqa: E402
from benchmarks.telegram_bot import orientation_path  # noqa: E402
from bot.screens.views import Action, Kind, encode_action  # noqa: E402
from knowledge.loader import load_knowledge  # noqa: E402

TOKEN = "123456:LOADTEST"
SECRET = "load-test-secret"
_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stub_bot_api() -> Starlette:
    """Telegram's Bot API, answering every method at once with a plausible result."""
    me = {"id": 123456, "is_bot": True, "first_name": "Boussole", "username": "LoadBot"}

    async def method(request: Request) -> JSONResponse:
        await request.body()
        name = request.path_params["method"]
        if name == "getMe":
            return JSONResponse({"ok": True, "result": me})
        if name in ("sendMessage", "editMessageText"):
            message = {
                "message_id": next(_ids),
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "text": "…",
            }
            return JSONResponse({"ok": True, "result": message})
        return JSONResponse({"ok": True, "result": True})

    return Starlette(routes=[Route("/bot{token}/{method}", method, methods=["GET", "POST"])])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_worker(port: int, api: str, database: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api,
        DATABASE_URL=database,
        BOT_MODE="webhook",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PORT=str(port),
        RATE_LIMIT="false",
        WEB_RATE_LIMIT="0",  # every simulated person comes from 127.0.0.1
        LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=log.parent,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def update(chat: int, *, text: str | None = None, data: str | None = None) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Load"}
    chat_ = {"id": chat, "type": "private", "first_name": "Load"}
    if text is not None:
        entities = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        message = {
            "message_id": next(_ids),
            "date": 0,
            "chat": chat_,
            "from": user,
            "text": text,
            "entities": entities,
        }
        return {"update_id": next(_ids), "message": message}
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "chat_instance": "load",
            "from": user,
            "data": data,
            "message": {"message_id": 1, "date": 0, "chat": chat_, "text": "…"},
        },
    }


def summary(unit: str, latencies: list[float], elapsed: float, errors: int) -> dict[str, Any]:
    s = sorted(latencies)
    return {
        unit: len(s),
        "per_second": len(s) / elapsed,
        "median_ms": statistics.median(s) * 1e3 if s else float("nan"),
        "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3 if s else float("nan"),
        "errors": errors,
    }


async def people(
    ports: list[int], users: int, seconds: float, path: list[tuple[str, str]], first_chat: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    turn = itertools.cycle(ports)
    deadline = time.perf_counter() + seconds
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def person(chat: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            steps = [update(chat, text="/start")] + [
                update(chat, data=encode_action(Action(Kind.answer, option, question, i)))
                for i, (question, option) in enumerate(path)
            ]
            steps.append(update(chat, text="/recommencer"))
            for body in steps:
                if time.perf_counter() >= deadline:
                    return
                port = next(turn)
                t0 = time.perf_counter()
                try:
                    answer = await client.post(
                        f"http://127.0.0.1:{port}/telegram", json=body, headers=headers
                    )
                    if answer.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        await asyncio.gather(*(person(first_chat + i, client) for i in range(users)))
    return summary("updates", latencies, time.perf_counter() - started, errors)


_TOKEN = re.compile(r'name="t" value="([^"]+)"')


async def web_people(
    ports: list[int], users: int, seconds: float, path: list[tuple[str, str]]
) -> dict[str, Any]:
    """People on the web chat, each request to the next worker (round robin)."""
    latencies: list[float] = []
    errors = 0
    turn = itertools.cycle(ports)
    deadline = time.perf_counter() + seconds

    async def timed(call: Any, expected: str) -> str | None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            answer = await call
            ok = answer.status_code == 200 and expected in answer.text
        except httpx.HTTPError:
            answer, ok = None, False
        latencies.append(time.perf_counter() - t0)
        if not ok:
            errors += 1
            return None
        return str(answer.text) if answer is not None else None

    async def person(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            client.cookies.clear()  # a new person: a new conversation
            page = await timed(client.get(f"http://127.0.0.1:{next(turn)}/chat"), "Bienvenue")
            found = _TOKEN.search(page or "")
            if found is None:
                continue
            token = html.unescape(found.group(1))
            posts = [
                {"a": encode_action(Action(Kind.answer, option, question, i))}
                for i, (question, option) in enumerate(path)
            ]
            posts.append({"text": "/recommencer"})
            for form in posts:
                if time.perf_counter() >= deadline:
                    return
                url = f"http://127.0.0.1:{next(turn)}/chat"
                await timed(client.post(url, data={"t": token, **form}), 'class="msg"')

    started = time.perf_counter()
    clients = [httpx.AsyncClient(trust_env=False, timeout=30) for _ in range(users)]
    try:
        await asyncio.gather(*(person(client) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    return summary("pages", latencies, time.perf_counter() - started, errors)


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"worker on {port} did not become ready")


async def run(users: int, seconds: float, soak: float) -> dict[str, Any]:
    kb = load_knowledge()
    path = orientation_path(kb)
    tmp = Path(tempfile.mkdtemp(prefix="boussole-load-"))
    database = os.environ.get("BOUSSOLE_TEST_POSTGRES_URL") or f"sqlite+aiosqlite:///{tmp}/load.db"
    await empty(database)
    api_port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stub_bot_api(), host="127.0.0.1", port=api_port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    api = f"http://127.0.0.1:{api_port}"
    results: dict[str, Any] = {"database": database.split(":")[0], "users": users}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            workers.append(start_worker(port, api, database, tmp / f"worker{i}.log"))
            await wait_ready(port)
        await people(ports[:1], users, 2, path, 1)  # warm-up
        for count in (1, 2):
            results[f"workers_{count}"] = await people(
                ports[:count], users, seconds, path, 100_000 * count
            )
        await web_people(ports[:1], users, 2, path)  # warm-up
        for count in (1, 2):
            results[f"web_{count}"] = await web_people(ports[:count], users, seconds, path)
        if soak:
            samples: list[list[float]] = []

            async def sample() -> None:
                while True:
                    samples.append([rss_mib(w.pid) for w in workers])
                    await asyncio.sleep(soak / 10)

            sampler = asyncio.create_task(sample())
            results["soak"] = await people(ports, users, soak, path, 900_000)
            sampler.cancel()
            samples.append([rss_mib(w.pid) for w in workers])
            results["soak"].update(
                seconds=soak,
                rss_mib=samples,  # every tenth of the soak, per worker
                rss_before_mib=samples[0],
                rss_middle_mib=samples[len(samples) // 2],
                rss_after_mib=samples[-1],
            )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
        server.should_exit = True
        await serving
    return results


def report(results: dict[str, Any]) -> None:
    print(f"  load test ({results['users']} people, {results['database']}, 2 cores)")
    for count in (1, 2):
        r = results[f"workers_{count}"]
        print(
            f"    {count} worker{'s' if count > 1 else ' '}   : {r['per_second']:7.0f} updates/s, "
            f"latency {r['median_ms']:.1f} ms median / {r['p99_ms']:.1f} ms p99, "
            f"{r['errors']} errors ({r['updates']} updates)"
        )
    one, two = results["workers_1"], results["workers_2"]
    print(f"    2 workers / 1 worker : {two['per_second'] / one['per_second']:.2f}x throughput")
    for count in (1, 2):
        r = results[f"web_{count}"]
        print(
            f"    web, {count} worker{'s' if count > 1 else ' '}: {r['per_second']:7.0f} pages/s, "
            f"latency {r['median_ms']:.1f} ms median / {r['p99_ms']:.1f} ms p99, "
            f"{r['errors']} errors ({r['pages']} pages)"
        )
    one, two = results["web_1"], results["web_2"]
    print(f"    web, 2 / 1 worker    : {two['per_second'] / one['per_second']:.2f}x throughput")
    soak = results.get("soak")
    if soak:

        def mib(values: list[float]) -> str:
            return "/".join(f"{m:.1f}" for m in values)

        print(
            f"    soak {soak['seconds']:.0f} s        : {soak['per_second']:.0f} updates/s, "
            f"{soak['errors']} errors; worker RSS (MiB, worker 1/2) start "
            f"{mib(soak['rss_before_mib'])}, half-way {mib(soak['rss_middle_mib'])}, "
            f"end {mib(soak['rss_after_mib'])}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--soak", type=float, default=600, help="0 to skip")
    parser.add_argument("--quick", action="store_true", help="20 people, 8 s, 20 s soak")
    args = parser.parse_args()
    if args.quick:
        args.users, args.seconds, args.soak = 20, 8, 20
    results = asyncio.run(run(args.users, args.seconds, args.soak))
    report(results)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(results, indent=2))
    errors = sum(results[k]["errors"] for k in results if isinstance(results[k], dict))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
