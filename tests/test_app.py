"""The pieces of bot/app.py that are not a conversation: update ordering, token redaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from telegram import Update

from bot.channels.telegram import PerChatUpdateProcessor
from bot.platform.observe import Redacting, use_secrets
from knowledge.loader import KnowledgeBase


def update(chat_id: int, update_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "text": "x",
            },
        },
        None,
    )


async def test_one_chat_in_order_several_chats_at_once() -> None:
    processor = PerChatUpdateProcessor(8)
    events: list[str] = []

    async def work(name: str, delay: float) -> None:
        events.append(f"{name} start")
        await asyncio.sleep(delay)
        events.append(f"{name} end")

    await asyncio.gather(
        processor.process_update(update(1, 1), work("a1", 0.05)),
        processor.process_update(update(1, 2), work("a2", 0)),
        processor.process_update(update(2, 3), work("b1", 0)),
    )
    # chat 1's second update waits for its first; chat 2 does not wait for chat 1
    assert events.index("a2 start") > events.index("a1 end")
    assert events.index("b1 end") < events.index("a1 end")
    assert processor._locks == {} and processor._waiting == {}  # nothing kept per chat


def test_the_token_is_redacted_from_any_log_line() -> None:
    token = "123456:SECRET"
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "POST https://api/bot%s/getMe", (token,), None
    )
    handler = logging.StreamHandler()
    use_secrets(handler, [token])
    assert isinstance(handler.formatter, Redacting)
    line = handler.format(record)
    assert token not in line and "<secret>" in line


async def test_knowledge_reload_keeps_the_running_base_when_the_new_one_is_invalid(
    kb: KnowledgeBase, kb_copy: Callable[[], Path], tmp_path: Path
) -> None:
    from bot.channels.telegram import build_application, readiness, reload_knowledge
    from bot.platform.config import Settings
    from tests.telegram_offline import OfflineRequest

    settings = Settings(
        _env_file=None,
        telegram_bot_token="1:T",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
    )
    app = build_application(settings, kb, request=OfflineRequest())
    service = app.bot_data["service"]
    root = kb_copy()
    assert reload_knowledge(app, root)  # the small fixture base
    assert len(service.conversation.kb.schemes) == 2
    (root / "tree.yaml").write_text("questions: [oops", encoding="utf-8")
    before = service.conversation
    assert not reload_knowledge(app, root)
    assert service.conversation is before  # still serving the valid one
    await service.store.migrate()
    ok, checks = await readiness(app)
    assert ok and checks["database"] == "ok"
    await service.store.close()

    broken = build_application(
        Settings(
            _env_file=None,
            telegram_bot_token="1:T",
            database_url="postgresql+asyncpg://nobody:wrong@127.0.0.1:1/none",
        ),
        kb,
        request=OfflineRequest(),
    )
    ok, checks = await readiness(broken)
    assert not ok and checks["database"].startswith("unreachable")


def test_json_logs_carry_the_update_fields_and_no_chat_id() -> None:
    import json

    from bot.platform.observe import JsonFormatter, hashed

    record = logging.LogRecord("boussole.updates", logging.INFO, __file__, 1, "update", (), None)
    record.update, record.chat, record.ms, record.outcome = "message", hashed(4242), 3.2, "ok"
    line = json.loads(JsonFormatter().format(record))
    assert line["update"] == "message" and line["ms"] == 3.2 and line["outcome"] == "ok"
    assert line["chat"] != "4242" and len(line["chat"]) == 12
