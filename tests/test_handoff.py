"""Networks follow the leads they hand off; the people behind them keep their rights.

A CRESS operator qualifies a lead for a parents' group they met and sends it to the
URSCOP; the partner takes, declines or ignores it; the operator follows it in /leads and
/stats, is told of each step, hands a declined lead to another partner near the project,
and erases it; the person erases it with their code. The real Application with the offline
Bot API, the webhook and SMTP receivers of tests/test_leads.py; SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.leads.handoff import target_key
from bot.leads.partners import Operator, Organisation, Partners
from bot.leads.store import LeadRow, LeadStatus
from knowledge.loader import KnowledgeBase
from tests.receivers import WebhookReceiver
from tests.telegram_offline import TelegramUser
from tests.test_leads import NORD_ACTIF, World, delivered, oriented, running_world, urscop

CRESS = 9101  # an operator of the CRESS, who meets people and hands their leads on
URSCOP_OPERATOR = 9001
PERSON = "Association Les Parents d'Abord"


@pytest.fixture
async def world(kb: KnowledgeBase, database_url: str) -> AsyncIterator[World]:
    def partners(webhook: WebhookReceiver) -> Partners:
        cress = Organisation(
            id="cress_hdf",
            name="CRESS Hauts-de-France",
            contact="cress_hdf",
            email="accueil@cress.example",
        )
        return Partners(
            organisations=[urscop(webhook), NORD_ACTIF, cress],
            operators=[
                Operator(telegram_user_id=URSCOP_OPERATOR, organisation="urscop_hdf"),
                Operator(telegram_user_id=CRESS, organisation="cress_hdf", name="Accueil"),
            ],
        )

    async with running_world(kb, database_url, partners) as world:
        yield world


async def qualified(world: World, kb: KnowledgeBase) -> TelegramUser:
    """The CRESS operator has sent a lead to the URSCOP for a person they met; delivered."""
    operator = await oriented(world, kb, user_id=CRESS)
    await operator.click("mis en relation : URSCOP")
    await operator.click("La personne accepte")
    await operator.send(PERSON)
    await operator.send("06 12 34 56 78")
    await operator.send("Une crèche parentale en coopérative, rencontrée au forum de l'ESS.")
    await operator.click("Envoyer")
    await world.deliver()
    return operator


async def set_consent(world: World, lead_id: str, **values: object) -> None:
    """Rewrite a stored lead's consent (a lead recorded under an earlier consent text)."""
    lead = await world.leads.get(lead_id)
    assert lead is not None
    data = dict(lead.data, consent=dict(lead.data["consent"], **values))
    engine = create_async_engine(world.bot.settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(
            update(LeadRow)
            .where(LeadRow.id == lead_id)
            .values(data_json=json.dumps(data, ensure_ascii=False))
        )
    await engine.dispose()


async def test_every_screen_of_the_on_behalf_path_speaks_about_the_person(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await oriented(world, kb, user_id=CRESS)
    await operator.click("mis en relation : URSCOP")
    consent = operator.last().text
    # the person's rights, through the CRESS (named, with its address) or their own code
    assert "adressez-vous à CRESS Hauts-de-France (accueil@cress.example)" in consent
    assert "code d'effacement" in consent and "/mesdonnees" not in consent
    assert "une autre organisation partenaire proche de votre projet" in consent
    await operator.click("La personne accepte")
    assert "Nom de la personne ou de la structure" in operator.last().text
    await operator.send(PERSON)
    assert f"Comment joindre {PERSON} ?" in operator.last().text
    await operator.send("06 12 34 56 78")
    assert f"Le projet de {PERSON}" in operator.last().text
    await operator.send("court")
    assert f"à répondre à {PERSON}" in operator.last().text
    await operator.send("Une crèche parentale en coopérative, rencontrée au forum de l'ESS.")
    assert "Vérifiez avec la personne" in operator.last().text
    await operator.click("Envoyer")
    sent = operator.last().text
    assert f"La demande de {PERSON} part vers URSCOP Hauts-de-France" in sent
    lead = (await world.leads.all())[0]
    assert lead.erasure_code and f"/oublier {lead.erasure_code}" in sent
    assert lead.sender_organisation == "cress_hdf" and lead.on_behalf
    assert "adressez-vous à CRESS Hauts-de-France" in lead.data["consent"]["text"]
    assert lead.data["operator"]["organisation"]["name"] == "CRESS Hauts-de-France"
    assert lead.erasure_code not in json.dumps(lead.data)  # the code is the person's only
    for text in operator.texts().split("\n---\n")[-6:]:
        assert "Votre nom" not in text and "Votre demande" not in text
    await world.deliver()
    assert f"La demande de {PERSON} a été remise à URSCOP Hauts-de-France" in operator.last().text
    # the partner receives the code nowhere
    assert lead.erasure_code not in json.dumps(world.webhook.unique[lead.id].payload)


async def test_the_sender_follows_a_lead_the_partner_takes_then_closes(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await qualified(world, kb)
    lead = (await world.leads.all())[0]
    await operator.send("/leads")
    overview = operator.last().text
    assert "Demandes reçues par CRESS Hauts-de-France : 0" in overview
    assert "Demandes transmises par CRESS Hauts-de-France pour quelqu'un : 1" in overview
    line = f"{PERSON} → URSCOP Hauts-de-France · remise, en attente de réponse"
    assert line in overview and "aujourd'hui" in overview
    # the partner's operator sees it as received
    urscop = world.bot.user(URSCOP_OPERATOR)
    await urscop.send("/leads")
    assert "Demandes reçues par URSCOP Hauts-de-France : 1" in urscop.last().text
    assert "transmises par URSCOP Hauts-de-France pour quelqu'un : 0" in urscop.last().text

    group = world.partner()
    await group.click("Je prends en charge")
    await world.deliver()
    taken = operator.last()
    assert f"URSCOP Hauts-de-France a pris en charge la demande de {PERSON}" in taken.text
    assert taken.labels() == ["📋 Suivre cette demande"]
    await group.click("Clôturé")
    await world.deliver()
    assert f"a clôturé la demande de {PERSON}" in operator.last().text

    await operator.send("/stats")
    stats = operator.last().text
    assert "Demandes transmises pour quelqu'un, par partenaire" in stats
    assert "URSCOP Hauts-de-France : 1 (prises en charge : 1)" in stats
    await operator.send("/leads")
    await operator.click("Export CSV")
    document = operator.last().document
    assert document is not None
    rows = document[1].decode("utf-8-sig").splitlines()
    header = rows[0].split(";")
    assert len(rows) == 2 and header[-4:] == [
        "direction",
        "organisation",
        "sender_organisation",
        "unanswered_at",
    ]
    cells = rows[1].split(";")
    assert cells[0] == lead.id and cells[-4:-1] == ["sent", "urscop_hdf", "cress_hdf"]
    assert cells[2] == "closed"


async def test_a_declined_lead_is_handed_on_with_the_same_answers(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await qualified(world, kb)
    first = (await world.leads.all())[0]
    group = world.partner()
    await group.click("Pas pour nous")
    await group.click("Hors de notre territoire")
    await world.deliver()
    notice = operator.last()
    assert f"ne peut pas donner suite à la demande de {PERSON} (hors de notre territoire)" in (
        notice.text
    )
    assert "Transmettre à un autre partenaire" in notice.labels()[0]
    await operator.click("Transmettre à un autre partenaire")
    choices = operator.last()
    assert choices.labels() == ["↪️ Nord Actif", "Annuler"]  # not URSCOP again, nor the CRESS
    await operator.click("↪️ Nord Actif")
    assert "inutile de le lui redemander" in operator.last().text
    message, data = operator.find("📨 Transmettre")
    await operator.feed(operator.callback_update(message, data))
    await operator.feed(operator.callback_update(message, data))  # a double click
    assert "C'est transmis" in operator.texts() and "déjà partie" in operator.last().text
    leads = [x for x in await world.leads.all() if x.id != first.id]
    assert len(leads) == 1
    second = leads[0]
    assert second.organisation == "nord_actif" and second.sender_organisation == "cress_hdf"
    assert second.data["answers"] == first.data["answers"]
    assert second.data["person"] == first.data["person"]
    assert second.data["consent"] == first.data["consent"]  # covered: not asked again
    assert second.data["handed_from"] == {
        "id": first.id,
        "root": first.id,
        "organisation": "urscop_hdf",
    }
    assert second.erasure_code == first.erasure_code
    await world.deliver()
    assert any(m.rcpt_tos == ["contact@nordactif.example"] for m in world.smtp.unique.values())
    assert f"La demande de {PERSON} a été remise à Nord Actif" in operator.last().text
    # a stale button on the first lead, later: nothing more is sent
    await operator.press(f"o||{first.id}|send:{target_key('nord_actif')}", operator.last())
    assert len([x for x in await world.leads.all()]) == 2

    await operator.send("/stats")
    stats = operator.last().text
    assert "URSCOP Hauts-de-France : 1 (déclinées (hors de notre territoire) : 1)" in stats
    assert "Nord Actif : 1 (en attente de réponse : 1)" in stats


async def test_handing_on_asks_the_person_again_when_their_consent_did_not_cover_it(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await qualified(world, kb)
    first = (await world.leads.all())[0]
    await set_consent(world, first.id, other_partners=False)  # an earlier consent text
    await world.partner().click("Pas pour nous")
    await world.partner().click("Pas de disponibilité")
    await world.deliver()
    # a forged « send » without asking the person: shown the consent, nothing stored
    await operator.press(f"o||{first.id}|send:{target_key('nord_actif')}", operator.last())
    assert "ne couvrait que le premier partenaire" in operator.last().text
    assert len(await world.leads.all()) == 1
    await operator.click("Transmettre à un autre partenaire")
    await operator.click("↪️ Nord Actif")
    ask = operator.last().text
    assert "ne couvrait que le premier partenaire" in ask
    assert "Être mis en relation avec Nord Actif" in ask and "Qui reçoit quoi" in ask
    await operator.click("La personne accepte")
    assert "C'est transmis" in operator.last().text
    second = next(x for x in await world.leads.all() if x.id != first.id)
    consent = second.data["consent"]
    assert consent["by"] == "operator" and consent["other_partners"] is True
    assert (
        "Acceptez-vous que Boussole transmette ces informations à Nord Actif" in (consent["text"])
    )


async def test_an_unanswered_lead_is_never_left_silent(world: World, kb: KnowledgeBase) -> None:
    operator = await qualified(world, kb)
    person = await delivered(world, kb)  # a person's own lead, to the same partner
    for _ in range(3):  # the two reminders, then the wait after the last one
        await world.fast_forward()
        await world.deliver()
    reminders = [m for m in world.partner().screen() if "Rappel" in m.text]
    assert len(reminders) == 4  # two leads, two reminders each
    notice = operator.last()
    assert f"URSCOP Hauts-de-France n'a pas répondu à la demande de {PERSON}" in notice.text
    assert "malgré 2 rappels" in notice.text
    assert "Transmettre à un autre partenaire" in notice.labels()[0]
    own = next(m for m in reversed(person.screen()) if "pas encore répondu" in m.text)
    assert "voici leurs contacts" in own.text and own.labels() == ["📍 Voir d'autres contacts"]
    asked = next(m for m in operator.screen() if "La personne a-t-elle été contactée" in m.text)
    assert f"Vous avez transmis la demande de {PERSON}" in asked.text
    await operator.press(asked.buttons[1][0]["callback_data"], asked)  # « Non, pas encore »
    assert "suivre la demande depuis /leads" in operator.last().text
    await world.fast_forward()
    await world.deliver()  # once only
    assert len([m for m in operator.screen() if "n'a pas répondu" in m.text]) == 1

    await operator.send("/leads")
    assert f"{PERSON} → URSCOP Hauts-de-France · sans réponse après les rappels" in (
        operator.last().text
    )
    await operator.send("/stats")
    assert "URSCOP Hauts-de-France : 1 (sans réponse après les rappels : 1)" in (
        operator.last().text
    )
    await operator.click("Les demandes")
    await operator.click("Association Les… → URSCOP")
    await operator.click("Transmettre à un autre partenaire")
    await operator.click("↪️ Nord Actif")
    await operator.click("📨 Transmettre")
    assert "C'est transmis" in operator.last().text


async def test_the_operator_erases_a_lead_they_qualified_everywhere(
    world: World, kb: KnowledgeBase
) -> None:
    operator = await qualified(world, kb)
    first = (await world.leads.all())[0]
    await world.partner().click("Pas pour nous")
    await world.partner().click("Hors de notre champ")
    await world.deliver()
    await operator.click("Transmettre à un autre partenaire")
    await operator.click("↪️ Nord Actif")
    await operator.click("📨 Transmettre")
    await world.deliver()

    # nobody else may erase it: another organisation's operator, a stranger
    urscop = world.bot.user(URSCOP_OPERATOR)
    await urscop.send("/start")
    await urscop.press(f"o||{first.id}|erase_ok", urscop.last())
    assert "seule l'organisation qui l'a transmise" in urscop.last().text
    stranger = world.bot.user(777)
    await stranger.send("/start")
    await stranger.press(f"o||{first.id}|erase_ok", stranger.last())
    assert "réservée aux opérateurs" in stranger.last().text
    assert len(await world.leads.all()) == 2

    await operator.send("/leads")
    await operator.click("Association Les… → Nord Actif")
    shown = operator.last().text
    assert f"Demande de {PERSON}" in shown and "transmise à Nord Actif" in shown
    assert "déjà proposée à URSCOP Hauts-de-France" in shown
    await operator.click("Effacer cette demande")
    ask = operator.last().text
    assert "prévient Nord Actif, URSCOP Hauts-de-France" in ask and "C'est définitif" in ask
    await operator.click("Non, la garder")
    assert len(await world.leads.all()) == 2
    await operator.click("Effacer cette demande")
    await operator.click("Oui, effacer la demande")
    erased = operator.last().text
    assert f"La demande de {PERSON} est effacée de Boussole" in erased
    assert "Boussole prévient Nord Actif, URSCOP Hauts-de-France, qui doivent" in erased
    assert await world.leads.all() == []
    await world.deliver()
    notices = [d for d in world.webhook.received if d.event == "lead.erased"]
    assert [d.payload["lead"]["id"] for d in notices] == [first.id]
    assert "demandé à Boussole d'effacer" in world.partner().last().text
    erasure_mails = [
        m for m in world.smtp.unique.values() if "effacement" in str(m.message["Subject"])
    ]
    assert [m.rcpt_tos for m in erasure_mails] == [["contact@nordactif.example"]]
    # its old buttons now say it is gone
    await operator.press(f"o||{first.id}|show", operator.last())
    assert "n'existe plus" in operator.last().text


async def test_the_person_erases_their_lead_with_the_code(world: World, kb: KnowledgeBase) -> None:
    await qualified(world, kb)
    lead = (await world.leads.all())[0]
    assert lead.erasure_code
    person = world.bot.user(6060)  # the person, who never used the bot
    await person.send("/oublier ZZZZ-ZZZZ")
    assert "aucune demande avec ce code" in person.last().text
    await person.send(f"/oublier {lead.erasure_code.lower()[:4]} {lead.erasure_code[4:]}")
    ask = person.last()
    assert f"Effacer la demande de {PERSON}" in ask.text and "URSCOP" in ask.text
    await person.click("Non, la garder")
    assert "rien n'est effacé" in person.last().text
    await person.send(f"/oublier {lead.erasure_code}")
    await person.click("Oui, effacer ma demande")
    assert "votre demande est effacée" in person.last().text
    assert await world.leads.all() == []
    await world.deliver()
    assert [d.payload["lead"]["id"] for d in world.webhook.received if d.event == "lead.erased"]
    # a second attempt with the same code finds nothing
    await person.send(f"/oublier {lead.erasure_code}")
    assert "aucune demande avec ce code" in person.last().text
    assert (await world.bot.stored(person.chat_id)).step == 0  # nothing stored about them


async def test_a_person_s_own_lead_keeps_its_own_words(world: World, kb: KnowledgeBase) -> None:
    user = await delivered(world, kb)
    lead = (await world.leads.all())[0]
    assert not lead.on_behalf and lead.erasure_code is None and lead.sender_organisation is None
    assert "Votre demande a été remise" in user.last().text
    assert "/mesdonnees" in lead.data["consent"]["text"]
    await world.partner().click("Je prends en charge")
    await world.deliver()
    assert "a pris en charge votre demande" in user.last().text
    assert user.last().labels() == []
    assert (await world.leads.get(lead.id)).status is LeadStatus.taken  # type: ignore[union-attr]
