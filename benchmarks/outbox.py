"""Lead delivery: outbox throughput, and the time from consent to delivery.

- Throughput: N stored leads, each for an organisation reached by webhook, delivered by
  the outbox worker (claim, signed POST to a local receiver, mark done, queue the notice,
  the reminder and the follow-up) on SQLite and on PostgreSQL; against the same N signed
  POSTs sent directly, without any database, in the same run.
- Consent to delivery: through the real Application (offline Bot API) with its delivery
  worker running, the time from the person's « Envoyer » to the lead reaching the
  partner's webhook, at the median.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# run as a script (`python benchmarks/outbox.py`), the project root is not on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Update

from bot.channels.telegram import build_application
from bot.dialogue.router import Conversation
from bot.leads.delivery import post_webhook
from bot.leads.outbox import Outbox
from bot.leads.partners import Organisation, Partners
from bot.leads.store import LeadStore, create_lead
from bot.orientation.cases import asked_answers
from bot.orientation.engine import Session
from bot.platform.config import Settings
from bot.platform.storage import ConversationStore
from knowledge.loader import KnowledgeBase, load_cases
from tests.receivers import WebhookReceiver
from tests.telegram_offline import OfflineRequest

SECRET = "whsec_YmVuY2htYXJrLXNlY3JldC1vZi0zMi1ieXRlcyEhIQ=="  # Standard Webhooks
TOKEN = "123456:BENCHMARK"


def partners(url: str) -> Partners:
    return Partners(
        organisations=[
            Organisation(
                id="urscop_hdf",
                name="URSCOP Hauts-de-France",
                contact="urscop_hdf",
                webhook_url=url,
                webhook_secret=SECRET,  # type: ignore[arg-type]
            )
        ]
    )


def sample_lead() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "created_at": "2026-11-23T10:00:00+00:00",
        "organisation": {"id": "urscop_hdf", "name": "URSCOP Hauts-de-France"},
        "person": {"name": "Camille", "contact": {"kind": "email", "value": "c@exemple.fr"}},
        "project": {"description": "Un café-cantine de quartier."},
        "status": "new",
        "profile": "porteur",
        "stage": None,
        "territory": None,
        "answers": [{"question": "Qui êtes-vous ?", "answer": "Un porteur de projet"}],
        "recommended": [{"scheme": "scic", "name": "SCIC", "reasons": ["…"]}],
        "unmet": False,
        "open_points": [],
        "consent": {
            "text": "J'accepte.",
            "version": "bench",
            "given_at": "2026-11-23T09:58:00+00:00",
            "by": "person",
        },
        "operator": None,
    }


async def empty(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        tables = MetaData()
        await conn.run_sync(tables.reflect)
        await conn.run_sync(tables.drop_all)
    await engine.dispose()


async def throughput(kb: KnowledgeBase, url: str, count: int) -> dict[str, float]:
    await empty(url)
    store = ConversationStore(url)
    await store.migrate()
    leads = LeadStore(store.engine)
    async with WebhookReceiver(SECRET) as receiver:
        conversation = Conversation(kb, partners=partners(receiver.url))
        async with store.engine.begin() as conn:
            for _ in range(count):
                await create_lead(conn, sample_lead(), "bench:1", "urscop_hdf", ["webhook"])
        outbox = Outbox(leads, conversation.partner)
        t0 = time.perf_counter()
        while await outbox.run_once():
            pass
        elapsed = time.perf_counter() - t0
        await outbox.close()
        delivered = len([d for d in receiver.unique.values() if d.event == "lead.created"])
        assert delivered == count, (delivered, count)
        # the baseline: the same signed POSTs, no database
        async with httpx.AsyncClient(trust_env=False) as client:
            t0 = time.perf_counter()
            for _ in range(count):
                await post_webhook(client, receiver.url, SECRET, sample_lead())
            direct = time.perf_counter() - t0
    await store.close()
    return {
        "leads": count,
        "per_second": count / elapsed,
        "direct_per_second": count / direct,
        "ratio": elapsed / direct,
    }


async def consent_to_delivery(kb: KnowledgeBase, database: Path, count: int) -> dict[str, float]:
    _, case = next((n, c) for n, c in load_cases() if "Voisinerie" in n)
    async with WebhookReceiver(SECRET) as receiver:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=TOKEN,
            database_url=f"sqlite+aiosqlite:///{database}",
            rate_limit=False,
            outbox_interval=2.0,
        )
        app = build_application(
            settings, kb, request=OfflineRequest(keep=False), partners=partners(receiver.url)
        )
        await app.initialize()
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        service = app.bot_data["service"]
        conversation: Conversation = service.conversation
        place = conversation.geo.resolve("59000").best
        assert place is not None
        ready = Session(asked_answers(conversation.engine, case), place.key).with_form(
            o="urscop_hdf",
            s="confirm",
            n="Camille Martin",
            c="email:camille@exemple.fr",
            d="Un café-cantine de quartier.",
            t="2026-11-23T10:00:00+00:00",
            v=conversation.consent_version,
        )
        samples: list[float] = []
        for i in range(count):
            chat = 10_000 + i
            await service.store.save(f"tg:{chat}", ready, 0)
            update = Update.de_json(
                {
                    "update_id": i + 1,
                    "callback_query": {
                        "id": str(i),
                        "chat_instance": "b",
                        "from": {"id": chat, "is_bot": False, "first_name": "B"},
                        "data": "e|||send",
                        "message": {
                            "message_id": 1,
                            "date": 0,
                            "chat": {"id": chat, "type": "private"},
                            "text": "…",
                        },
                    },
                },
                app.bot,
            )
            before = len(receiver.received)
            t0 = time.perf_counter()
            await app.process_update(update)
            while len(receiver.received) == before:
                await asyncio.sleep(0.0005)
            samples.append(time.perf_counter() - t0)
        await app.post_shutdown(app)
        await app.shutdown()
    return {"median_ms": statistics.median(samples) * 1e3, "max_ms": max(samples) * 1e3}


def bench_outbox(kb: KnowledgeBase, count: int, consents: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results["sqlite"] = asyncio.run(
            throughput(kb, f"sqlite+aiosqlite:///{root / 'outbox.db'}", count)
        )
        postgres = os.environ.get("BOUSSOLE_TEST_POSTGRES_URL")
        if postgres:
            results["postgresql"] = asyncio.run(throughput(kb, postgres, count))
        results["consent"] = asyncio.run(consent_to_delivery(kb, root / "consent.db", consents))
    return results


def report(results: dict[str, Any]) -> None:
    for name in ("sqlite", "postgresql"):
        r = results.get(name)
        if r is None:
            print(f"  outbox ({name})        : not measured (set BOUSSOLE_TEST_POSTGRES_URL)")
            continue
        print(
            f"  outbox ({name:10})   : {r['per_second']:8.0f} leads/s delivered to a local "
            f"webhook ({r['leads']:.0f} leads); direct signed POSTs without a database: "
            f"{r['direct_per_second']:.0f}/s, ratio {r['ratio']:.1f}x"
        )
    c = results["consent"]
    print(
        f"  consent → delivery     : {c['median_ms']:8.1f} ms median, {c['max_ms']:.1f} ms max "
        "(« Envoyer » pressed → lead received by the partner's webhook)"
    )


if __name__ == "__main__":
    import sys

    from knowledge.loader import load_knowledge

    quick = "--quick" in sys.argv
    report(bench_outbox(load_knowledge(), 100 if quick else 1000, 10 if quick else 50))
