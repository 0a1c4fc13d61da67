"""Lead delivery by signed webhook and by email, against real local receivers."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.leads.delivery import (
    DeliveryError,
    SmtpSettings,
    lead_email,
    lead_text,
    post_webhook,
    send_email,
    sign,
    verify,
    webhook_key,
)
from bot.leads.model import PartnerLead, fields_table, with_fields_table
from tests.receivers import SmtpReceiver, WebhookReceiver, free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks' own example secret
WRONG = "whsec_" + "QUJD" * 8  # a valid secret, not the receiver's
LEAD_ID = "0f6d3c1e-2b7a-4c1d-9a51-3e2f4b5c6d7e"
LEAD: dict[str, Any] = {
    "id": LEAD_ID,
    "created_at": "2026-11-23T10:00:00+00:00",
    "status": "new",
    "organisation": {"id": "urscop_hdf", "name": "URSCOP Hauts-de-France"},
    "person": {
        "name": "Camille Martin",
        "contact": {"kind": "email", "value": "camille@example.org"},
    },
    "project": {
        "description": "Un café-cantine de quartier, géré avec les habitants\n"
        "et la mairie, ouvert en 2027."
    },
    "profile": "porteur",
    "stage": "montage",
    "territory": {
        "label": "Lille (59), Hauts-de-France",
        "commune": "59350",
        "departement": "59",
        "region": "32",
    },
    "answers": [
        {"question": "Qui êtes-vous ?", "answer": "Un porteur de projet"},
        {"question": "Avec qui ?", "answer": "Habitants, salariés et la commune"},
    ],
    "recommended": [
        {
            "scheme": "scic",
            "name": "SCIC",
            "reasons": [
                "Associe habitants, salariés et collectivité au capital",
                "Intérêt collectif d'un service de proximité",
            ],
        },
        {"scheme": "cae", "name": "Coopérative d'activité et d'emploi", "reasons": []},
    ],
    "unmet": False,
    "open_points": ["Statut juridique : à préciser"],
    "consent": {
        "text": "J'accepte que Boussole transmette ma demande à URSCOP Hauts-de-France.",
        "version": "3f2a9c1b7d4e",
        "given_at": "2026-11-23T09:58:00+00:00",
        "by": "person",
        "other_partners": False,
    },
    "operator": None,
    "handed_from": None,
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpReceiver]:
    async with SmtpReceiver() as receiver:
        yield receiver


# --------------------------------------------------------------------------- signature


def test_sign_is_standard_webhooks_v1() -> None:
    """v1, base64 HMAC-SHA256 of "id.timestamp.body" keyed with the base64 part of whsec_."""
    import base64
    import hashlib
    import hmac

    body = b'{"event":"lead.created"}'
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert sign(SECRET, "msg_1", "1700000000", body) == "v1," + base64.b64encode(mac).decode()


def test_sign_matches_the_standard_webhooks_library() -> None:
    """The reference implementation (PyPI standardwebhooks) computes the same signature."""
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    body = json.dumps({"event": "lead.created", "lead": LEAD}, ensure_ascii=False)
    when = datetime.fromtimestamp(1795428000, tz=UTC)
    expected = Webhook(SECRET).sign(LEAD_ID, when, body)
    assert sign(SECRET, LEAD_ID, "1795428000", body.encode()) == expected


@pytest.mark.parametrize(
    "secret", ["s3cr3t", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "whsec_" + "QQ==" * 40]
)
def test_a_secret_that_is_not_standard_webhooks_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        webhook_key(secret)


def test_verify_round_trip_and_refusals() -> None:
    body = json.dumps({"event": "lead.created", "lead": LEAD}, ensure_ascii=False).encode()
    now = time.time()
    ts = str(int(now))
    sig = sign(SECRET, LEAD_ID, ts, body)
    other = "whsec_" + "QUJD" * 8
    assert verify(SECRET, LEAD_ID, ts, body, sig, now=now)
    assert verify(SECRET, LEAD_ID, ts, body, f"{sign(other, LEAD_ID, ts, body)} {sig}", now=now)
    # tampered body, other secret, other id, other timestamp, mangled signature
    assert not verify(SECRET, LEAD_ID, ts, body.replace(b"Camille", b"Camilla"), sig, now=now)
    assert not verify(other, LEAD_ID, ts, body, sig, now=now)
    assert not verify(SECRET, LEAD_ID + "x", ts, body, sig, now=now)
    assert not verify(SECRET, LEAD_ID, str(int(now) + 1), body, sig, now=now)
    assert not verify(SECRET, LEAD_ID, ts, body, sig[:-2] + ("A=" if sig[-2] != "A" else "B="))
    assert not verify(SECRET, LEAD_ID, ts, body, "v1,é", now=now)
    assert not verify(SECRET, LEAD_ID, "", body, sig, now=now)
    assert not verify(SECRET, LEAD_ID, "not-a-number", body, sig, now=now)
    # stale or from the future beyond the tolerance, fresh within it
    assert not verify(SECRET, LEAD_ID, ts, body, sig, now=now + 301)
    assert not verify(SECRET, LEAD_ID, ts, body, sig, now=now - 301)
    assert verify(SECRET, LEAD_ID, ts, body, sig, now=now + 299)
    assert verify(SECRET, LEAD_ID, ts, body, sig, now=now + 3000, tolerance=3600)


# --------------------------------------------------------------------------- webhook


async def test_webhook_post_accepted_with_headers_and_body(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    before = int(time.time())
    await post_webhook(client, hook.url, SECRET, LEAD)

    assert len(hook.received) == 1
    got = hook.received[0]
    assert got.method == "POST" and got.path == "/hooks/boussole" and got.status == 200
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-boussole-event"] == "lead.created"
    assert got.headers["webhook-id"] == LEAD_ID
    assert before <= int(got.headers["webhook-timestamp"]) <= int(time.time())
    assert got.headers["webhook-signature"] == sign(
        SECRET, LEAD_ID, got.headers["webhook-timestamp"], got.body
    )
    assert not any(name.startswith("x-boussole-s") for name in got.headers)
    assert got.payload == {"event": "lead.created", "lead": LEAD}
    # a partner's ready verifier accepts it as it is
    from standardwebhooks.webhooks import Webhook

    assert Webhook(SECRET).verify(got.body, got.headers) == got.payload
    # compact UTF-8, accents not escaped
    assert b"\\u00e9" not in got.body and "café".encode() in got.body
    compact = json.dumps(
        {"event": "lead.created", "lead": LEAD}, ensure_ascii=False, separators=(",", ":")
    )
    assert got.body == compact.encode("utf-8")
    assert int(got.headers["content-length"]) == len(got.body)


async def test_webhook_duplicate_is_recognised(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    await post_webhook(client, hook.url, SECRET, LEAD)
    await post_webhook(client, hook.url, SECRET, LEAD)
    await post_webhook(client, hook.url, SECRET, LEAD, event="lead.erased")
    assert len(hook.received) == 3
    assert list(hook.unique) == [LEAD_ID, f"{LEAD_ID}:lead.erased"]
    assert hook.unique[f"{LEAD_ID}:lead.erased"].payload["event"] == "lead.erased"
    assert hook.unique[f"{LEAD_ID}:lead.erased"].event == "lead.erased"


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_webhook_temporary_http_errors(
    client: httpx.AsyncClient, hook: WebhookReceiver, status: int
) -> None:
    hook.fail_next(1, status)
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, hook.url, SECRET, LEAD)
    assert info.value.permanent is False
    assert info.value.status == status
    assert info.value.reason == f"HTTP {status}"
    assert hook.received == [] and len(hook.requests) == 1
    # the retry goes through once the receiver is healthy again
    await post_webhook(client, hook.url, SECRET, LEAD)
    assert list(hook.unique) == [LEAD_ID]


async def test_webhook_500_twice_then_success(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    hook.fail_next(2)
    for _ in range(2):
        with pytest.raises(DeliveryError) as info:
            await post_webhook(client, hook.url, SECRET, LEAD)
        assert not info.value.permanent
    await post_webhook(client, hook.url, SECRET, LEAD)
    assert [r.status for r in hook.requests] == [500, 500, 200]
    assert len(hook.received) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422, 301])
async def test_webhook_permanent_http_errors(
    client: httpx.AsyncClient, hook: WebhookReceiver, status: int
) -> None:
    hook.fail_next(1, status)
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, hook.url, SECRET, LEAD)
    assert info.value.permanent is True
    assert info.value.status == status
    assert hook.received == []


async def test_webhook_wrong_secret_is_refused_by_receiver_and_permanent(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, hook.url, WRONG, LEAD)
    assert info.value.permanent and info.value.status == 401
    assert WRONG not in info.value.reason and SECRET not in info.value.reason
    assert hook.received == [] and [r.status for r in hook.requests] == [401]


async def test_webhook_receiver_down_is_temporary_then_recovers(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    await hook.stop()
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, hook.url, SECRET, LEAD)
    assert info.value.permanent is False
    assert info.value.reason == "connection failed (ConnectError)"
    assert hook.url not in info.value.reason

    await hook.start()  # same port
    await post_webhook(client, hook.url, SECRET, LEAD)
    assert list(hook.unique) == [LEAD_ID]


async def test_webhook_nothing_listening_is_temporary(client: httpx.AsyncClient) -> None:
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, f"http://127.0.0.1:{free_port()}/", SECRET, LEAD)
    assert not info.value.permanent


async def test_webhook_slow_receiver_times_out_temporarily_and_retry_is_deduplicated(
    client: httpx.AsyncClient, hook: WebhookReceiver
) -> None:
    hook.delay = 5.0
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, hook.url, SECRET, LEAD, timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert info.value.permanent is False
    assert info.value.reason.startswith("timeout")
    # the receiver had stored it; the sender's retry is a duplicate it recognises
    hook.delay = 0.0
    await post_webhook(client, hook.url, SECRET, LEAD)
    assert len(hook.received) == 2
    assert list(hook.unique) == [LEAD_ID]


async def test_webhook_invalid_url_is_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(DeliveryError) as info:
        await post_webhook(client, "ftp://127.0.0.1/hook", SECRET, LEAD)
    assert info.value.permanent


# --------------------------------------------------------------------------- email


def _attachment(message: Any) -> tuple[str, Any]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    part = parts[0]
    assert part.get_content_type() == "application/json"
    return part.get_filename(), json.loads(part.get_content())


async def test_email_received_with_french_body_and_json_attachment(smtp: SmtpReceiver) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port, sender="boussole@example.org")
    await send_email(settings, "crm@urscop.example", LEAD)

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.mail_from == "boussole@example.org"
    assert mail.rcpt_tos == ["crm@urscop.example"]
    msg = mail.message
    assert msg["Subject"] == "Boussole : nouvelle mise en relation – Camille Martin"
    assert msg["Message-ID"] == f"<lead-{LEAD_ID}@boussole>"
    assert msg["From"] == "boussole@example.org"
    assert msg["To"] == "crm@urscop.example"
    assert msg["X-Boussole-Delivery"] == LEAD_ID

    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    for expected in (
        "Camille Martin",
        "Contact (e-mail) : camille@example.org",
        "Un café-cantine de quartier, géré avec les habitants",
        "et la mairie, ouvert en 2027.",
        "URSCOP Hauts-de-France",
        "SCIC",
        "Associe habitants, salariés et collectivité au capital",
        "Coopérative d'activité et d'emploi",
        "Lille (59), Hauts-de-France",
        "Qui êtes-vous ?",
        "Un porteur de projet",
        "23/11/2026 à 10:00 (UTC)",
        "Donné par la personne elle-même",
        LEAD_ID,
    ):
        assert expected in text, expected
    assert text.replace("\r\n", "\n").startswith(lead_text(LEAD))

    filename, data = _attachment(msg)
    assert filename == f"lead-{LEAD_ID}.json"
    assert data == LEAD


async def test_email_with_login() -> None:
    lead = copy.deepcopy(LEAD)
    async with SmtpReceiver(credentials=("boussole", "pw")) as smtp:
        good = SmtpSettings("127.0.0.1", smtp.port, username="boussole", password="pw")
        await send_email(good, "crm@example.org", lead)
        bad = SmtpSettings("127.0.0.1", smtp.port, username="boussole", password="nope")
        with pytest.raises(DeliveryError) as info:
            await send_email(bad, "crm@example.org", lead)
        anonymous = SmtpSettings("127.0.0.1", smtp.port)
        with pytest.raises(DeliveryError) as refused:
            await send_email(anonymous, "crm@example.org", lead)
    assert info.value.permanent and info.value.status == 535
    assert "nope" not in info.value.reason
    assert refused.value.permanent and refused.value.status == 530
    assert len(smtp.messages) == 1
    assert smtp.messages[0].message["Subject"] == (
        "Boussole : nouvelle mise en relation – Camille Martin"
    )


async def test_email_duplicate_has_same_message_id(smtp: SmtpReceiver) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port)
    await send_email(settings, "crm@example.org", LEAD)
    await send_email(settings, "crm@example.org", LEAD)
    assert len(smtp.messages) == 2
    assert list(smtp.unique) == [f"<lead-{LEAD_ID}@boussole>"]


async def test_email_erasure_carries_no_personal_data(smtp: SmtpReceiver) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port)
    await send_email(settings, "crm@example.org", LEAD, event="lead.erased")
    msg = smtp.messages[0].message
    assert msg["Message-ID"] == f"<lead-{LEAD_ID}.lead.erased@boussole>"
    assert msg["X-Boussole-Event"] == "lead.erased"
    assert "effacement" in msg["Subject"]
    raw = smtp.messages[0].raw.decode("utf-8", "replace")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "supprimer" in text and LEAD_ID in text and "URSCOP Hauts-de-France" in text
    for personal in ("Camille", "camille@example.org", "café-cantine"):
        assert personal not in text and personal not in raw
    _, data = _attachment(msg)
    assert data == {k: LEAD[k] for k in ("id", "created_at", "status", "organisation")}


@pytest.mark.parametrize(
    ("answer", "permanent"), [("550 5.1.1 No such user", True), ("450 4.2.1 Mailbox busy", False)]
)
async def test_email_recipient_refused(smtp: SmtpReceiver, answer: str, permanent: bool) -> None:
    smtp.refuse["nobody@example.org"] = answer
    with pytest.raises(DeliveryError) as info:
        await send_email(SmtpSettings("127.0.0.1", smtp.port), "nobody@example.org", LEAD)
    assert info.value.permanent is permanent
    assert info.value.status == int(answer[:3])
    assert smtp.messages == []


async def test_email_smtp_down_is_temporary_then_recovers(smtp: SmtpReceiver) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port, timeout=2.0)
    await smtp.stop()
    with pytest.raises(DeliveryError) as info:
        await send_email(settings, "crm@example.org", LEAD)
    assert info.value.permanent is False
    assert "ConnectionRefusedError" in info.value.reason
    await smtp.start()  # same port
    await send_email(settings, "crm@example.org", LEAD)
    assert len(smtp.messages) == 1


async def test_email_header_injection_is_refused_not_sent(smtp: SmtpReceiver) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port)
    with pytest.raises(DeliveryError) as info:
        await send_email(settings, "crm@example.org\r\nBcc: evil@example.org", LEAD)
    assert info.value.permanent
    assert smtp.messages == []


def test_email_subject_survives_line_breaks_in_user_text() -> None:
    lead = copy.deepcopy(LEAD)
    lead["person"]["name"] = "Camille\r\nBcc: evil@example.org"
    msg = lead_email(lead, "crm@example.org", "boussole@example.org")
    assert msg["Subject"] == "Boussole : nouvelle mise en relation – Camille Bcc: evil@example.org"
    assert msg["Bcc"] is None


# --------------------------------------------------------------------------- text


def test_email_shows_open_points_consent_and_operator() -> None:
    lead = copy.deepcopy(LEAD)
    lead["consent"]["by"] = "operator"
    lead["operator"] = {
        "telegram_user_id": 100000001,
        "name": "Agent 7",
        "organisation": {"id": "urscop_hdf", "name": "URSCOP Hauts-de-France"},
    }
    text = lead_text(lead)
    assert "Points à préciser avec la personne\n  - Statut juridique : à préciser" in text
    assert "Recueilli par un opérateur (Agent 7) le 23/11/2026 à 09:58 (UTC)" in text
    assert "Version du texte de consentement : 3f2a9c1b7d4e" in text
    assert "Texte accepté : J'accepte que Boussole transmette ma demande" in text
    assert "(commune 59350, département 59, région 32)" in text


@pytest.mark.parametrize(
    "change",
    [
        {"consent": {"text_version": "2026-11-23", "given_at": "2026-11-23T09:58:00+00:00"}},
        {"person": {"name": "X", "contact": "camille@example.org"}},
        {"project": {"description": "x", "title": "not a field"}},
        {"created_at": "pas une date"},
    ],
    ids=["old-consent-keys", "contact-not-an-object", "unknown-key", "bad-date"],
)
def test_a_lead_that_is_not_the_documented_model_is_never_sent(change: dict[str, Any]) -> None:
    lead = {**copy.deepcopy(LEAD), **change}
    with pytest.raises(DeliveryError) as refused:
        lead_email(lead, "crm@example.org", "boussole@example.org")
    assert refused.value.permanent and "model" in refused.value.reason
    assert "Camille" not in refused.value.reason


# --------------------------------------------------------------------------- docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhook.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^ *```{language}\n(.*?)^ *```", DOC.read_text("utf-8"), re.S | re.M)


def _headers(msg_id: str, ts: str, body: bytes) -> dict[str, str]:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": ts,
        "Webhook-Signature": sign(SECRET, msg_id, ts, body),
    }


def test_doc_python_snippet_verifies_what_post_webhook_signs() -> None:
    (snippet,) = _blocks("python")
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    check = namespace["signature_valide"]
    body = json.dumps({"event": "lead.created", "lead": LEAD}, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    assert check(SECRET, _headers(LEAD_ID, ts, body), body) is True
    assert check(SECRET, _headers(LEAD_ID, ts, body), body + b" ") is False
    old = str(int(ts) - 301)
    assert check(SECRET, _headers(LEAD_ID, old, body), body) is False
    assert check(SECRET, {**_headers(LEAD_ID, ts, body), "webhook-id": "other"}, body) is False
    assert check(SECRET, {**_headers(LEAD_ID, ts, body), "Webhook-Timestamp": "x"}, body) is False
    assert check(SECRET, {}, body) is False


def test_doc_library_snippet_verifies_what_post_webhook_signs() -> None:
    (snippet,) = _blocks("python-library")
    body = json.dumps({"event": "lead.created", "lead": LEAD}, ensure_ascii=False).encode()
    headers = _headers(LEAD_ID, str(int(time.time())), body)
    namespace: dict[str, Any] = {"secret": SECRET, "body": body, "headers": headers}
    exec(snippet, namespace)
    assert namespace["lead"] == {"event": "lead.created", "lead": LEAD}
    headers["Webhook-Signature"] = sign("whsec_" + "QUJD" * 8, LEAD_ID, "1", body)
    with pytest.raises(Exception, match=r"[Ss]ignature|timestamp"):
        exec(snippet, {**namespace, "headers": headers})


def test_doc_field_table_is_generated_from_the_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert with_fields_table(text) == text, "docs/webhook.md is out of date: python -m bot docs"
    table = fields_table()
    for name in ("unmet", "open_points", "consent.text", "consent.version", "operator.name"):
        assert f"| `{name}` |" in table
    assert "text_version" not in text


def test_doc_example_bodies_are_what_is_sent() -> None:
    created, erased = _blocks("json")
    assert json.loads(created) == {"event": "lead.created", "lead": LEAD}
    assert PartnerLead.model_validate(LEAD).json_data() == LEAD  # the model, as it is sent
    erased_body = json.loads(erased)
    assert erased_body["event"] == "lead.erased"
    assert erased_body["lead"]["id"] == LEAD_ID
    assert "person" not in erased_body["lead"]


async def test_erasure_notice_with_only_id_and_organisation(
    client: httpx.AsyncClient, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    notice = {"id": LEAD_ID, "organisation": {"id": "urscop_hdf"}}
    await post_webhook(client, hook.url, SECRET, notice, event="lead.erased")
    assert hook.received[0].payload == {"event": "lead.erased", "lead": notice}
    assert hook.received[0].delivery_id == f"{LEAD_ID}:lead.erased"
    await send_email(SmtpSettings("127.0.0.1", smtp.port), "crm@example.org", notice, "lead.erased")
    msg = smtp.messages[0].message
    assert msg["Message-ID"] == f"<lead-{LEAD_ID}.lead.erased@boussole>"
    assert _attachment(msg)[1] == notice
