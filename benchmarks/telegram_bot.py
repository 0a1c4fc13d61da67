"""The Telegram bot through the real python-telegram-bot Application, offline.

- One orientation step: a button press in (callback update), the callback answered and the
  question message edited out, the conversation read and written on SQLite (and on
  PostgreSQL when BOUSSOLE_TEST_POSTGRES_URL is set); against a bare python-telegram-bot
  echo bot (text in, the same text sent back, no storage), processing the same number of
  updates through the same offline Bot API, in the same run. Target: a step ≤ 8× the echo.
- Memory after N stored conversations: the process's resident memory before and after N
  different chats each started an orientation and answered a question (the state is in
  the database, so memory should not grow with the number of conversations).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# run as a script (`python benchmarks/telegram_bot.py`), the project root is not on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.channels.telegram import build_application
from bot.platform.config import Settings
from bot.screens.views import Action, Kind, encode_action
from knowledge.loader import KnowledgeBase
from tests.telegram_offline import OfflineRequest

TOKEN = "123456:BENCHMARK"
_ids = itertools.count(1)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def message(chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "B"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "B"},
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


def callback(chat_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "chat_instance": "b",
            "from": {"id": chat_id, "is_bot": False, "first_name": "B"},
            "data": data,
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private", "first_name": "B"},
                "text": "question",
            },
        },
    }


def orientation_path(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """A full path through the tree: the first option of each question asked."""
    from bot.orientation.engine import Engine, Session

    engine = Engine(kb)
    session = Session()
    path: list[tuple[str, str]] = []
    while (question := engine.state(session).question) is not None:
        option = question.options[0].value
        path.append((question.id, option))
        session = engine.answer(session, question.id, option)
    return path


async def timed(app: Application[Any, Any, Any, Any, Any, Any], data: dict[str, Any]) -> float:
    update = Update.de_json(data, app.bot)
    t0 = time.perf_counter()
    await app.process_update(update)
    return time.perf_counter() - t0


async def echo_bot(updates: int, database: Path | None = None) -> list[float]:
    """A bare echo bot; with `database`, it also reads and writes the chat's row, as any
    bot that keeps its state must (the same store Boussole uses)."""
    from bot.platform.storage import ConversationStore

    store = ConversationStore(f"sqlite+aiosqlite:///{database}") if database else None
    if store is not None:
        await store.migrate()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        if store is not None:
            key = f"tg:{update.effective_message.chat_id}"
            session, version = await store.load(key)
            await store.save(key, session, version)
        await update.effective_message.reply_text(update.effective_message.text)

    app = ApplicationBuilder().token(TOKEN).request(OfflineRequest(keep=False)).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    samples = [await timed(app, message(1 + i % 50, f"bonjour {i}")) for i in range(updates)]
    await app.shutdown()
    if store is not None:
        await store.close()
    return samples


TARGET_RATIO = 8.0  # a Boussole step against the bare echo bot, on each database


async def empty_postgres(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.conftest import drop_everything

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(drop_everything)
    await engine.dispose()


async def boussole(
    kb: KnowledgeBase, updates: int, database: Path | str, direct: bool = True
) -> tuple[list[float], int]:
    """`database`: a SQLite file, or a PostgreSQL URL (emptied first). `direct=False`:
    the conversation read and written through SQLAlchemy, as before the direct lanes."""
    from bot.platform.storage import ConversationStore

    if isinstance(database, str):
        await empty_postgres(database)
    url = database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        database_url=url,
        rate_limit=False,  # it waits to respect Telegram's flood limits: not a cost
    )
    request = OfflineRequest(keep=False)
    store = ConversationStore(url, direct=direct)
    app = build_application(settings, kb, request=request, store=store)
    await app.initialize()
    assert app.post_init is not None and app.post_shutdown is not None
    await app.post_init(app)
    path = orientation_path(kb)
    samples: list[float] = []
    chat = 0
    while len(samples) < updates:
        chat += 1
        await timed(app, message(chat, "/start"))
        for step, (question, option) in enumerate(path):
            data = encode_action(Action(Kind.answer, option, question, step))
            samples.append(await timed(app, callback(chat, data)))
    edits = request.count("editMessageText")
    await app.post_shutdown(app)
    await app.shutdown()
    return samples[:updates], edits


async def stored_conversations(kb: KnowledgeBase, count: int, database: Path) -> dict[str, float]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        database_url=f"sqlite+aiosqlite:///{database}",
        rate_limit=False,  # it waits to respect Telegram's flood limits: not a cost
    )
    app = build_application(settings, kb, request=OfflineRequest(keep=False))
    await app.initialize()
    assert app.post_init is not None and app.post_shutdown is not None
    await app.post_init(app)
    question, option = orientation_path(kb)[0]
    first = encode_action(Action(Kind.answer, option, question, 0))
    warm = 200
    marks: dict[int, float] = {}
    for chat in range(1, count + warm + 1):
        await app.process_update(Update.de_json(message(10**6 + chat, "/start"), app.bot))
        await app.process_update(Update.de_json(callback(10**6 + chat, first), app.bot))
        if chat in (warm, warm + count // 2, warm + count):
            gc.collect()
            marks[chat] = rss_mib()
    stored = await app.bot_data["service"].store.count()
    await app.post_shutdown(app)
    await app.shutdown()
    before, middle, after = (marks[k] for k in sorted(marks))
    return {
        "conversations": stored - warm,
        "rss_before_mib": before,
        "rss_half_mib": middle,
        "rss_after_mib": after,
        "database_mib": database.stat().st_size / 2**20,
    }


def bench_telegram(kb: KnowledgeBase, updates: int, conversations: int) -> dict[str, Any]:
    import os

    from benchmarks.run import summary

    postgres = os.environ.get("BOUSSOLE_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        async def all_of_them() -> tuple[dict[str, list[float]], int]:
            await echo_bot(100)  # warm up (imports, first connections)
            await echo_bot(100, root / "warm-echo.db")
            await boussole(kb, 50, root / "warm.db")
            if postgres:
                await boussole(kb, 50, postgres)
            # interleave them so that machine noise hits all alike
            runs: dict[str, list[float]] = {
                "echo": [],
                "stored": [],
                "sqlite": [],
                "sqlite_before": [],
            }
            if postgres:
                runs["postgresql"] = []
                runs["postgresql_before"] = []
            edits = 0
            for i in range(4):
                runs["echo"] += await echo_bot(updates // 4)
                runs["stored"] += await echo_bot(updates // 4, root / f"echo{i}.db")
                more, e = await boussole(kb, updates // 4, root / f"step{i}.db")
                runs["sqlite"] += more
                edits += e
                more, _ = await boussole(kb, updates // 4, root / f"old{i}.db", direct=False)
                runs["sqlite_before"] += more
                if postgres:
                    more, e = await boussole(kb, updates // 4, postgres)
                    runs["postgresql"] += more
                    more, e = await boussole(kb, updates // 4, postgres, direct=False)
                    runs["postgresql_before"] += more
            return runs, edits

        runs, edits = asyncio.run(all_of_them())
        memory = asyncio.run(stored_conversations(kb, conversations, root / "memory.db"))
    e, st, o = summary(runs["echo"]), summary(runs["stored"]), summary(runs["sqlite"])
    result: dict[str, Any] = {
        "updates": len(runs["sqlite"]),
        "edits": edits,
        "step": o,
        "echo": e,
        "echo_stored": st,
        "ratio_median": o["median"] / e["median"],
        "ratio_mean": o["mean"] / e["mean"],
        "ratio_stored_median": o["median"] / st["median"],
        "storage_share": (st["median"] - e["median"]) / o["median"],
        "memory": memory,
        "ratio_before_median": summary(runs["sqlite_before"])["median"] / e["median"],
    }
    if postgres:
        pg = summary(runs["postgresql"])
        result["step_postgresql"] = pg
        result["ratio_postgresql_median"] = pg["median"] / e["median"]
        before = summary(runs["postgresql_before"])["median"] / e["median"]
        result["ratio_postgresql_before_median"] = before
    return result


def missed(results: dict[str, Any]) -> list[str]:
    """The step-cost targets this run missed, named."""
    names = [("SQLite", "ratio_median"), ("PostgreSQL", "ratio_postgresql_median")]
    return [
        f"telegram step on {name}: {results[key]:.1f}x the echo bot (target ≤ {TARGET_RATIO:g}x)"
        for name, key in names
        if key in results and results[key] > TARGET_RATIO
    ]


def report(results: dict[str, Any]) -> None:
    ms = 1e3
    o, e, m = results["step"], results["echo"], results["memory"]
    print(
        f"  telegram step (SQLite) : {o['median'] * ms:8.2f} ms / {o['p99'] * ms:.2f} ms   "
        f"target ≤ {TARGET_RATIO:g}x echo bot   ratio to bare PTB echo bot: "
        f"{results['ratio_median']:.2f}x (median), {results['ratio_mean']:.2f}x (mean); "
        f"through SQLAlchemy alone (before): {results['ratio_before_median']:.2f}x"
    )
    if "step_postgresql" in results:
        pg = results["step_postgresql"]
        print(
            f"  telegram step (PostgreSQL) : {pg['median'] * ms:8.2f} ms / {pg['p99'] * ms:.2f} ms"
            f"   target ≤ {TARGET_RATIO:g}x echo bot   ratio to bare PTB echo bot: "
            f"{results['ratio_postgresql_median']:.2f}x (median); through SQLAlchemy alone "
            f"(before): {results['ratio_postgresql_before_median']:.2f}x"
        )
    else:
        print("  telegram step (PostgreSQL) : not measured (BOUSSOLE_TEST_POSTGRES_URL unset)")
    print(
        f"    bare echo bot        : {e['median'] * ms:8.2f} ms / {e['p99'] * ms:.2f} ms   "
        f"({results['updates']} updates each, {results['edits']} message edits)"
    )
    st = results["echo_stored"]
    print(
        f"    echo bot + the same SQLite read and write : {st['median'] * ms:.2f} ms / "
        f"{st['p99'] * ms:.2f} ms   ratio of a Boussole step to it: "
        f"{results['ratio_stored_median']:.2f}x; the read and write are "
        f"{results['storage_share']:.0%} of a Boussole step"
    )
    print(
        f"  memory, {m['conversations']:.0f} stored conversations : RSS "
        f"{m['rss_before_mib']:.1f} → {m['rss_half_mib']:.1f} → {m['rss_after_mib']:.1f} MiB "
        f"(+{m['rss_after_mib'] - m['rss_before_mib']:.1f} MiB), "
        f"database {m['database_mib']:.1f} MiB"
    )


if __name__ == "__main__":
    import sys

    from knowledge.loader import load_knowledge

    quick = "--quick" in sys.argv
    result = bench_telegram(load_knowledge(), 400 if quick else 2000, 1000 if quick else 10_000)
    report(result)
    for line in missed(result):
        print(f"  target missed: {line}")
