"""Being put in touch: consent, the form, delivery that never loses a lead, follow-up.

The real Application with the offline Bot API (partner groups are chats too), a local
webhook receiver checking the HMAC signature and a local SMTP server; SQLite and
PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.leads.model import PartnerLead, check_contact, contact_parts
from bot.leads.outbox import Outbox
from bot.leads.partners import Operator, Organisation, Partners
from bot.leads.store import JobRow, LeadStatus, LeadStore
from bot.orientation.cases import asked_answers
from bot.orientation.engine import Engine
from bot.platform.config import Settings
from knowledge.loader import KnowledgeBase, load_cases
from tests.receivers import SmtpReceiver, WebhookReceiver
from tests.telegram_offline import TelegramUser
from tests.test_telegram import TOKEN, Harness, option_label, start_app, stop_app

PARTNER_GROUP = -100500
SECRET = "whsec_dGVzdHMtc2VjcmV0LWtleS1vZi0zMi1ieXRlcyEh"


@dataclass
class World:
    bot: Harness
    webhook: WebhookReceiver
    smtp: SmtpReceiver
    leads: LeadStore

    @property
    def outbox(self) -> Outbox:
        return self.bot.app.bot_data["outbox"]

    async def deliver(self) -> int:
        """Run the delivery worker until nothing is due."""
        total = 0
        while done := await self.outbox.run_once():
            total += done
        return total

    async def fast_forward(self, hours: float = 24 * 30) -> None:
        """Make every pending job due now (reminders, follow-ups, retries)."""
        engine = create_async_engine(self.bot.settings.database_url)
        async with engine.begin() as conn:
            await conn.execute(
                update(JobRow)
                .where(JobRow.status == "pending")
                .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await engine.dispose()

    def partner(self, user_id: int = 31337) -> TelegramUser:
        return self.bot.user(user_id, chat_id=PARTNER_GROUP, chat_type="supergroup")


def created(world: World) -> list[str]:
    """The lead ids the webhook received as new leads (duplicates removed)."""
    return [d.delivery_id for d in world.webhook.unique.values() if d.event == "lead.created"]


ALL_CHANNELS = ("telegram", "email", "webhook")


def urscop(webhook: WebhookReceiver, **channels: Any) -> Organisation:
    """The URSCOP of the tests: its Telegram group and its webhook (and `channels`)."""
    return Organisation(
        id="urscop_hdf",
        name="URSCOP Hauts-de-France",
        contact="urscop_hdf",
        telegram_chat_id=PARTNER_GROUP,
        webhook_url=webhook.url,
        webhook_secret=SECRET,
        **channels,
    )


NORD_ACTIF = Organisation(
    id="nord_actif", name="Nord Actif", contact="nord_actif", email="contact@nordactif.example"
)


def partners_for(webhook: WebhookReceiver, channels: tuple[str, ...] = ALL_CHANNELS) -> Partners:
    """URSCOP and Nord Actif (offered in Lille), URSCOP with the given channels, and an
    organisation never offered."""
    return Partners(
        organisations=[
            Organisation(
                id="urscop_hdf",
                name="URSCOP Hauts-de-France",
                contact="urscop_hdf",
                telegram_chat_id=PARTNER_GROUP if "telegram" in channels else None,
                email="accueil@urscop.example" if "email" in channels else None,
                webhook_url=webhook.url if "webhook" in channels else None,
                webhook_secret=SECRET if "webhook" in channels else None,
            ),
            NORD_ACTIF,
            Organisation(  # no directory contact: never offered with a result
                id="ailleurs",
                name="Réseau d'ailleurs",
                email="contact@ailleurs.example",
            ),
        ],
        operators=[
            Operator(telegram_user_id=9001, organisation="urscop_hdf"),
            Operator(telegram_user_id=9002, organisation="nord_actif"),
        ],
    )


@contextlib.asynccontextmanager
async def running_world(
    kb: KnowledgeBase,
    database_url: str,
    make_partners: Callable[[WebhookReceiver], Partners],
    **settings: Any,
) -> AsyncIterator[World]:
    """The bot, its receivers and the partners `make_partners` lists (given the webhook)."""
    async with WebhookReceiver(SECRET) as webhook, SmtpReceiver() as smtp:
        config = Settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            database_url=database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            outbox_worker=False,  # the tests run the worker themselves
            **settings,
        )
        bot = await start_app(config, kb, partners=make_partners(webhook))
        world = World(bot, webhook, smtp, bot.app.bot_data["service"].leads)
        yield world
        await stop_app(bot)
        assert bot.request.violations == []


@contextlib.asynccontextmanager
async def make_world(
    kb: KnowledgeBase,
    database_url: str,
    channels: tuple[str, ...] = ALL_CHANNELS,
    **settings: Any,
) -> AsyncIterator[World]:
    """The bot with two partner organisations, a webhook receiver and an SMTP server."""
    async with running_world(
        kb, database_url, lambda webhook: partners_for(webhook, channels), **settings
    ) as world:
        yield world


@pytest.fixture
async def world(kb: KnowledgeBase, database_url: str) -> AsyncIterator[World]:
    async with make_world(kb, database_url) as made:
        yield made


async def oriented(world: World, kb: KnowledgeBase, user_id: int = 4242) -> TelegramUser:
    """A person from Lille at the end of La Voisinerie's orientation, place given."""
    _, case = next((n, c) for n, c in load_cases() if "Voisinerie" in n)
    user = world.bot.user(user_id)
    await user.send("/start")
    for question, value in asked_answers(Engine(kb), case):
        await user.click(option_label(kb, question, value))
    await user.send("59000")
    return user


async def fill_in(user: TelegramUser) -> None:
    await user.click("mis en relation : URSCOP")
    await user.click("J'accepte")
    await user.send("Camille Martin")
    await user.send("camille.martin@exemple.fr")
    await user.send("Un café-cantine-conciergerie de quartier à Wazemmes, avec le bailleur.")


async def delivered(world: World, kb: KnowledgeBase) -> TelegramUser:
    """A person whose request was sent and delivered."""
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")
    await world.deliver()
    return user


async def test_consent_comes_first_and_refusing_stores_nothing(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await user.click("mis en relation : URSCOP")
    consent = user.last().text
    for promise in ("Qui reçoit quoi", "Pour quoi faire", "Combien de temps", "365 jours"):
        assert promise in consent
    await user.click("Non merci")
    assert "rien n'a été enregistré" in user.texts()
    assert await world.leads.all() == []
    assert (await world.bot.stored(user.chat_id)).form == ()


async def test_each_input_is_checked_with_an_example(world: World, kb: KnowledgeBase) -> None:
    user = await oriented(world, kb)
    await user.click("mis en relation : URSCOP")
    await user.click("J'accepte")
    await user.send("x")
    assert "au moins deux lettres" in user.last().text
    await user.send("Camille Martin")
    await user.send("camille.martin@exemple")
    assert "camille.martin@exemple.fr" in user.last().text  # the example
    await user.send("06 12 34")
    assert "06 12 34 56 78" in user.last().text
    await user.send("@ab")
    assert "@camille_m" in user.last().text
    await user.send("+33 6 12 34 56 78")
    await user.send("court")
    assert "au moins dix caractères" in user.last().text
    await user.send("Un café-cantine de quartier, ouvert à tous les habitants.")
    confirm = user.last().text
    assert "06 12 34 56 78" in confirm and "Camille Martin" in confirm
    assert "Lille (59)" in confirm and "SCIC" in confirm
    message, data = user.find("Envoyer")
    await user.feed(user.callback_update(message, data))
    (lead,) = await world.leads.all()
    # shown as a French person reads it, sent in E.164 (phonenumbers)
    assert lead.data["person"]["contact"] == {"kind": "phone", "value": "+33612345678"}


async def test_a_lead_reaches_every_channel_once_and_the_person_is_told(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    message, data = user.find("Envoyer")
    await user.feed(user.callback_update(message, data))
    await user.feed(user.callback_update(message, data))  # a double click on "send"
    assert "C'est envoyé" in user.texts()
    leads = await world.leads.all()
    assert len(leads) == 1 and leads[0].status is LeadStatus.new
    lead = leads[0]
    assert lead.data["person"] == {
        "name": "Camille Martin",
        "contact": {"kind": "email", "value": "camille.martin@exemple.fr"},
    }
    assert lead.data["territory"]["departement"] == "59"
    assert (
        lead.data["recommended"][0]["scheme"] == "scic" and lead.data["recommended"][0]["reasons"]
    )
    assert lead.data["consent"]["by"] == "person" and lead.data["consent"]["version"]
    assert "Qui reçoit quoi" in lead.data["consent"]["text"]

    await world.deliver()
    # the webhook: one signed delivery, the lead itself
    assert list(world.webhook.unique) == [lead.id]
    assert world.webhook.unique[lead.id].payload["lead"]["id"] == lead.id
    sent = world.webhook.unique[lead.id].payload["lead"]
    assert PartnerLead.model_validate(sent).json_data() == sent == lead.data  # the model
    # the email
    assert len(world.smtp.unique) == 1
    mail = next(iter(world.smtp.unique.values()))
    assert mail.rcpt_tos == ["accueil@urscop.example"]
    # the partner's group, with its buttons
    group = world.partner()
    card = group.last()
    assert "Camille Martin" in card.text and "café-cantine" in card.text
    assert card.labels() == ["✋ Je prends en charge", "Pas pour nous"]
    # the person is told it was delivered
    assert "Votre demande a été remise à URSCOP Hauts-de-France" in user.last().text
    assert (await world.leads.get(lead.id)).status is LeadStatus.delivered  # type: ignore[union-attr]
    # running the worker again sends nothing more
    await world.deliver()
    assert len(world.webhook.received) == 1 and len(world.smtp.messages) == 1


async def test_partner_buttons_move_the_lead_and_tell_the_person(
    world: World, kb: KnowledgeBase
) -> None:
    user = await delivered(world, kb)
    lead = (await world.leads.all())[0]
    group = world.partner()

    # someone outside the organisation: a forged press from another chat, another operator
    outsider = world.bot.user(555, chat_id=-100999, chat_type="supergroup")
    await outsider.press(f"w||{lead.id}|take", group.last())
    other_operator = world.bot.user(9002)
    await other_operator.press(f"w||{lead.id}|take", group.last())
    assert world.bot.request.toasts[-2:] == ["Vous n'avez pas accès à cette demande."] * 2
    assert (await world.leads.get(lead.id)).status is LeadStatus.delivered  # type: ignore[union-attr]

    await group.click("Je prends en charge")
    assert "pris en charge" in group.last().text
    assert group.last().labels() == ["✔️ Clôturé", "Pas pour nous"]
    await group.press(f"w||{lead.id}|take", group.last())  # a second member, too late
    assert "plus valable" in str(world.bot.request.toasts[-1])
    await world.deliver()
    assert "a pris en charge votre demande" in user.last().text

    await group.click("Clôturé")
    await world.deliver()
    assert "a clôturé votre demande" in user.last().text
    assert (await world.leads.get(lead.id)).status is LeadStatus.closed  # type: ignore[union-attr]


async def test_declined_with_a_reason_offers_other_contacts(
    world: World, kb: KnowledgeBase
) -> None:
    user = await delivered(world, kb)
    group = world.partner()
    await group.click("Pas pour nous")
    await group.click("Hors de notre territoire")
    await world.deliver()
    notice = user.last()
    assert "ne peut pas donner suite" in notice.text and "hors de notre territoire" in notice.text
    await user.click("Voir d'autres contacts")
    assert "Qui peut vous accompagner" in user.last().text


async def test_reminders_and_follow_up_survive_in_the_database(
    world: World, kb: KnowledgeBase
) -> None:
    user = await delivered(world, kb)
    await world.fast_forward()  # days later, nobody answered
    await world.deliver()
    assert "Rappel" in world.partner().last().text
    assert "Avez-vous été contacté ?" in user.last().text
    await user.click("Non, pas encore")
    assert "c'est noté" in user.last().text.lower()
    lead = (await world.leads.all())[0]
    assert lead.followup == "no"
    stranger = world.bot.user(777)  # someone else's lead, with a forged button
    await stranger.send("/start")
    await stranger.press(f"u||{lead.id}|yes", stranger.last())
    assert "plus valable" in stranger.texts()
    assert (await world.leads.get(lead.id)).followup == "no"  # type: ignore[union-attr]


async def test_my_data_and_forget_tell_the_partner(world: World, kb: KnowledgeBase) -> None:
    user = await delivered(world, kb)
    await user.send("/mesdonnees")
    mine = user.last().text
    assert "URSCOP Hauts-de-France" in mine and "camille.martin@exemple.fr" in mine
    assert "Camille Martin" in mine and "remise" in mine
    lead_id = (await world.leads.all())[0].id

    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    assert await world.leads.all() == []
    await world.deliver()
    erased = [d for d in world.webhook.received if d.event == "lead.erased"]
    assert [d.payload["lead"]["id"] for d in erased] == [lead_id]
    assert "demandé à Boussole d'effacer" in world.partner().last().text
    await user.send("/mesdonnees")
    assert "aucune." in user.last().text


async def test_a_receiver_down_then_back_loses_nothing(world: World, kb: KnowledgeBase) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    world.webhook.fail_next(2, 500)
    await user.click("Envoyer")
    await world.deliver()
    assert world.webhook.unique == {}
    jobs = await world.leads.jobs()
    webhook_job = next(j for j in jobs if j["channel"] == "webhook")
    assert webhook_job["status"] == "pending" and "500" in webhook_job["last_error"]
    await world.fast_forward()
    await world.deliver()  # still failing once
    await world.webhook.stop()  # then down altogether
    await world.fast_forward()
    await world.deliver()
    await world.webhook.start()
    await world.fast_forward()
    await world.deliver()
    lead = (await world.leads.all())[0]
    assert created(world) == [lead.id]  # exactly one delivery of the lead, in the end
    assert len(world.smtp.unique) >= 1 and f"<lead-{lead.id}@boussole>" in world.smtp.unique


async def test_a_lead_committed_before_a_crash_is_delivered_after_restart(
    world: World, kb: KnowledgeBase
) -> None:
    user = await oriented(world, kb)
    await fill_in(user)
    await user.click("Envoyer")  # committed; the process dies before the worker runs
    assert world.webhook.received == []
    fresh = Outbox(
        LeadStore(world.leads.engine),
        world.outbox.dialogue,
        world.outbox.messenger,
        world.outbox.smtp,
    )  # another process, started afterwards
    while await fresh.run_once():
        pass
    await fresh.close()
    assert len(world.webhook.unique) == 1 and len(world.smtp.unique) == 1


async def test_lead_retention_purge(world: World, kb: KnowledgeBase) -> None:
    await delivered(world, kb)
    assert await world.leads.purge(timedelta(days=1)) == 0
    assert await world.leads.purge(timedelta(seconds=-1)) == 1
    assert await world.leads.all() == []


async def test_operators_see_their_own_leads_export_and_stats(
    world: World, kb: KnowledgeBase
) -> None:
    await delivered(world, kb)
    # a stranger asks
    stranger = world.bot.user(777)
    for command in ("/leads", "/stats"):
        await stranger.send(command)
        assert "réservée aux opérateurs" in stranger.last().text
    await stranger.press("o|||csv", stranger.last())
    assert "réservée aux opérateurs" in stranger.last().text
    assert stranger.last().document is None

    # the operator of another organisation sees none of URSCOP's leads
    other = world.bot.user(9002)
    await other.send("/leads")
    assert "Nord Actif" in other.last().text and "Camille" not in other.last().text

    operator = world.bot.user(9001)
    await operator.send("/leads")
    overview = operator.last().text
    assert "Demandes reçues par URSCOP Hauts-de-France : 1" in overview
    assert "Camille Martin" in overview and "Remise, en attente de réponse" in overview
    await operator.click("Export CSV")
    document = operator.last().document
    assert document is not None and document[0].endswith(".csv")
    rows = document[1].decode("utf-8-sig").splitlines()
    assert rows[0].startswith("id;created_at;status;name") and len(rows) == 2
    assert "Camille Martin" in rows[1] and "camille.martin@exemple.fr" in rows[1]
    await operator.send("/stats")
    stats = operator.last().text
    assert "Orientations sur Boussole (anonymes) : 1" in stats
    assert "(SCIC) : 1" in stats and "Hauts-de-France : 1" in stats
    assert "Sans dispositif adapté (demande non couverte) : 0" in stats


async def test_an_operator_qualifies_a_lead_for_someone_they_met(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await oriented(world, kb, user_id=9001)
    await operator.click("mis en relation : URSCOP")
    consent = operator.last()
    assert "pour le compte de quelqu'un" in consent.text and "Qui reçoit quoi" in consent.text
    await operator.click("La personne accepte")
    await operator.send("Association La Voisinerie")
    await operator.send("06 12 34 56 78")
    await operator.send("Un café-cantine de quartier, rencontré au forum de l'ESS.")
    await operator.click("Envoyer")
    lead = (await world.leads.all())[0]
    assert lead.data["consent"]["by"] == "operator" and lead.operator_id == 9001
    assert lead.data["operator"]["organisation"]["id"] == "urscop_hdf"
    await world.deliver()
    assert "recueilli par un opérateur" in world.partner().last().text


def test_the_example_partners_file_is_valid(kb: KnowledgeBase, tmp_path: Path) -> None:
    from bot.leads.partners import PartnersError, load_partners

    contacts = {c.id for c in kb.contacts}
    example = Path(__file__).resolve().parent.parent / "deploy" / "partners.example.yaml"
    partners = load_partners(example, contacts)
    assert [o.id for o in partners.organisations] == ["urscop_hdf", "nord_actif"]
    assert partners.organisations[1].channels == ["webhook"]
    broken = tmp_path / "partners.yaml"
    text = example.read_text(encoding="utf-8")
    broken.write_text(text.replace("contact: nord_actif", "contact: nord"), encoding="utf-8")
    with pytest.raises(PartnersError, match="nord_actif"):
        load_partners(broken, contacts)
    broken.write_text("organisations:\n  - id: x\n    name: X\n", encoding="utf-8")
    with pytest.raises(PartnersError, match="aucun moyen de transmettre"):
        load_partners(broken)


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("06 12 34 56 78", "phone:+33612345678", "06 12 34 56 78"),
        ("+33 (0)6.12.34.56.78", "phone:+33612345678", "06 12 34 56 78"),
        ("0033 6 12 34 56 78", "phone:+33612345678", "06 12 34 56 78"),
        ("+32 470 12 34 56", "phone:+32470123456", "+32 470 12 34 56"),
        ("Camille.Martin@Exemple.FR", "email:camille.martin@exemple.fr", None),
        ("@camille_m", "telegram:@camille_m", None),
    ],
)
def test_contacts_are_validated_and_phones_kept_in_e164(
    typed: str, stored: str, shown: str | None
) -> None:
    checked = check_contact(typed)
    assert checked.value == stored
    assert contact_parts(stored)[1] == (shown or stored.split(":", 1)[1])


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("06 12 34 56", "phone"),
        ("+33 12", "phone"),
        ("00 00 00 00 00", "phone"),
        ("camille@exemple", "email"),
        ("camille@@exemple.fr", "email"),
        ("camille @exemple.fr", "email"),
        ("@ab", "tg"),
        ("demain", "contact"),
    ],
)
def test_contacts_that_cannot_be_used_are_refused(typed: str, problem: str) -> None:
    assert check_contact(typed).problem == problem


async def test_each_operator_sees_leads_and_stats_in_their_own_menu(world: World) -> None:
    menus = world.bot.request.menus
    for operator in (9001, 9002):
        names = [c["command"] for c in menus[f"chat:{operator}"]]
        assert names[-2:] == ["leads", "stats"] and "start" in names
    everyone = [c["command"] for c in menus["all_private_chats"]]
    assert "leads" not in everyone and "stats" not in everyone
