"""Delivery of leads to partner organisations: signed webhook and email.

A lead is the JSON of a :class:`bot.leads.PartnerLead`, with a stable string ``id`` (a UUID
the receiver deduplicates on). This module only transports it:

* :func:`post_webhook` POSTs ``{"event": ..., "lead": ...}`` signed the Standard Webhooks way
  (https://www.standardwebhooks.com: headers ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` = ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the
  partner's ``whsec_`` secret; :func:`sign`, checked by :func:`verify` or any Standard
  Webhooks library, see ``docs/webhook.md``);
* :func:`send_email` sends :func:`lead_email`, a French plain-text message rendered from
  bot/templates/lead_email.txt.j2 with the lead as a JSON attachment, through the standard
  library's smtplib in a worker thread.

Every failure is raised as :class:`DeliveryError`, whose ``permanent`` flag tells the
caller whether retrying later can help, and whose ``reason`` is short and safe to store
(no secret, no URL, no response body).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

from bot.leads.model import PartnerLead, parse_lead
from bot.screens.render import Renderer

__all__ = [
    "LEAD_CREATED",
    "LEAD_ERASED",
    "DeliveryError",
    "SmtpSettings",
    "delivery_id",
    "lead_email",
    "lead_text",
    "post_webhook",
    "send_email",
    "sign",
    "verify",
    "webhook_key",
]

LEAD_CREATED = "lead.created"
LEAD_ERASED = "lead.erased"
USER_AGENT = "Boussole-Webhook/1"

# Keys of a lead kept in an erasure notice sent by email: enough to find the record,
# without sending the person's data once more to a mailbox.
_ERASURE_KEYS = ("id", "created_at", "status", "organisation")


class DeliveryError(Exception):
    """A lead could not be delivered.

    ``permanent`` is False when a later attempt may succeed (timeout, connection refused,
    HTTP 5xx, 408 or 429, SMTP 4xx) and True when retrying is pointless until someone
    changes something (HTTP 4xx, redirect, invalid URL, SMTP 5xx such as an unknown
    recipient). ``reason`` is short and safe to store in a database. ``status`` is the
    HTTP or SMTP code when there was one, ``retry_after`` the delay in seconds asked by
    an HTTP ``Retry-After`` header, if any.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DeliveryError({self.reason!r}, permanent={self.permanent})"


# --------------------------------------------------------------------------- webhook


SECRET_PREFIX = "whsec_"


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_`` + base64 of 24 to 64 bytes.
    Raises ValueError otherwise (the partners file is checked with it)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("le secret doit commencer par whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("après whsec_, du base64 valide") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("après whsec_, le base64 de 24 à 64 octets")
    return key


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``webhook-signature``: ``"v1," + base64(HMAC-SHA256(key, id + "." + ts + "." + body))``."""
    signed = msg_id.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + body
    mac = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify(
    secret: str,
    msg_id: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance: int = 300,
) -> bool:
    """True if one of the space-separated ``v1,…`` signatures of ``signature`` signs
    ``body`` with this id and timestamp, and the timestamp is fresh.

    ``msg_id``, ``timestamp``, ``signature``: the ``webhook-id``, ``webhook-timestamp`` and
    ``webhook-signature`` headers; ``body``: the raw request body, exactly as received. A
    timestamp further than ``tolerance`` seconds from ``now`` (default: the current time)
    is refused, which limits replays. The comparison is constant-time.
    """
    if not timestamp.isascii() or not timestamp.isdigit() or not signature.isascii():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body).encode("ascii")
    return any(
        hmac.compare_digest(expected, candidate.encode("ascii")) for candidate in signature.split()
    )


def delivery_id(lead: dict[str, Any], event: str = LEAD_CREATED) -> str:
    """The deduplication key of one event about one lead (``X-Boussole-Delivery``)."""
    lead_id = str(lead["id"])
    return lead_id if event == LEAD_CREATED else f"{lead_id}:{event}"


def _json_body(event: str, lead: dict[str, Any]) -> bytes:
    payload = {"event": event, "lead": lead}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _http_error(response: httpx.Response) -> DeliveryError:
    code = response.status_code
    retry_after = _retry_after(response.headers.get("Retry-After"))
    if code >= 500 or code in (408, 429):
        return DeliveryError(f"HTTP {code}", permanent=False, status=code, retry_after=retry_after)
    if 300 <= code < 400:
        return DeliveryError(f"HTTP {code} (redirect not followed)", permanent=True, status=code)
    return DeliveryError(f"HTTP {code}", permanent=True, status=code)


async def post_webhook(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    lead: dict[str, Any],
    event: str = LEAD_CREATED,
    timeout: float = 10.0,
) -> None:
    """POST one signed event to a partner's webhook; return on any 2xx answer.

    ``timeout`` bounds the whole exchange (connection, upload and the response headers).
    The response body is never read. Redirects are not followed. Raises
    :class:`DeliveryError` otherwise.
    """
    body = _json_body(event, lead)
    timestamp = str(int(time.time()))
    msg_id = delivery_id(lead, event)
    try:
        signature = sign(secret, msg_id, timestamp, body)
    except ValueError as exc:
        raise DeliveryError(f"invalid webhook secret ({exc})", permanent=True) from exc
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Boussole-Event": event,
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request(
                "POST", url, content=body, headers=headers, timeout=httpx.Timeout(timeout)
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            await response.aclose()
    except TimeoutError as exc:  # asyncio.timeout: the overall deadline
        raise DeliveryError("timeout", permanent=False) from exc
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timeout ({type(exc).__name__})", permanent=False) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DeliveryError(f"invalid URL ({type(exc).__name__})", permanent=True) from exc
    except httpx.LocalProtocolError as exc:
        raise DeliveryError(f"invalid request ({type(exc).__name__})", permanent=True) from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"connection failed ({type(exc).__name__})", permanent=False) from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"HTTP error ({type(exc).__name__})", permanent=False) from exc
    if not response.is_success:
        raise _http_error(response)


# --------------------------------------------------------------------------- text

PROFILES = {
    "porteur": "porteur ou porteuse de projet",
    "association": "association",
    "collectivite": "collectivité",
    "entreprise": "entreprise",
}
CONTACT_KINDS = {"email": "e-mail", "phone": "téléphone", "telegram": "Telegram"}


def _when(value: datetime | str | None) -> str:
    """« 23/11/2026 à 10:00 (UTC) »."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return _one_line(value)
    shown = value.strftime("%d/%m/%Y à %H:%M")
    offset = value.utcoffset()
    if offset is None:
        return shown
    if not offset:
        return f"{shown} (UTC)"
    return f"{shown} (UTC{value.strftime('%z')[:3]}:{value.strftime('%z')[3:]})"


def _one_line(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


_TEXT = Renderer(html=False)  # plain text (email): nothing escaped
_TEXT.env.filters.update(
    when=_when,
    one_line=_one_line,
    profile=lambda v: PROFILES.get(v, str(v).replace("_", " ")),
    contact_kind=lambda v: CONTACT_KINDS.get(v, v),
)


def _render(event: str, lead: PartnerLead | None, notice: dict[str, Any]) -> str:
    text = _TEXT.render(
        "lead_email.txt.j2", event=event, lead=lead, notice=notice, erased=event == LEAD_ERASED
    )
    return text + "\n"


def _lead(data: dict[str, Any]) -> PartnerLead:
    try:
        return parse_lead(data)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
        raise DeliveryError(f"lead not matching the model ({where})", permanent=True) from exc


def lead_text(lead: dict[str, Any]) -> str:
    """The French plain text of a lead, from the template (DeliveryError if invalid)."""
    return _render(LEAD_CREATED, _lead(lead), {})


# --------------------------------------------------------------------------- email


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "boussole@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def _token(value: Any) -> str:
    """``value`` restricted to characters safe in a Message-ID and a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(value))[:200] or "_"


def lead_email(
    lead: dict[str, Any], to: str, sender: str, event: str = LEAD_CREATED
) -> EmailMessage:
    """The French email announcing ``event`` about ``lead`` to ``to``.

    ``Message-ID`` is ``<lead-<id>@boussole>`` (``<lead-<id>.<event>@boussole>`` for other
    events): the same event about the same lead always has the same Message-ID, so a
    duplicate sent by a retry can be recognised. For ``lead.erased`` the email carries no
    personal data, only what identifies the record to delete.
    """
    lead_id = _token(lead["id"])
    if event == LEAD_ERASED:
        attached = {key: lead[key] for key in _ERASURE_KEYS if key in lead}
        subject = f"Boussole : demande d'effacement – référence {_one_line(lead['id'])}"
        body = _render(event, None, attached)
    else:
        model = _lead(lead)
        attached = model.json_data()
        title = _one_line(model.person.name) or lead_id
        if len(title) > 80:
            title = title[:79].rstrip() + "…"
        what = "nouvelle mise en relation" if event == LEAD_CREATED else event
        subject = f"Boussole : {what} – {title}"
        body = _render(event, model, {})

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=True)
    suffix = "" if event == LEAD_CREATED else f".{_token(event)}"
    msg["Message-ID"] = f"<lead-{lead_id}{suffix}@boussole>"
    msg["X-Boussole-Event"] = event
    msg["X-Boussole-Delivery"] = delivery_id(lead, event)
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    attachment = json.dumps(attached, ensure_ascii=False, indent=2).encode("utf-8")
    msg.add_attachment(
        attachment, maintype="application", subtype="json", filename=f"lead-{lead_id}.json"
    )
    return msg


def _smtp_error(exc: smtplib.SMTPException | OSError) -> DeliveryError:
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = max(codes) if codes else 550
        return DeliveryError(f"SMTP {code} recipient refused", permanent=code >= 500, status=code)
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code > 0:
        code = exc.smtp_code
        return DeliveryError(f"SMTP {code} ({name})", permanent=code >= 500, status=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP not supported ({name})", permanent=True)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"SMTP timeout ({name})", permanent=False)
    return DeliveryError(f"SMTP connection failed ({name})", permanent=False)


def _send(settings: SmtpSettings, to: str, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(msg, from_addr=settings.sender, to_addrs=[to])


async def send_email(
    settings: SmtpSettings, to: str, lead: dict[str, Any], event: str = LEAD_CREATED
) -> None:
    """Send :func:`lead_email` to ``to`` through ``settings``; raise :class:`DeliveryError`.

    smtplib runs in a worker thread (``asyncio.to_thread``); ``settings.timeout`` applies
    to each socket operation.
    """
    try:
        msg = lead_email(lead, to, settings.sender, event)
    except ValueError as exc:  # e.g. a line break in an address
        raise DeliveryError("invalid address or header", permanent=True) from exc
    try:
        await asyncio.to_thread(_send, settings, to, msg)
    except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, timeout, DNS, TLS
        raise _smtp_error(exc) from exc
