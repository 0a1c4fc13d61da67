"""The pieces of bot/app.py that are not a conversation: update ordering, token redaction."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from bot.app import PerChatUpdateProcessor, _RedactToken


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
    assert _RedactToken(token).filter(record)
    assert token not in record.getMessage() and "<token>" in record.getMessage()
