"""A scope finer than the département (issue 21, point 7): entries whose real area is an EPCI.

A person in a commune of the EPCI sees them, first; a commune outside it and a place known by
its département only do not. The loader refuses an EPCI that INSEE does not know.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from bot.territory.geography import Geography
from knowledge.loader import KNOWLEDGE_DIR, KnowledgeError, load_knowledge

TRIEVES = "200030658"  # CC du Trièves (Isère), INSEE's SIREN
MENS = "c:38226"  # Mens, in the CC du Trièves
GRENOBLE = "c:38185"  # Grenoble, in the Isère but in Grenoble-Alpes-Métropole
ISERE = "d:38"

#: a curator's file: a network, an ESS service and a call whose area is the Trièves only
LOCAL = """
sources:
  site:
    title: "Site de test"
    url: https://example.org/trieves
    verified_at: 2026-12-01
contacts:
  - id: reseau_trieves
    name: "Réseau solidaire du Trièves"
    kind: reseau_ess
    scope: {{epcis: ["{epci}"]}}
    what: "Accompagne les projets de l'ESS dans le Trièves."
    sources: [site]
  - id: service_ess_trieves
    name: "Service ESS de la CC du Trièves"
    kind: collectivite
    scope: {{epcis: ["{epci}"]}}
    what: "Le service de l'intercommunalité qui suit les projets de l'ESS."
    sources: [site]
"""
CALL = """
sources:
  site:
    title: "Appel de test"
    url: https://example.org/appel
    verified_at: 2026-12-01
calls:
  - id: appel_trieves
    name: "Appel à projets ESS du Trièves"
    offered_by: "CC du Trièves"
    what: "Pour les projets de l'ESS du Trièves."
    scope: {epcis: ["200030658"]}
    review_by: 2027-06-30
    sources: [site]
    verified_at: 2026-12-01
"""


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    """The real knowledge base plus entries scoped to the CC du Trièves."""
    root = tmp_path_factory.mktemp("kb") / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    (root / "directory" / "trieves.yaml").write_text(LOCAL.format(epci=TRIEVES), "utf-8")
    (root / "nearby" / "trieves.yaml").write_text(CALL, "utf-8")
    return Conversation(load_knowledge(root))


def contacts_text(conversation: Conversation, place: str) -> str:
    session = Session((("profil", "porteur"),), place)
    return conversation.territory.routing_reply(conversation.engine.state(session)).text


def nearby_text(conversation: Conversation, place: str, profile: str = "collectivite") -> str:
    session = Session((("profil", profile),), place)
    reply = conversation.territory.nearby_reply(conversation.engine.state(session))
    assert reply is not None
    return reply.text


def test_a_commune_knows_its_intercommunalite() -> None:
    geo = Geography()
    mens = geo.resolve("Mens").best
    assert mens is not None and mens.epci is not None
    assert (mens.epci.code, mens.epci.name) == (TRIEVES, "CC du Trièves")
    paris = geo.resolve("75018").best  # an arrondissement: its city's EPCI
    assert paris is not None and paris.epci is not None
    assert paris.epci.name == "Métropole du Grand Paris"
    isere = geo.resolve("Isère").best  # a département has none
    assert isere is not None and isere.level == "departement" and isere.epci is None
    assert geo.resolve("Île-de-Sein").best.epci is None  # type: ignore[union-attr]


def test_a_commune_inside_the_epci_sees_its_contact_first(local: Conversation) -> None:
    text = contacts_text(local, MENS)
    assert "Réseau solidaire du Trièves" in text
    assert "dans votre intercommunalité (CC du Trièves)" in text
    # before the région's networks (the CRESS, France Active)
    assert text.index("Réseau solidaire du Trièves") < text.index("en Auvergne-Rhône-Alpes</i>")


def test_a_commune_outside_the_epci_does_not_see_it(local: Conversation) -> None:
    text = contacts_text(local, GRENOBLE)
    assert "Réseau solidaire du Trièves" not in text
    assert "intercommunalité" not in text


def test_a_departement_only_place_does_not_see_epci_only_entries(local: Conversation) -> None:
    assert "Réseau solidaire du Trièves" not in contacts_text(local, ISERE)
    near = nearby_text(local, ISERE)
    assert "Service ESS de la CC du Trièves" not in near
    assert "Appel à projets ESS du Trièves" not in near


def test_the_epci_service_and_call_are_near_its_communes_only(local: Conversation) -> None:
    mens = nearby_text(local, MENS)
    assert "Service ESS de la CC du Trièves" in mens
    assert "Appel à projets ESS du Trièves" in mens
    grenoble = nearby_text(local, GRENOBLE)
    assert "Service ESS de la CC du Trièves" not in grenoble
    assert "Appel à projets ESS du Trièves" not in grenoble


def test_the_zero_chomeur_territory_says_it_is_the_persons_intercommunalite(
    conversation: Conversation,
) -> None:
    mens = nearby_text(conversation, MENS)
    assert "Communauté de communes du Trièves (votre intercommunalité)" in mens
    grenoble = nearby_text(conversation, GRENOBLE)  # still in the Isère: worth a visit
    assert "Communauté de communes du Trièves" in grenoble
    assert "votre intercommunalité" not in grenoble


def test_an_unknown_epci_is_refused_with_file_entry_and_fix(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    (root / "directory" / "trieves.yaml").write_text(LOCAL.format(epci="200030659"), "utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(root)
    text = str(error.value)
    assert "knowledge/directory/trieves.yaml" in text
    assert "[reseau_trieves]" in text
    assert "intercommunalité inconnue « 200030659 »" in text
    assert "SIREN à 9 chiffres" in text


def test_an_epci_that_is_not_a_siren_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    (root / "nearby" / "trieves.yaml").write_text(CALL.replace(TRIEVES, "Trièves"), "utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(root)
    text = str(error.value)
    assert "knowledge/nearby/trieves.yaml" in text and "appel_trieves" in text
    assert "epcis" in text


# ---------------------------------------------------------------- Aides-territoires (point 2)


def test_the_aids_link_is_filtered_by_the_region_where_its_id_is_published(
    conversation: Conversation,
) -> None:
    text = nearby_text(conversation, MENS, "association")
    link = re.search(r'href="(https://aides-territoires[^"]+)"', text)
    assert link is not None
    query = parse_qs(urlsplit(html.unescape(link.group(1))).query)
    assert query["perimeter_id"] == ["70973"]  # Auvergne-Rhône-Alpes, from its API docs
    assert query["targeted_audiences"] == ["association"]
    assert "filtrées pour votre projet et votre région" in text
    assert "tapez votre commune dans « Votre territoire »" in text


def test_without_a_published_id_the_person_is_told_to_type_their_commune(
    conversation: Conversation,
) -> None:
    text = nearby_text(conversation, "d:58")  # the Nièvre: no id published for it
    assert "perimeter" not in text
    assert "filtrées pour votre projet : sur la page, tapez votre commune dans" in text
    assert "« Votre territoire »" in text
