"""The 2026-11 audit of the directory: each person is sent to the organisation that serves them."""

from __future__ import annotations

import pytest

from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from bot.territory.geography import Candidate, Geography
from bot.territory.routing import Router
from knowledge.loader import KnowledgeBase


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography()


def place(geo: Geography, text: str) -> Candidate:
    best = geo.resolve(text).best
    assert best is not None, text
    return best


def shown(kb: KnowledgeBase, geo: Geography, town: str, schemes: list[str]) -> list[str]:
    routing = Router(kb, geo).route(place(geo, town), "porteur", "montage", schemes)
    return [m.item_id for m in routing.contacts]


@pytest.mark.parametrize(
    ("town", "serves", "not_them"),
    [
        ("Montpellier", "france_active_airdie_occitanie", "france_active_occitanie"),
        ("Perpignan", "france_active_airdie_occitanie", "france_active_occitanie"),
        ("Toulouse", "france_active_occitanie", "france_active_airdie_occitanie"),
        ("Dijon", "bourgogne_active", "france_active_fc"),
        ("Besançon", "france_active_fc", "bourgogne_active"),
        ("Caen", "france_active_normandie", "cress_normandie"),
    ],
)
def test_france_active_of_the_right_area(
    kb: KnowledgeBase, geo: Geography, town: str, serves: str, not_them: str
) -> None:
    ids = shown(kb, geo, town, ["scic"])
    assert serves in ids and not_them not in ids


def test_union_des_scop_de_l_ouest_serves_loire_atlantique_not_anjou(
    kb: KnowledgeBase, geo: Geography
) -> None:
    assert "urscop_ouest" in shown(kb, geo, "Nantes", ["scop"])
    assert "urscop_ouest" in shown(kb, geo, "Rennes", ["scop"])
    angers = shown(kb, geo, "Angers", ["scop"])
    assert "urscop_ouest" not in angers
    assert "cg_scop" in angers  # the national confederation instead of a wrong regional one


def test_a_known_gap_is_said_with_the_national_contact(
    conversation: Conversation,
) -> None:
    corse = Session((("profil", "porteur"),), "d:2A")
    text = conversation.territory.routing_reply(conversation.engine.state(corse)).text
    assert "Pas de France Active en Corse : France Active pourra vous orienter." in text
    caen = Session((("profil", "porteur"),), "d:14")
    text = conversation.territory.routing_reply(conversation.engine.state(caen)).text
    assert "Pas de CRESS en Normandie : ESS France" in text
    assert "CRESS Normandie" not in text


def test_no_static_cress_de_votre_region(kb: KnowledgeBase, conversation: Conversation) -> None:
    for scheme in kb.schemes.values():
        text = "\n".join(r.text for r in conversation.fiche(scheme, Session()))
        assert "CRESS de votre région" not in text, scheme.id


def test_a_town_answering_long_term_unemployment_sees_the_tzcld_warning(
    conversation: Conversation,
) -> None:
    answers = {
        "profil": "collectivite",
        "collectivite_enjeu": "chomage_longue_duree",
    }
    session = Session()
    asked: list[str] = []
    # the engine asks only what can change the answer: the case's answers where it asks
    while (state := conversation.engine.state(session)).question is not None:
        question = state.question
        asked.append(question.id)
        unknown = next((o for o in question.options if o.unknown), question.options[0])
        value = answers.get(question.id, unknown.value)
        session = conversation.engine.answer(session, question.id, value)
    assert "collectivite_enjeu" in asked
    assert dict(session.answers)["collectivite_enjeu"] == "chomage_longue_duree"
    text = conversation.orientation.result_reply(state).text
    assert "aucun nouveau territoire ne peut être habilité" in text
    assert "31 décembre 2026" in text
