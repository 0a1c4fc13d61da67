"""The collectivités' and the State's ESS services near the person (issue 21, point 3).

What a person reads in « près de chez vous »: their Région's ESS service with the site read in a
source, the Département's where one is known, and the DREETS where it decides (ESUS, IAE).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bot.dialogue.parts import Parts
from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from knowledge.loader import KnowledgeBase


@pytest.fixture(scope="module")
def parts(kb: KnowledgeBase) -> Parts:
    return Parts(kb)


def nearby_text(conversation: Conversation, place: str) -> str:
    session = Session((("profil", "collectivite"),), place)
    reply = conversation.territory.nearby_reply(conversation.engine.state(session))
    assert reply is not None
    return reply.text


@pytest.mark.parametrize(
    ("place", "line"),
    [
        (
            "d:21",  # Côte-d'Or
            '• <a href="https://bourgognefranchecomte.fr">Région Bourgogne-Franche-Comté</a> : '
            "Son service ESS décide des aides régionales",
        ),
        (
            "d:13",  # Bouches-du-Rhône
            '• <a href="https://maregionsud.fr">Région Provence-Alpes-Côte d&#39;Azur</a> : '
            "Son service ESS décide des aides régionales",
        ),
    ],
)
def test_a_town_reads_its_regions_ess_service_with_its_site(
    conversation: Conversation, place: str, line: str
) -> None:
    assert line in nearby_text(conversation, place)


def test_a_gironde_town_reads_the_departements_ess_policy_with_its_site(
    conversation: Conversation,
) -> None:
    text = nearby_text(conversation, "d:33")
    assert '<a href="https://www.gironde.fr">Département de la Gironde</a> : ' in text
    assert "grande cause départementale en 2025" in text
    # the Région's line comes first, then the Département's
    assert text.index("Région Nouvelle-Aquitaine") < text.index("Département de la Gironde")


def test_a_region_without_a_site_read_shows_the_name_without_a_link(
    conversation: Conversation,
) -> None:
    text = nearby_text(conversation, "d:45")  # Loiret: no page of the Région read yet
    assert "• <b>Région Centre-Val de Loire</b> : " in text
    assert "Site non renseigné" not in text  # the curators' gap note stays out of sight


def test_an_esus_request_in_brittany_is_pointed_to_the_dreets_bretagne(parts: Parts) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("35"), "entreprise", "idee", ["esus"])
    text = parts.renderer.render("nearby.j2", nearby=view)
    assert '<a href="https://bretagne.dreets.gouv.fr">DREETS Bretagne</a> : ' in text
    assert "agrément ESUS" in text
    assert "Département d&#39;Ille-et-Vilaine" in text


FILLED = [
    "region_bfc",
    "region_idf",
    "region_pdl",
    "region_paca",
    "region_guadeloupe",
    "region_martinique",
    "region_guyane",
    "region_reunion",
    "departement_33_ess",
    "departement_35_ess",
    "departement_62_ess",
    "departement_92_ess",
    "departement_93_ess",
    "departement_94_ess",
    "departement_971_ess",
    "dreets_bretagne",
    "dreets_hdf",
]


@pytest.mark.parametrize("contact_id", FILLED)
def test_each_site_is_the_address_of_a_page_read_in_its_sources(
    kb: KnowledgeBase, contact_id: str
) -> None:
    contact = next(c for c in kb.contacts if c.id == contact_id)
    assert contact.website is not None and contact.review_by is not None
    stem = kb.entry_files[contact_id]
    urls = [kb.directory_sources[f"{stem}:{key}"].get("url") for key in contact.sources]
    hosts = {urlsplit(url).hostname for url in urls if isinstance(url, str)}
    assert urlsplit(contact.website).hostname in hosts
