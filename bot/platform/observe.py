"""Observability: Prometheus metrics and logs (text or JSON), never the token or a person.

Each process exposes its own metrics (`/metrics` in webhook mode); Prometheus scrapes every
worker. Log lines name chats by a short hash, never by their Telegram id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate

REGISTRY = CollectorRegistry()
UPDATES = Counter(
    "boussole_updates", "Telegram updates handled, by type", ["type"], registry=REGISTRY
)
LATENCY = Histogram(
    "boussole_update_seconds",
    "Time to handle one update (reading and writing the conversation included)",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
ERRORS = Counter("boussole_errors", "Updates whose handling failed", registry=REGISTRY)
ORIENTATIONS = Counter(
    "boussole_orientations_finished",
    "Orientations that reached a result (unmet: no scheme fits)",
    ["unmet"],
    registry=REGISTRY,
)
LEADS = Counter(
    "boussole_leads",
    "Leads entering a status (new, delivered, taken…)",
    ["status"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "boussole_delivery_attempts",
    "Outbox jobs attempted, by kind, channel and outcome (ok, retry, failed)",
    ["kind", "channel", "outcome"],
    registry=REGISTRY,
)
RELOADS = Counter(
    "boussole_knowledge_reloads",
    "Knowledge base reloads, by outcome",
    ["outcome"],
    registry=REGISTRY,
)

UPDATE_LOG = logging.getLogger("boussole.updates")
#: how the update being handled ended: the error handler sets "error"
OUTCOME: ContextVar[str] = ContextVar("outcome", default="ok")


def metrics() -> tuple[bytes, str]:
    """The Prometheus exposition of this process, and its content type."""
    return _generate(REGISTRY), CONTENT_TYPE_LATEST


def hashed(chat_id: int | str) -> str:
    """A chat in logs, without the person's identifier."""
    return hashlib.sha256(str(chat_id).encode()).hexdigest()[:12]


#: the libraries whose loggers print request parameters (personal data, secrets) at DEBUG
LIBRARY_LOGGERS = (
    "telegram",
    "httpx",
    "httpcore",
    "hpack",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "uvicorn",
    "apscheduler",
    "aiosmtpd",
    "mail.log",
)
REDACTED = "<secret>"


class Redacting(logging.Formatter):
    """A formatter that removes secrets from the whole line: the message, its arguments,
    an exception's text and its traceback (`InvalidToken: The token … was rejected`)."""

    secrets: tuple[str, ...] = ()

    def redact(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def use_secrets(handler: logging.Handler, secrets: list[str]) -> None:
    """Make `handler` redact these secrets (and keep its formatter's layout)."""
    formatter = handler.formatter
    if not isinstance(formatter, Redacting):
        layout = formatter._fmt if formatter is not None else None
        formatter = Redacting(layout)
        handler.setFormatter(formatter)
    # the longest first: a secret that contains another is removed whole
    formatter.secrets = tuple(sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True))


class JsonFormatter(Redacting):
    """One JSON object per line, with the fields given in `extra=`."""

    FIELDS = ("update", "chat", "ms", "outcome")

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self._json(record))

    def _json(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            if hasattr(record, field):
                data[field] = getattr(record, field)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def update_type(update: object) -> str:
    """`message`, `callback_query`, `edited_message`… (the Bot API field that is set)."""
    to_dict = getattr(update, "to_dict", None)
    if to_dict is None:
        return "other"
    keys = [k for k in to_dict() if k != "update_id"]
    return keys[0] if keys else "other"


def log_update(kind: str, chat: int | None, seconds: float, outcome: str) -> None:
    UPDATES.labels(kind).inc()
    LATENCY.labels(kind).observe(seconds)
    chat_hash = hashed(chat) if chat is not None else "-"
    UPDATE_LOG.info(
        "update %s chat=%s %.1f ms %s",
        kind,
        chat_hash,
        seconds * 1e3,
        outcome,
        extra={
            "update": kind,
            "chat": chat_hash,
            "ms": round(seconds * 1e3, 2),
            "outcome": outcome,
        },
    )
