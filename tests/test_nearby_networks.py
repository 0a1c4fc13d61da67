"""Issue 21, points 1, 4 and 9: more zéro-chômeur territories, the CRESS lists of ESS companies
for a company looking for partners, and the national head networks said as fallbacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.dialogue.parts import Parts
from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from bot.screens.render import Renderer
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from tests.test_nearby import INITIATIVE

KbCopy = Callable[[], Path]

NATIONAL_LIST = "Liste nationale des entreprises de l&#39;ESS (ESS France)"
SAID_NATIONAL = "Je ne connais pas encore d'annuaire régional en ligne des acteurs de l'ESS"


@pytest.fixture(scope="module")
def parts(kb: KnowledgeBase) -> Parts:
    return Parts(kb)


def near_you(conversation: Conversation, profile: str, place: str) -> str:
    session = Session((("profil", profile),), place)
    reply = conversation.territory.nearby_reply(conversation.engine.state(session))
    assert reply is not None
    return reply.text


def who_helps(parts: Parts, dep: str, profile: str, schemes: list[str]) -> str:
    routing = parts.router.route(parts.geo.dep_candidate(dep), profile, None, schemes)
    return Renderer().render("routing.j2", routing=routing, only=None, place=routing.territory)


# ------------------------------------------------------------ 1. Territoires zéro chômeur


@pytest.mark.parametrize(
    ("place", "territory"),
    [
        ("d:14", "Colombelles"),  # the first ten of 2016
        ("d:35", "Pipriac et Saint-Ganton"),
        ("d:972", "Rivière-Pilote"),  # the first overseas ones
        ("d:974", "Le Port"),
        ("d:07", "Le Teil"),
        ("d:53", "Laval - Grand Saint-Nicolas"),
        ("d:91", "Epinay-sous-Sénart - Plaine et Cinéastes"),
        ("d:10", "Troyes - Champagne"),
        ("d:95", "Cergy"),
        ("d:09", "Saint-Girons et six communes du Couserans"),
        ("d:26", "Val de Drôme - Livron-sur-Drôme"),
        ("d:52", "Bassin de Joinville"),
        ("d:87", "Communauté de communes de Noblat"),
        ("d:971", "Sainte-Rose"),
    ],
)
def test_a_collectivite_sees_a_newly_listed_territory_near_it(
    conversation: Conversation, place: str, territory: str
) -> None:
    text = near_you(conversation, "collectivite", place)
    assert text.startswith("📍 <b>Près de chez vous</b>")
    assert "Territoires zéro chômeur : " in text and territory in text
    assert "Territoire zéro chômeur : aucune initiative connue" not in text


def test_gironde_names_both_of_its_territories(parts: Parts) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("33"), "collectivite", None, ["tzcld"])
    names = [i.name for g in view.groups if g.label == "Territoires zéro chômeur" for i in g.items]
    assert names == ["Bordeaux - Grand Parc", "Castillon-la-Bataille"]


def test_nievre_knows_its_four_listed_territories_and_says_how_many_more(
    parts: Parts, conversation: Conversation
) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("58"), "collectivite", None, ["tzcld"])
    [group] = [g for g in view.groups if g.label == "Territoires zéro chômeur"]
    assert len(group.items) + group.more == 4  # Clamecy - Vaux d'Yonne is the fourth
    assert "et 1 autre" in near_you(conversation, "collectivite", "d:58")


def test_every_listed_territory_is_sourced_dated_and_due_for_review(kb: KnowledgeBase) -> None:
    near = kb.nearby
    territories = [i for i in near.initiatives if i.kind == "tzcld"]
    assert len(territories) >= 76  # of the 87 habilitated after the decree of 11 February 2026
    assert len({i.id for i in territories}) == len(territories)
    for item in territories:
        file = near.files[item.id].rsplit("/", 1)[-1].removesuffix(".yaml")
        sources = [near.sources[f"{file}:{key}"] for key in item.sources]
        assert sources and all(s.url or s.ref for s in sources), item.id
        assert item.verified_at.isoformat() == "2026-12-01", item.id
        assert item.review_by.isoformat() == "2026-12-31", item.id  # the experiment's end


# ------------------------------------------------------------ 4. partners for a company


def test_a_company_in_provence_gets_the_cress_list_of_its_region(
    conversation: Conversation,
) -> None:
    text = near_you(conversation, "entreprise", "d:13")
    assert '<a href="https://www.cresspaca.org/s-informer/decouvrir-l-ess-9">' in text
    assert "CRESS Provence-Alpes-Côte d&#39;Azur" in text
    assert NATIONAL_LIST not in text and SAID_NATIONAL not in text


def test_a_company_in_the_grand_est_gets_the_cress_grand_est_list(
    conversation: Conversation,
) -> None:
    text = near_you(conversation, "entreprise", "d:67")
    assert "cress-grandest.org/fr/l-observatoire-regional-de-l-ess-en-grand-est.html" in text
    assert NATIONAL_LIST not in text


def test_a_company_without_a_regional_list_gets_the_national_one_said_as_such(
    conversation: Conversation,
) -> None:
    text = near_you(conversation, "entreprise", "d:35")
    assert NATIONAL_LIST in text
    assert (
        f"{SAID_NATIONAL} en Bretagne : c'est donc la liste nationale ; la CRESS Bretagne tient"
        " aussi celle de la région, vous pouvez la lui demander." in text
    )
    caen = near_you(conversation, "entreprise", "d:14")  # no active CRESS in Normandie
    assert f"{SAID_NATIONAL} en Normandie : c'est donc la liste nationale." in caen
    assert "CRESS Normandie" not in caen


def test_the_list_follows_the_project_not_only_the_profile(parts: Parts) -> None:
    marseille = parts.geo.dep_candidate("13")
    association = parts.nearby.find(marseille, "association", None, ["partenariat_siae"])
    assert [i.website for i in association.partners] == [
        "https://www.cresspaca.org/s-informer/decouvrir-l-ess-9"
    ]
    assert (
        "Liste des entreprises de l'ESS en Provence-Alpes-Côte d'Azur (CRESS Provence-"
        "Alpes-Côte d'Azur)",
        "https://www.cresspaca.org/s-informer/decouvrir-l-ess-9",
    ) in (association.links)
    mayor = parts.nearby.find(marseille, "collectivite", None, ["tzcld"])
    assert mayor.partners == []  # a collectivité visiting a territory is not shopping for partners


def test_a_fiche_opened_by_a_company_with_a_place_links_the_list(
    conversation: Conversation,
) -> None:
    kb = conversation.engine.kb
    company = Session((("profil", "entreprise"),), "d:13")
    text = conversation.fiche(kb.schemes["partenariat_siae"], company)[-1].text
    assert "cresspaca.org" in text


# ------------------------------------------------------------ 9. national head networks


def test_where_no_regional_solidarity_network_exists_the_mes_says_it_stands_in(
    parts: Parts,
) -> None:
    text = who_helps(parts, "35", "collectivite", ["ptce"])
    assert '<a href="https://le-mes.org">MES (Mouvement pour l&#39;économie solidaire)</a>' in text
    assert (
        "Je ne connais pas de réseau régional d&#39;économie solidaire en Bretagne : le MES, qui"
        " les réunit au niveau national, pourra vous orienter" in text
    )


def test_the_mes_is_not_filler_where_a_regional_network_is_shown(parts: Parts) -> None:
    lille = parts.router.route(parts.geo.dep_candidate("59"), "collectivite", None, ["ptce"])
    ids = [m.item_id for m in lille.contacts]
    assert "apes_hdf" in ids and "mes" not in ids
    rennes = parts.router.route(parts.geo.dep_candidate("35"), "porteur", None, ["scop"])
    assert "mes" not in [m.item_id for m in rennes.contacts]  # not its field


def test_the_confederation_of_scop_says_it_stands_in_for_a_missing_union(parts: Parts) -> None:
    text = who_helps(parts, "21", "porteur", ["scop"])
    assert (
        "Je ne connais pas d&#39;union régionale des Scop et Scic en Bourgogne-Franche-Comté :"
        " la confédération nationale vous dira laquelle vous accompagne" in text
    )
    nantes = parts.router.route(parts.geo.dep_candidate("44"), "porteur", None, ["scop"])
    assert "cg_scop" not in [m.item_id for m in nantes.contacts]  # the union de l'Ouest is


def test_a_missing_france_active_is_said_for_the_departement_when_the_region_has_one(
    parts: Parts,
) -> None:
    router = parts.router
    strasbourg = parts.geo.dep_candidate("67")
    shown = router.route(strasbourg, "entreprise", None, ["esus"])
    fa = next(m for m in shown.contacts if m.item_id == "france_active")
    assert fa.reason == (
        "Je ne connais pas d'association France Active dans le département Bas-Rhin : le réseau"
        " national vous orientera vers la plus proche"
    )  # France Active Lorraine covers the Moselle, not Strasbourg
    nancy = router.route(parts.geo.dep_candidate("54"), "entreprise", None, ["esus"])
    assert "france_active" not in [m.item_id for m in nancy.contacts]


def test_a_known_gap_already_said_is_not_said_twice(conversation: Conversation) -> None:
    corse = Session((("profil", "porteur"),), "d:2A")
    text = conversation.territory.routing_reply(conversation.engine.state(corse)).text
    assert text.count("France Active") >= 1
    assert "Je ne connais pas d&#39;association France Active" not in text
    assert "Pas de France Active en Corse : France Active pourra vous orienter." in text


# ------------------------------------------------------------ kb check refuses undated entries

DIRECTORY = """
sources:
  liste:
    title: "Liste des entreprises de l'ESS"
    url: https://example.org/liste
    verified_at: 2026-12-01
directories:
  - id: dir_test
    name: "Liste test"
    offered_by: "CRESS test"
    what: "Pour trouver un partenaire."
    regions: ["53"]
    profiles: [entreprise]
    review_by: 2027-06-30
    sources: [liste]
    verified_at: 2026-12-01
"""


def write(root: Path, text: str) -> None:
    (root / "nearby").mkdir(exist_ok=True)
    (root / "nearby" / "here.yaml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        # without verified_at: tests/test_nearby.py
        (INITIATIVE.replace("    review_by: 2026-12-31\n", ""), "review_by"),
        (INITIATIVE.replace("    sources: [liste]\n", ""), "sources"),
        (DIRECTORY.replace("    review_by: 2027-06-30\n", ""), "review_by"),
        (DIRECTORY.replace("    sources: [liste]\n    verified_at", "    verified_at"), "sources"),
        ("".join(DIRECTORY.rsplit("    verified_at: 2026-12-01\n", 1)), "verified_at"),
    ],
)
def test_an_entry_without_its_source_or_dates_is_refused(
    kb_copy: KbCopy, text: str, field: str
) -> None:
    root = kb_copy()
    write(root, text)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    message = str(caught.value)
    assert "knowledge/nearby/here.yaml" in message and field in message


def test_a_directory_is_national_or_regional_and_names_its_audience(kb_copy: KbCopy) -> None:
    root = kb_copy()
    write(
        root,
        DIRECTORY.replace('    regions: ["53"]\n', '    regions: ["53"]\n    national: true\n'),
    )
    with pytest.raises(KnowledgeError, match="soit national, soit régional"):
        load_knowledge(root)
    write(root, DIRECTORY.replace("    profiles: [entreprise]\n", ""))
    with pytest.raises(KnowledgeError, match="à qui le montrer"):
        load_knowledge(root)
    write(root, DIRECTORY)
    assert load_knowledge(root).nearby.directories[0].id == "dir_test"


def test_kb_check_fails_once_a_directory_is_due_for_review(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    write(root, DIRECTORY)
    assert main(["--knowledge", str(root), "kb", "check", "--today", "2027-06-30"]) == 0
    capsys.readouterr()
    assert main(["--knowledge", str(root), "kb", "check", "--today", "2027-07-01"]) == 1
    assert "here.yaml [dir_test]: à revoir depuis le 2027-06-30" in capsys.readouterr().err
