"""Delivery of leads to partner organisations: signed webhook and email.

A lead is a JSON-able dict built elsewhere, always with a stable string ``id`` (a UUID the
receiver deduplicates on) and ``created_at`` (ISO 8601). This module only transports it:

* :func:`post_webhook` POSTs ``{"event": ..., "lead": ...}`` signed with HMAC-SHA256
  (:func:`sign`; a receiver checks it with :func:`verify`, see ``docs/webhook.md``);
* :func:`send_email` sends :func:`lead_email`, a French plain-text message with the lead
  as a JSON attachment, through the standard library's smtplib in a worker thread.

Every failure is raised as :class:`DeliveryError`, whose ``permanent`` flag tells the
caller whether retrying later can help, and whose ``reason`` is short and safe to store
(no secret, no URL, no response body).
"""

from __future__ import annotations

import asyncio
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


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``"sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance: int = 300,
) -> bool:
    """True if ``signature`` signs ``body`` at ``timestamp`` and the timestamp is fresh.

    ``timestamp`` is the ``X-Boussole-Timestamp`` header (Unix seconds) and ``body`` the raw
    request body, exactly as received (not re-serialised). A timestamp further than
    ``tolerance`` seconds from ``now`` (default: the current time) is refused, which limits
    replays. The comparison is constant-time.
    """
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    signature = signature.strip()
    if not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Boussole-Event": event,
        "X-Boussole-Delivery": delivery_id(lead, event),
        "X-Boussole-Timestamp": timestamp,
        "X-Boussole-Signature": sign(secret, timestamp, body),
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


def _str(value: Any) -> str:
    """A one-line display string for a scalar, or "" for nothing."""
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _date(value: Any) -> str:
    text = _str(value)
    if not text:
        return ""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    shown = when.strftime("%d/%m/%Y à %H:%M")
    offset = when.utcoffset()
    if offset is None:
        return shown
    if not offset:
        return f"{shown} (UTC)"
    return f"{shown} (UTC{when.strftime('%z')[:3]}:{when.strftime('%z')[3:]})"


_PROFILES = {
    "porteur": "porteur ou porteuse de projet",
    "association": "association",
    "collectivite": "collectivité",
    "entreprise": "entreprise",
}
_CONTACT_KINDS = {
    "email": "e-mail",
    "phone": "téléphone",
    "telephone": "téléphone",
    "telegram": "Telegram",
}


def _label(value: Any, labels: dict[str, str]) -> str:
    text = _str(value)
    return labels.get(text, text.replace("_", " "))


def _multiline(value: Any, indent: str) -> list[str]:
    """A free text kept with its line breaks, each line indented."""
    if value is None or isinstance(value, dict | list):
        return []
    lines = [line.rstrip() for line in str(value).strip().splitlines()]
    return [f"{indent}{line}" if line else "" for line in lines]


def _operator(value: Any) -> str:
    if isinstance(value, dict):
        return _str(value.get("name")) or _str(value.get("id"))
    return _str(value)


def _project_title(lead: dict[str, Any]) -> str:
    project = _dict(lead.get("project"))
    person = _dict(lead.get("person"))
    return (
        _str(project.get("title"))
        or _str(project.get("name"))
        or _str(person.get("name"))
        or _str(lead.get("id"))
    )


def lead_text(lead: dict[str, Any]) -> str:
    """A readable French plain-text summary of a lead; missing keys are simply skipped."""
    return "Nouvelle mise en relation Boussole\n\n" + _summary(lead)


def _summary(lead: dict[str, Any]) -> str:
    out: list[str] = []
    organisation = _dict(lead.get("organisation"))
    org_name = _str(organisation.get("name")) or _str(organisation.get("id"))
    for label, value in (
        ("Référence", _str(lead.get("id"))),
        ("Reçue le", _date(lead.get("created_at"))),
        ("Structure destinataire", org_name),
    ):
        if value:
            out.append(f"{label} : {value}")

    person = _dict(lead.get("person"))
    contact = _dict(person.get("contact"))
    section: list[str] = []
    if name := _str(person.get("name")):
        section.append(f"  Nom : {name}")
    if value := _str(contact.get("value")):
        kind = _label(contact.get("kind"), _CONTACT_KINDS)
        section.append(f"  Contact ({kind}) : {value}" if kind else f"  Contact : {value}")
    if profile := _label(lead.get("profile"), _PROFILES):
        section.append(f"  Profil : {profile}")
    if stage := _label(lead.get("stage"), {}):
        section.append(f"  Stade du projet : {stage}")
    if section:
        out += ["", "Personne", *section]

    project = _dict(lead.get("project"))
    section = []
    if title := _str(project.get("title")):
        section.append(f"  Titre : {title}")
    section += _multiline(project.get("description"), "  ")
    if section:
        out += ["", "Projet", *section]

    territory = _dict(lead.get("territory"))
    codes = [
        f"{label} {code}"
        for label, code in (
            ("commune", _str(territory.get("commune"))),
            ("département", _str(territory.get("departement"))),
            ("région", _str(territory.get("region"))),
        )
        if code
    ]
    where = _str(territory.get("label"))
    if codes:
        where = f"{where} ({', '.join(codes)})" if where else ", ".join(codes)
    if where:
        out += ["", f"Territoire : {where}"]

    section = []
    for item in _list(lead.get("recommended")):
        scheme = _dict(item)
        name = _str(scheme.get("name")) or _str(scheme.get("scheme"))
        if not name:
            continue
        code = _str(scheme.get("scheme"))
        section.append(f"  - {name}" + (f" ({code})" if code and code != name else ""))
        section += [
            f"      · {reason}" for r in _list(scheme.get("reasons")) if (reason := _str(r))
        ]
    if section:
        out += ["", "Dispositifs recommandés", *section]

    section = []
    for item in _list(lead.get("answers")):
        qa = _dict(item)
        question, answer = _str(qa.get("question")), _str(qa.get("answer"))
        if question or answer:
            section += [f"  - {question or '(question)'}", f"    → {answer or '—'}"]
    if section:
        out += ["", "Réponses au questionnaire", *section]

    consent = _dict(lead.get("consent"))
    if consent:
        by = _str(consent.get("by"))
        operator = _operator(lead.get("operator"))
        if by == "operator":
            who = "Recueilli par un opérateur" + (f" ({operator})" if operator else "")
        elif by == "person":
            who = "Donné par la personne elle-même"
        else:
            who = f"Donné par {by}" if by else "Donné"
        line = f"  {who}"
        if given := _date(consent.get("given_at")):
            line += f" le {given}"
        out += ["", "Consentement à la mise en relation", line]
        if version := _str(consent.get("text_version")):
            out.append(f"  Version du texte de consentement : {version}")
    return "\n".join(out).rstrip() + "\n"


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
    title = _project_title(lead)
    if len(title) > 80:
        title = title[:79].rstrip() + "…"
    erased = event == LEAD_ERASED
    if event == LEAD_CREATED:
        subject = f"Boussole : nouvelle mise en relation – {title}"
        body = lead_text(lead)
        attached = lead
    elif erased:
        attached = {key: lead[key] for key in _ERASURE_KEYS if key in lead}
        subject = f"Boussole : demande d'effacement – référence {_str(lead['id'])}"
        body = (
            "Demande d'effacement de données personnelles\n\n"
            "La personne mise en relation avec votre structure par Boussole a demandé "
            "l'effacement de ses données.\nMerci de supprimer toutes les données que vous "
            "avez conservées pour la mise en relation suivante (fiche, copies, pièces "
            "jointes et ce message compris) :\n\n" + _summary(attached)
        )
    else:
        subject = f"Boussole : {event} – {title}"
        body = lead_text(lead)
        attached = lead
    body += f"\n--\nÉvénement : {event}\n"
    if erased:
        body += f"Identification de la fiche en pièce jointe : lead-{lead_id}.json\n"
    else:
        body += (
            f"Référence à conserver : {_str(lead['id'])} (un envoi répété porte la même "
            "référence et le même Message-ID).\n"
            f"Données complètes en pièce jointe : lead-{lead_id}.json\n"
            "Cette personne a accepté d'être mise en relation avec votre structure ; "
            "merci de n'utiliser ces données que dans ce but.\n"
        )

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
