"""Fault injection: leads, erasure and secrets when partners, workers and inputs misbehave.

Each test asserts a guarantee written in docs/guarantees.md: each delivery reaches each
channel at least once and a partner can drop repeats by its id; a Telegram group never
gets the same delivery twice; the person always learns the outcome; an erasure reaches
every holder. The stand-ins are real: a webhook receiver that can be slow, fail or
redirect, an SMTP server that can refuse, the offline Bot API that can say « upgraded to
a supergroup » or « bot was kicked ». Run by default (`pytest -m faults` runs only them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient
from telegram import Update

import bot.leads.outbox as outbox_module
import bot.leads.store as store_module
from bot.channels.telegram import webhook_process
from bot.channels.web import build_web
from bot.leads.delivery import post_webhook
from bot.leads.limits import LeadLimits
from bot.leads.outbox import Outbox
from bot.leads.partners import PartnersError, load_partners
from bot.leads.store import JobRow, LeadStatus, LeadStore
from bot.platform.observe import metrics
from knowledge.loader import KnowledgeBase
from tests.receivers import HOST, WebhookReceiver, free_port
from tests.telegram_offline import TelegramUser
from tests.test_leads import PARTNER_GROUP, SECRET, World, fill_in, make_world, oriented

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "accueil@urscop.example"
NEW_GROUP = -1009222


@pytest.fixture
async def world(kb: KnowledgeBase, database_url: str) -> AsyncIterator[World]:
    async with make_world(kb, database_url) as made:
        yield made


@pytest.fixture
async def hook_only(kb: KnowledgeBase, database_url: str) -> AsyncIterator[World]:
    """URSCOP reachable by its webhook only (the attack's organisation C)."""
    async with make_world(kb, database_url, channels=("webhook",)) as made:
        yield made


async def sent(world: World, kb: KnowledgeBase) -> tuple[TelegramUser, str]:
    """A person oriented, the form filled in and « Envoyer » pressed: the person and the lead."""
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    return user, (await world.leads.all())[0].id


async def send_as(world: World, user_id: int, contact: str = "camille.martin@exemple.fr") -> None:
    kb = world.bot.app.bot_data["service"].conversation.kb
    user = await oriented(world, kb, user_id=user_id)
    await user.click("mis en relation : URSCOP")
    await user.click("accepte")
    await user.send(f"Personne {user_id}")
    await user.send(contact)
    await user.send("Un café-cantine de quartier à Wazemmes, avec le bailleur.")
    await user.click("Envoyer")


async def due_now(world: World, **where: Any) -> None:
    """Make the pending jobs matching `where` (column=value) due now."""
    engine = create_async_engine(world.bot.settings.database_url)
    query = update(JobRow).where(JobRow.status == "pending")
    for column, value in where.items():
        query = query.where(getattr(JobRow, column) == value)
    async with engine.begin() as conn:
        await conn.execute(query.values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
    await engine.dispose()


async def expire_leases(world: World) -> None:
    """The worker holding these jobs died (kill -9): their leases run out."""
    engine = create_async_engine(world.bot.settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(
            update(JobRow)
            .where(JobRow.locked_until.is_not(None))
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await engine.dispose()


def erasures(world: World) -> tuple[list[str], list[str]]:
    """The lead ids of the erasure notices received by the webhook and by e-mail."""
    hook = [d.payload["lead"]["id"] for d in world.webhook.received if d.event == "lead.erased"]
    mails = [
        str(m.message["X-Boussole-Delivery"]).split(":")[0]
        for m in world.smtp.messages
        if m.message["X-Boussole-Event"] == "lead.erased"
    ]
    return hook, mails


def group_texts(world: World, chat: int = PARTNER_GROUP) -> list[str]:
    return [m.text for m in world.bot.request.chat(chat)]


# ---------------------------------------------------------------- erasure (1–5)


async def test_1_erasure_while_the_delivery_is_in_flight_reaches_the_partner(
    hook_only: World, kb: KnowledgeBase
) -> None:
    world = hook_only
    user, lead_id = await sent(world, kb)
    world.webhook.delay = 1.0  # the CRM stores the lead, then answers a second later
    delivering = asyncio.create_task(world.deliver())
    while not world.webhook.received:
        await asyncio.sleep(0.02)
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    assert "Boussole ne garde plus rien" in user.last().text
    assert await world.leads.all() == []
    await delivering  # the delivery ends, finds the lead gone, releases the notice
    world.webhook.delay = 0
    await world.deliver()
    hook, _ = erasures(world)
    assert hook == [lead_id]  # the partner who got the lead is told, once
    jobs = await world.leads.jobs(lead_id)
    assert {(j["kind"], j["status"]) for j in jobs} == {("deliver", "done"), ("erased", "done")}


async def test_1_erasure_after_a_timeout_whose_outcome_is_unknown(
    hook_only: World, kb: KnowledgeBase
) -> None:
    world = hook_only
    user, lead_id = await sent(world, kb)
    world.webhook.delay = 5  # stored by the CRM, but the answer never comes back
    task = asyncio.create_task(world.outbox.run_once())
    while not world.webhook.received:
        await asyncio.sleep(0.02)
    world.webhook.delay = 0
    await world.webhook.stop()  # the connection drops: did the partner get it? unknown
    await task
    await world.webhook.start()
    job = next(j for j in await world.leads.jobs(lead_id) if j["kind"] == "deliver")
    assert job["status"] == "pending" and job["attempts"] == 1  # will be retried
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    await world.deliver()
    assert erasures(world)[0] == [lead_id]


async def test_2_an_operators_own_erasure_keeps_the_leads_made_for_others(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await oriented(world, kb, user_id=9001)
    for who, contact in (("Alice Accompagnée", "alice@exemple.fr"), ("Bob", "bob@exemple.fr")):
        await operator.click("mis en relation : URSCOP")
        await operator.click("La personne accepte")
        await operator.send(who)
        await operator.send(contact)
        await operator.send("Projet rencontré lors d'une permanence de l'ESS.")
        await operator.click("Envoyer")
    await world.deliver()
    assert len(await world.leads.all()) == 2
    await operator.send("/oublier")
    await operator.click("Oui, tout effacer")
    await world.deliver()
    leads = await world.leads.all()
    assert len(leads) == 2 and all(lead.operator_id == 9001 for lead in leads)
    assert erasures(world) == ([], [])
    assert not any("effacer" in text for text in group_texts(world))


async def test_3_a_failing_channel_never_repeats_the_erasure_notice_on_the_others(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    lead_id = (await world.leads.all())[0].id
    world.webhook.fail_next(3, 500)  # the CRM is down for a while
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    for _ in range(4):
        await world.deliver()
        await world.fast_forward()
    hook, mails = erasures(world)
    assert hook == [lead_id]  # delivered once the CRM is back
    assert mails == [lead_id]  # the e-mail went once, whatever the webhook did
    edited = [m for m in world.bot.request.chat(PARTNER_GROUP) if "effacer" in m.text]
    assert len(edited) == 1 and edited[0].edits == 1


async def test_3_a_failing_channel_never_repeats_the_reminder_on_the_others(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    world.webhook.fail_next(3, 500)
    await due_now(world, kind="remind")  # three days later, nobody answered
    await world.deliver()
    for _ in range(3):  # the webhook's reminder is retried, and only it
        await due_now(world, kind="remind", channel="webhook")
        await world.deliver()
    reminders = [m for m in world.smtp.messages if m.message["X-Boussole-Event"] == "lead.reminder"]
    assert len(reminders) == 1
    assert sum("Rappel" in text for text in group_texts(world)) == 1
    assert [d.event for d in world.webhook.received].count("lead.reminder") == 1


async def test_4_the_lead_message_in_the_partners_group_is_blanked(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    card = world.bot.request.chat(PARTNER_GROUP)[0]
    assert "Camille Martin" in card.text and card.buttons
    job = next(j for j in await world.leads.jobs() if j["channel"] == "telegram")
    assert json.loads(job["sent_json"]) == [[PARTNER_GROUP, card.message_id]]
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    await world.deliver()
    assert "demandé à Boussole d'effacer" in card.text and card.buttons == []
    assert not any("Camille" in text or "camille" in text for text in group_texts(world))
    # the old buttons, pressed afterwards, say the lead no longer exists
    lead_id = job["lead_id"]
    await world.partner().press(f"w||{lead_id}|take", card)
    assert "n'existe plus" in str(world.bot.request.toasts[-1])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_5_nothing_erased_stays_in_the_sqlite_files(
    world: World, kb: KnowledgeBase, database_url: str
) -> None:
    half = await oriented(world, kb, user_id=5151)  # a half-filled form
    await half.click("mis en relation : URSCOP")
    await half.click("J'accepte")
    await half.send("Dominique Demiforme")
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    for person in (half, user):
        await person.send("/oublier")
        await person.click("Oui, tout effacer")
    await world.deliver()
    path = Path(database_url.split("///", 1)[1])
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    content = b"".join(p.read_bytes() for p in files)
    for secret in ("Camille Martin", "camille.martin@exemple.fr", "Wazemmes", "Demiforme"):
        assert secret.encode() not in content, f"{secret} still on disk"


async def test_5_privacy_says_what_is_really_kept(world: World, kb: KnowledgeBase) -> None:
    user = world.bot.user()
    await user.send("/confidentialite")
    text = user.last().text
    assert "ni votre nom" not in text
    assert "votre nom, votre moyen de contact, la description du projet" in text
    assert "180 jours" in text and "365 jours" in text


# ---------------------------------------------------------------- delivery (6–8)


async def test_6_two_workers_and_a_slow_partner_deliver_each_lead_once(
    world: World, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack's backlog, time scaled down: a 1.5 s lease instead of 2 minutes, a
    partner answering after 0.4 s, attempts cut at 1 s (60 s in production)."""
    monkeypatch.setattr(store_module, "LEASE", timedelta(seconds=1.5))
    monkeypatch.setattr(outbox_module, "ATTEMPT_LIMIT", 1.0)
    for user_id in range(7100, 7106):
        await send_as(world, user_id, contact=f"p{user_id}@exemple.fr")
    leads = await world.leads.all()
    world.webhook.delay = 0.4
    other = Outbox(
        LeadStore(world.leads.engine),
        world.outbox.dialogue,
        world.outbox.messenger,
        world.outbox.smtp,
    )  # a second worker process
    try:
        await asyncio.gather(world.deliver(), other.run_once(most=100), other.run_once(most=100))
    finally:
        await other.close()
    cards = group_texts(world)
    for lead in leads:
        name = lead.data["person"]["name"]
        assert sum(name in text for text in cards) == 1, name  # never twice in the group
        assert [d.delivery_id for d in world.webhook.received].count(lead.id) == 1
    assert len(world.smtp.messages) == len(leads)


async def test_7_a_lead_no_channel_can_deliver_is_failed_and_the_person_told(
    world: World, kb: KnowledgeBase
) -> None:
    world.webhook.fail_next(1, 307)  # the CRM redirects
    world.smtp.refuse[EMAIL] = "550 5.1.1 No such user"
    world.bot.request.kicked.add(PARTNER_GROUP)  # the bot was removed from the group
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    await world.deliver()  # the notice to the person
    lead = (await world.leads.all())[0]
    assert lead.status is LeadStatus.failed
    assert "n'a pas pu être remise à URSCOP" in user.last().text
    await user.click("Voir d'autres contacts")
    assert "Qui peut vous accompagner" in user.last().text
    await user.send("/mesdonnees")
    assert "non remise" in user.last().text
    operator = world.bot.user(9001)
    await operator.send("/stats")
    assert "non remise" in operator.last().text
    assert b'boussole_leads_total{status="failed"}' in metrics()[0]


async def test_7_a_day_of_failures_fails_the_lead_and_tells_the_operator_who_sent_it(
    hook_only: World, kb: KnowledgeBase
) -> None:
    world = hook_only
    operator = await oriented(world, kb, user_id=9001)
    await operator.click("mis en relation : URSCOP")
    await operator.click("La personne accepte")
    await operator.send("Association La Voisinerie")
    await operator.send("06 12 34 56 78")
    await operator.send("Un café-cantine de quartier, rencontré au forum de l'ESS.")
    await operator.click("Envoyer")
    engine = create_async_engine(world.bot.settings.database_url)
    async with engine.begin() as conn:  # 25 failed attempts already, over a day
        await conn.execute(update(JobRow).values(attempts=len(outbox_module.BACKOFF) - 1))
    await engine.dispose()
    world.webhook.fail_next(1, 503)
    await world.deliver()
    await world.deliver()
    assert (await world.leads.all())[0].status is LeadStatus.failed
    assert "n'a pas pu être remise à URSCOP" in operator.last().text


async def test_8_a_group_upgraded_to_a_supergroup_is_followed(
    world: World, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    world.bot.request.migrated[PARTNER_GROUP] = NEW_GROUP
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    with caplog.at_level(logging.WARNING, "bot.leads.outbox"):
        await world.deliver()
    lead = (await world.leads.all())[0]
    assert lead.status is LeadStatus.delivered
    cards = world.bot.request.chat(NEW_GROUP)
    assert len(cards) == 1 and "Camille Martin" in cards[0].text
    assert f"replace telegram_chat_id {PARTNER_GROUP} by {NEW_GROUP}" in caplog.text
    member = world.bot.user(31337, chat_id=NEW_GROUP, chat_type="supergroup")
    await member.click("Je prends en charge")
    assert (await world.leads.get(lead.id)).status is LeadStatus.taken  # type: ignore[union-attr]
    calls = len(world.bot.request.calls)
    await send_as(world, 4343, contact="autre@exemple.fr")
    await world.deliver()  # the next lead goes to the new id directly
    later = [
        int(p["chat_id"]) for name, p in world.bot.request.calls[calls:] if name == "sendMessage"
    ]
    assert NEW_GROUP in later and PARTNER_GROUP not in later


# ---------------------------------------------------------------- limits and consent (9–10)


async def test_9_one_open_lead_per_person_and_organisation(world: World, kb: KnowledgeBase) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await user.click("mis en relation : URSCOP")
    assert "déjà une demande en cours auprès de URSCOP" in user.last().text
    assert (await world.bot.stored(user.chat_id)).form == ()  # no form opened
    assert len(await world.leads.all()) == 1


async def test_9_a_daily_cap_higher_for_operators(world: World, kb: KnowledgeBase) -> None:
    service = world.bot.app.bot_data["service"]
    service.limiter.limits = LeadLimits(per_day=1, per_day_operator=2)
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    group = world.partner()
    await group.click("Je prends en charge")
    await group.click("Clôturé")  # no open lead any more
    await user.click("mis en relation : URSCOP")
    assert "maximum par jour" in user.last().text
    # an operator qualifies two people, not a third; the same person twice is refused
    operator = await oriented(world, kb, user_id=9001)
    for n, contact in enumerate(("a@exemple.fr", "a@exemple.fr", "b@exemple.fr", "c@exemple.fr")):
        await operator.click("mis en relation : URSCOP")
        if "maximum par jour" in operator.last().text:
            break
        await operator.click("La personne accepte")
        await operator.send(f"Personne {n}")
        await operator.send(contact)
        await operator.send("Un projet rencontré lors d'une permanence.")
        await operator.click("Envoyer")
        if n == 1:
            assert "même contact" in operator.last().text
            await operator.click("Annuler")
    assert "maximum par jour pour un opérateur" in operator.last().text
    assert len([lead for lead in await world.leads.all() if lead.operator_id == 9001]) == 2


async def test_10_only_organisations_offered_for_this_result(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await user.press("e|||start:ailleurs")  # a partner the result does not offer
    assert "n'est pas proposée" in user.texts()
    assert (await world.bot.stored(user.chat_id)).form == ()


async def test_10_the_consent_button_names_its_organisation(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await user.click("mis en relation : URSCOP")
    consent = user.last()
    assert "J'accepte : URSCOP" in " ".join(consent.labels())
    for forged in ("e|||yes", "e|||yes:nord_actif"):  # an older screen's, another's
        await user.press(forged, consent)
        assert dict((await world.bot.stored(user.chat_id)).form)["s"] == "consent"
    await user.click("J'accepte")
    await user.send("Camille Martin")
    await user.send("camille.martin@exemple.fr")
    await user.send("Un café-cantine de quartier à Wazemmes, avec le bailleur.")
    await user.click("Envoyer")
    lead = (await world.leads.all())[0]
    leads = world.bot.app.bot_data["service"].conversation.leads
    urscop = world.bot.app.bot_data["service"].conversation.partners.get("urscop_hdf")
    other = world.bot.app.bot_data["service"].conversation.partners.get("nord_actif")
    assert lead.data["consent"]["version"] == leads.consent_version_for(urscop)
    assert leads.consent_version_for(urscop) != leads.consent_version_for(other)
    assert "URSCOP" in lead.data["consent"]["text"]


# ---------------------------------------------------------------- input and updates (11–13)


async def test_11_a_long_description_is_refused_never_cut(world: World, kb: KnowledgeBase) -> None:
    user = await oriented(world, kb)
    await user.click("mis en relation : URSCOP")
    await user.click("J'accepte")
    await user.send("Camille Martin")
    await user.send("camille.martin@exemple.fr")
    assert "1\u202f000 caractères au plus" in user.last().text
    too_long = "Nous voulons créer une SCIC. " * 40 + "FIN"
    await user.send(too_long)
    refusal = user.last().text
    assert f"{len(too_long)} caractères" in refusal and "1\u202f000 au plus" in refusal
    assert dict((await world.bot.stored(user.chat_id)).form)["s"] == "description"
    text = ("Nous voulons créer une SCIC. " * 33)[:980] + " FIN-DU-TEXTE"
    assert 500 < len(text) <= 1000
    await user.send(text)
    await user.click("Envoyer")
    description = (await world.leads.all())[0].data["project"]["description"]
    assert description == text.strip() and description.endswith("FIN-DU-TEXTE")


async def test_12_a_redelivered_update_in_the_lead_form_changes_nothing(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await user.click("mis en relation : URSCOP")
    await user.click("J'accepte")
    await user.send("Marie Curie")
    data = {"update_id": 990001, "message": user.message_data("marie.curie@exemple.fr")}
    for _ in range(2):  # Telegram re-sends it: the first answer did not reach it in time
        await user.app.process_update(Update.de_json(data, user.app.bot))
    assert dict((await world.bot.stored(user.chat_id)).form)["s"] == "description"
    await user.send("Une SCIC pour une épicerie solidaire à Lille.")
    await user.click("Envoyer")
    lead = (await world.leads.all())[0]
    assert lead.data["project"]["description"] == "Une SCIC pour une épicerie solidaire à Lille."
    assert lead.data["person"]["contact"]["value"] == "marie.curie@exemple.fr"


async def test_13_valid_json_that_is_not_an_update_is_answered_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async def ready() -> tuple[bool, dict[str, str]]:
        return True, {}

    web = build_web(webhook_process(world.bot.app), ready, "s3cret", "/telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    with caplog.at_level(logging.INFO), TestClient(web) as client:
        for body in ({"update_id": 5, "message": "x"}, {"update_id": 6, "message": {"x": 1}}):
            answer = client.post("/telegram", json=body, headers=headers)
            assert answer.status_code == 200  # Telegram does not retry it
    lines = [r for r in caplog.records if "not a valid update" in r.getMessage()]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)


async def test_13_an_oversized_body_is_refused_before_it_is_read() -> None:
    async def never(data: dict[str, Any]) -> None:
        raise AssertionError("not processed")

    async def ready() -> tuple[bool, dict[str, str]]:
        return True, {}

    web = build_web(never, ready, "s3cret", "/telegram")
    read: list[bytes] = []
    answer: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/telegram",
        "raw_path": b"/telegram",
        "query_string": b"",
        "headers": [
            (b"x-telegram-bot-api-secret-token", b"s3cret"),
            (b"content-length", b"50000000"),
        ],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        read.append(b"x" * 65536)
        return {"type": "http.request", "body": read[-1], "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    await web(scope, receive, send)
    assert answer[0]["status"] == 413 and read == []


# ---------------------------------------------------------------- secrets and start-up (14–17)


def _run_bot(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM", "WEBHOOK"))}
    base.update(
        TELEGRAM_BOT_TOKEN=TOKEN_AT_START,
        DATABASE_URL="sqlite+aiosqlite:///:memory:",
        RATE_LIMIT="false",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


TOKEN_AT_START = "123456:fake-token-for-start-up-tests"


@pytest.mark.parametrize(
    "mode, log_format", [("polling", "text"), ("webhook", "text"), ("polling", "json")]
)
async def test_14_a_rejected_token_is_never_printed(mode: str, log_format: str) -> None:
    async with WebhookReceiver("unused") as api:  # a Bot API answering 401 to everything
        api.fail_next(10, 401)
        env = {
            "TELEGRAM_API_BASE_URL": f"http://{HOST}:{api.port}",
            "BOT_MODE": mode,
            "LOG_FORMAT": log_format,
            "WEBHOOK_URL": "http://127.0.0.1:9/telegram",
            "WEBHOOK_SECRET": "s3cret-for-tests",
        }
        result = await asyncio.to_thread(_run_bot, env)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert TOKEN_AT_START not in output and "fake-token" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output
    assert "@BotFather" in lines[0]


def test_14_redaction_covers_exception_texts_and_tracebacks() -> None:
    from bot.platform.observe import JsonFormatter, use_secrets

    for formatter in (logging.Formatter("%(message)s"), JsonFormatter()):
        handler = logging.StreamHandler()
        handler.setFormatter(formatter)
        use_secrets(handler, [TOKEN_AT_START])
        try:
            raise RuntimeError(f"The token `{TOKEN_AT_START}` was rejected by the server.")
        except RuntimeError:
            record = logging.LogRecord(
                "telegram.ext", logging.ERROR, __file__, 1, "loop: %s", (TOKEN_AT_START,), None
            )
            record.exc_info = sys.exc_info()
        line = handler.format(record)
        assert TOKEN_AT_START not in line and "<secret>" in line and "RuntimeError" in line


def test_15_a_yaml_error_in_the_partners_file_shows_where_never_what(tmp_path: Path) -> None:
    secret = "whsec-ne-jamais-afficher-4242"
    broken = tmp_path / "partners.yaml"
    for line in (
        f'    webhook_secret: "{secret}\n',  # unclosed quote
        f"    webhook_secret: {secret}: x\n",  # « : » inside a value
        f"\twebhook_secret: {secret}\n",  # a tab
    ):
        broken.write_text(
            "organisations:\n  - id: orga\n    name: Org A\n"
            "    webhook_url: https://crm.example.org/hook\n" + line,
            encoding="utf-8",
        )
        with pytest.raises(PartnersError) as caught:
            load_partners(broken)
        message = str(caught.value)
        assert secret not in message and "webhook_secret" not in message
        assert str(broken) in message and "ligne" in message and "colonne" in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_16_debug_logging_keeps_libraries_quiet_and_secrets_redacted() -> None:
    script = """
import logging
from bot.channels.telegram import configure_logging
from bot.platform.config import Settings
settings = Settings(_env_file=None)
configure_logging(settings)
logging.getLogger("telegram.ext.ExtBot").debug("setWebhook {'secret_token': 'whsec-4242'}")
logging.getLogger("aiosqlite").debug("INSERT ... ('Jean Dupont', 'jean@example.org')")
logging.getLogger("httpx").info("POST https://api.telegram.org/bot123456:SECRETTOKEN/getMe")
logging.getLogger("bot.test").debug("own debug line, secret whsec-4242 token 123456:SECRETTOKEN")
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM", "WEBHOOK"))},
        "LOG_LEVEL": "DEBUG",
        "TELEGRAM_BOT_TOKEN": "123456:SECRETTOKEN",
        "WEBHOOK_SECRET": "whsec-4242",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "own debug line" in output  # the project's own DEBUG lines are there
    for leak in ("whsec-4242", "SECRETTOKEN", "Jean Dupont", "setWebhook"):
        assert leak not in output, leak


async def test_17_no_bot_api_at_start_retries_then_exits_clearly() -> None:
    port = free_port()  # nothing listens there
    env = {
        "TELEGRAM_API_BASE_URL": f"http://{HOST}:{port}",
        "STARTUP_ATTEMPTS": "3",
        "STARTUP_FIRST_WAIT": "0.1",
    }
    result = await asyncio.to_thread(_run_bot, env)
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in output
    assert len(lines) == 3, output  # two retries announced, then the end
    assert "tentative 1/3" in lines[0] and "tentative 2/3" in lines[1]
    assert "injoignable" in lines[2] and "TELEGRAM_API_BASE_URL" in lines[2]


# ---------------------------------------------------------------- crashes and every state


async def test_kill_during_the_delivery_redelivers_with_the_same_id(
    world: World, kb: KnowledgeBase
) -> None:
    user, lead_id = await sent(world, kb)
    # a worker claims every job, sends the webhook, and dies before recording anything
    claimed = []
    while jobs := await world.leads.claim():
        claimed += jobs
    assert {j.channel for j in claimed} == {"telegram", "email", "webhook"}
    lead = await world.leads.get(lead_id)
    assert lead is not None
    await post_webhook(world.outbox.client, world.webhook.url, SECRET, lead.data)
    await world.deliver()  # leases still running: nothing is taken twice
    assert len(world.webhook.received) == 1 and world.bot.request.chat(PARTNER_GROUP) == []
    await expire_leases(world)
    await world.deliver()  # another worker, after the leases ran out
    await world.deliver()
    assert [d.delivery_id for d in world.webhook.received] == [lead_id, lead_id]
    assert list(world.webhook.unique) == [lead_id]  # the partner drops the repeat by id
    assert len(world.bot.request.chat(PARTNER_GROUP)) == 1
    assert user.texts().count("Votre demande a été remise") == 1


@pytest.mark.parametrize("state", ["stored", "retrying", "delivered", "taken", "failed"])
async def test_an_erasure_at_every_state_reaches_every_holder(
    world: World, kb: KnowledgeBase, state: str
) -> None:
    user, lead_id = await sent(world, kb)
    if state == "retrying":
        world.webhook.fail_next(1, 500)
        world.smtp.refuse[EMAIL] = "451 4.3.0 Try again later"
        await world.deliver()
        world.smtp.refuse.clear()
    elif state == "failed":
        world.webhook.fail_next(1, 404)
        world.smtp.refuse[EMAIL] = "550 5.1.1 No such user"
        world.bot.request.kicked.add(PARTNER_GROUP)
        await world.deliver()
        world.bot.request.kicked.clear()
        world.smtp.refuse.clear()
    elif state in ("delivered", "taken"):
        await world.deliver()
        if state == "taken":
            await world.partner().click("Je prends en charge")
    created_hook = [d for d in world.webhook.received if d.event == "lead.created"]
    created_mail = [
        m for m in world.smtp.messages if m.message["X-Boussole-Event"] == "lead.created"
    ]
    cards = list(world.bot.request.chat(PARTNER_GROUP))
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    await world.fast_forward()
    await world.deliver()
    hook, mails = erasures(world)
    # whoever received the lead is told once; a channel whose outcome is unknown (a 5xx,
    # a refusal after sending) is told too, in case
    assert hook == [lead_id] if created_hook else len(hook) <= 1
    assert mails == [lead_id] if created_mail else len(mails) <= 1
    for card in cards:
        assert "effacer" in card.text and "Camille" not in card.text
    if state == "stored":  # nobody had anything: nobody is bothered
        assert world.webhook.received == [] and world.smtp.messages == []
    assert await world.leads.all() == []
    assert all(j["status"] == "done" for j in await world.leads.jobs() if j["kind"] == "erased")
