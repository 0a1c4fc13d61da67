"""Issue 21, points 8, 6 and 5: what a structure that already runs, a new farmer, a collectivité
and cooperating structures read in « près de chez vous » (knowledge/nearby/resources.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.dialogue.parts import Parts
from bot.dialogue.router import Conversation
from bot.orientation.engine import Session, State
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge

KbCopy = Callable[[], Path]

#: the seed « Les Champs des Possibles »: a future farmer who wants to test before settling
NEW_FARMER = {
    "profil": "porteur",
    "projet_porteur": "activite_individuelle",
    "test_activite": "tester_agricole",
    "statut_salarie": "ne_sais_pas",
    "finalite": "activite_economique",
    "stade": "idee",
}
#: an association whose subsidies come late and which wants to keep its jobs
LATE_SUBSIDIES = {"profil": "association", "projet_porteur": "consolider", "salaries": "oui"}

RESOURCE = """
sources:
  page:
    title: "Une page"
    url: https://example.org/page
    verified_at: 2026-12-01
resources:
  - id: test_resource
    topic: running
    name: "Une ressource"
    what: "Pour les structures qui fonctionnent déjà."
    sources: [page]
    verified_at: 2026-12-01
"""


@pytest.fixture(scope="module")
def parts(kb: KnowledgeBase) -> Parts:
    return Parts(kb)


def walk(conversation: Conversation, answers: dict[str, str], place: str) -> State:
    """The state after answering, in the order the questions come, what `answers` holds."""
    given: list[tuple[str, str]] = []
    while True:
        state = conversation.engine.state(Session(tuple(given), place))
        question = state.question
        if state.finished or question is None or question.id not in answers:
            return state
        given.append((question.id, answers[question.id]))


def near_you(conversation: Conversation, answers: dict[str, str], place: str) -> str:
    state = walk(conversation, answers, place)
    assert state.finished
    reply = conversation.territory.nearby_reply(state)
    assert reply is not None
    return reply.text


def test_an_association_in_pas_de_calais_with_late_subsidies_sees_cash_flow_support(
    conversation: Conversation,
) -> None:
    text = near_you(conversation, LATE_SUBSIDIES, "d:62")
    assert '<a href="https://www.franceactive.org">France Active, pour votre trésorerie</a>' in text
    assert "Une subvention qui tarde" in text
    assert "La convention pluriannuelle d&#39;objectifs (CPO)" in text  # multi-year funding
    assert "Montrer votre impact social à vos financeurs" in text
    # the cash flow first: it is what a late subsidy needs now
    assert text.index("France Active, pour votre trésorerie") < text.index("(CPO)")


def test_the_cash_flow_entry_follows_the_answers_given_in_the_dialogue(
    conversation: Conversation,
) -> None:
    state = walk(conversation, LATE_SUBSIDIES, "d:62")
    turn = conversation.territory.set_place(state, "d:62")
    texts = "\n".join(r.text for r in turn.replies)
    assert "France Active, pour votre trésorerie" in texts
    # an association with the same place that is only starting reads creation pathways instead
    starting = conversation.engine.state(
        Session((("profil", "association"), ("projet_porteur", "lieu")), "d:62")
    )
    reply = conversation.territory.nearby_reply(starting)
    assert reply is not None and "France Active, pour votre trésorerie" not in reply.text


def test_a_network_speaking_for_an_association_in_difficulty_reads_the_same(
    parts: Parts,
) -> None:
    view = parts.nearby.find(
        parts.geo.dep_candidate("974"),
        None,  # « autre situation »: the profile is unknown
        None,
        ["dla"],
        {"profile": "autre", "need": "emplois", "employees": "oui"},
    )
    names = [r.name for r in view.resources]
    assert names[0] == "France Active, pour votre trésorerie"
    assert "Le RTES, réseau des collectivités pour l'ESS" not in names  # not for them


def test_a_new_farmer_sees_the_safer_and_terre_de_liens(conversation: Conversation) -> None:
    text = near_you(conversation, NEW_FARMER, "d:29")
    assert '<a href="https://terredeliens.org">Terre de Liens</a>' in text
    assert "<b>La SAFER de votre région</b>" in text
    assert "ceux qui s&#39;installent comptent parmi les prioritaires" in text


def test_a_new_project_sees_the_creation_pathway_of_its_region(
    conversation: Conversation,
) -> None:
    brittany = near_you(conversation, NEW_FARMER, "d:29")
    assert "Trajectoir&#39;ESS, les accompagnateurs de l&#39;ESS en Bretagne" in brittany
    assert "Le Réseau national des incubateurs de l&#39;ESS" in brittany
    occitanie = near_you(conversation, NEW_FARMER, "d:34")
    assert "Trajectoir" not in occitanie  # a région's pathway stays in its région
    assert "Le Réseau national des incubateurs de l&#39;ESS" in occitanie


def test_an_existing_company_is_told_how_to_change_scale(parts: Parts) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("69"), "entreprise", "existant", [])
    names = [r.name for r in view.resources]
    assert names == [
        "France Active, pour votre trésorerie",
        "Le DLA de votre département",
        "Montrer votre impact social à vos financeurs",
        "Changer d'échelle ou essaimer",
    ]
    scale = next(r for r in view.resources if r.name == "Changer d'échelle ou essaimer")
    assert "essaimer" in scale.what and "le DLA peut financer un conseil" in scale.what


def test_cooperating_associations_read_the_difference_with_merging(
    conversation: Conversation,
) -> None:
    answers = {
        "profil": "association",
        "projet_porteur": "cooperer",
        "collectif_objectif": "mutualiser",
        "collectif_membres": "associations",
        "partenaires_nombre": "quatre_dix",
        "finalite": "utilite_sociale",
        "stade": "existant",
    }
    text = near_you(conversation, answers, "d:59")
    assert "Coopérer ou fusionner ?</a>" in text
    assert "commencez par le DLA de votre département, gratuit" in text


def test_an_intercommunality_building_a_ptce_meets_its_peers_and_its_farmland(
    conversation: Conversation,
) -> None:
    answers = {
        "profil": "collectivite",
        "collectivite_type": "epci",
        "collectivite_enjeu": "cooperation_filiere",
        "collectivite_role": "animatrice",
        "partenaires_nombre": "plus_dix",
        "secteur": "agriculture",
        "finalite": "activite_economique",
        "stade": "idee",
    }
    text = near_you(conversation, answers, "d:21")
    assert "Apprendre d&#39;un PTCE qui fonctionne déjà</a>" in text  # learning visits
    assert "visites apprenantes" in text
    assert "<b>Les terres agricoles de votre collectivité</b>" in text
    # the same intercommunality on a project that is not agricultural: no farmland line
    other = dict(answers, secteur="industrie_artisanat")
    assert "Les terres agricoles" not in near_you(conversation, other, "d:21")


def test_a_collectivite_is_pointed_to_training_for_its_elected_officials(
    parts: Parts,
) -> None:
    place = parts.geo.dep_candidate("44")
    facts: dict[str, str | None] = {"profile": "collectivite"}
    view = parts.nearby.find(place, "collectivite", None, [], facts)
    rtes = next(r for r in view.resources if r.name.startswith("Le RTES"))
    assert rtes.website == "https://rtes.fr" and "formations pour les élus" in rtes.what
    behalf = {"profile": "reseau", "on_behalf": "collectivite"}
    assert any(
        r.name.startswith("Le RTES")
        for r in parts.nearby.find(place, "collectivite", None, [], behalf).resources
    )
    company = parts.nearby.find(place, "entreprise", None, [], {"profile": "entreprise"})
    assert not any(r.name.startswith("Le RTES") for r in company.resources)


def test_future_cooperators_are_told_where_to_learn_cooperative_governance(
    parts: Parts,
) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("35"), "porteur", "montage", ["scic"])
    assert view.resources[0].name == "Se former à la gouvernance coopérative"


def test_marseille_has_its_maison_de_l_ess(parts: Parts) -> None:
    marseille = parts.nearby.find(parts.geo.dep_candidate("13"), "porteur", None, [])
    maison = next(g for g in marseille.groups if g.label == "Maison de l'ESS")
    assert maison.items[0].name == "Maison de l'ESS « ESS Sud » (Marseille)"
    nice = parts.nearby.find(parts.geo.dep_candidate("06"), "porteur", None, [])
    assert not any(g.label == "Maison de l'ESS" for g in nice.groups)


def test_every_new_entry_is_sourced_and_dated(kb: KnowledgeBase) -> None:
    added = {
        "tresorerie_france_active",
        "impact_social",
        "changer_echelle",
        "cooperer_ou_fusionner",
        "visites_ptce",
        "gouvernance_cooperative",
        "rtes_elus",
        "safer",
        "terres_collectivite",
        "incubateurs_ess",
        "creation_bretagne",
    }
    resources = {r.id: r for r in kb.nearby.resources}
    assert added <= set(resources)
    for rid in added:
        for key in resources[rid].sources:
            source = kb.nearby.sources[f"resources:{key}"]
            assert source.url and source.verified_at.isoformat() == "2026-12-01"
    # what changes (a programme, a network's members) says when to look again
    assert resources["tresorerie_france_active"].review_by is not None
    assert resources["creation_bretagne"].review_by is not None


def test_a_resource_in_an_unknown_region_is_refused(kb_copy: KbCopy) -> None:
    root = kb_copy()
    (root / "nearby").mkdir()
    (root / "nearby" / "here.yaml").write_text(RESOURCE + '    regions: ["99"]\n', encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    message = str(caught.value)
    assert "knowledge/nearby/here.yaml" in message and "test_resource" in message
    assert "région inconnue « 99 »" in message and "code INSEE de région" in message


def test_a_resource_following_an_answer_the_tree_never_gives_is_refused(
    kb_copy: KbCopy,
) -> None:
    root = kb_copy()
    (root / "nearby").mkdir()
    (root / "nearby" / "here.yaml").write_text(
        RESOURCE + "    answers: {size: [moyen], sector: [agriculture]}\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    message = str(caught.value)
    assert "here.yaml" in message and "test_resource" in message
    assert "réponse inconnue « moyen » pour « size »" in message
    assert "grand, ne_sais_pas, petit" in message  # the values it may use
    assert "question inconnue « sector »" in message


@pytest.mark.parametrize(
    ("departement", "pathway"),
    [
        ("35", "Trajectoir'ESS, les accompagnateurs de l'ESS en Bretagne"),
        ("59", "Tremplin HDF, les accompagnateurs de l'ESS en Hauts-de-France"),
        ("38", "Acc'ESS, les accompagnateurs de l'ESS en Auvergne-Rhône-Alpes"),
        ("49", "ESSor, la plateforme d'accompagnement de l'ESS en Pays de la Loire"),
        ("37", "Les développeurs économiques de l'ESS en Centre-Val de Loire"),
    ],
)
def test_each_region_with_a_sourced_pathway_shows_its_own_first(
    parts: Parts, departement: str, pathway: str
) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate(departement), "porteur", "idee", [])
    names = [r.name for r in view.resources]
    assert names[0] == pathway
    assert names.count(pathway) == 1 and "Le Réseau national des incubateurs de l'ESS" in names
    others = [r for r in parts.nearby.nearby.resources if r.topic == "creation" and r.regions]
    assert sum(r.name in names for r in others) == 1  # never another région's
