"""The engine on the minimal fixture base: derivation from the answer log, back, restart."""

from __future__ import annotations

import pytest

from bot.orientation.engine import Engine, Session, StaleAnswer, UnknownOption
from knowledge.loader import load_knowledge
from tests.conftest import KB_MIN


@pytest.fixture(scope="module")
def mini() -> Engine:
    return Engine(load_knowledge(KB_MIN))


def test_empty_session_asks_the_first_question(mini: Engine) -> None:
    state = mini.state(Session())
    assert state.question is not None and state.question.id == "profil"
    assert (state.number, state.total) == (1, 2)
    assert not state.finished


def test_answers_lead_to_a_result_with_reasons_in_words(mini: Engine) -> None:
    s = mini.answer(Session(), "profil", "porteur")
    assert mini.state(s).question.id == "taille"  # type: ignore[union-attr]
    s = mini.answer(s, "taille", "grand")
    state = mini.state(s)
    assert state.finished and state.facts == {"profile": "porteur", "size": "grand"}
    result = mini.result(state)
    assert [r.scheme.id for r in result.recommended] == ["alpha"]
    reasons = result.recommended[0].reasons
    # strongest reason first (2 points before 1), each tied to the answer that gave it
    assert [(r.text, r.answer, r.question) for r in reasons] == [
        ("vous êtes nombreux", "Beaucoup", "Taille"),
        ("vous portez un projet", "Porteur", "Profil"),
    ]


def test_excluded_scheme_is_explained_not_recommended(mini: Engine) -> None:
    s = Session((("profil", "collectivite"), ("taille", "grand")))
    result = mini.result(mini.state(s))
    assert "beta" not in [r.scheme.id for r in result.recommended]
    beta = next(a for a in result.alternatives if a.scheme.id == "beta")
    assert beta.excluded
    assert beta.why_not[0].text == "le dispositif bêta est réservé aux petits groupes"


def test_negative_points_are_why_not(mini: Engine) -> None:
    s = Session((("profil", "porteur"), ("taille", "petit")))
    result = mini.result(mini.state(s))
    assert result.unmet
    alpha = next(a for a in result.alternatives if a.scheme.id == "alpha")
    assert [r.text for r in alpha.why_not] == ["il faut être au moins trois"]


def test_unknown_answer_becomes_an_open_point(mini: Engine) -> None:
    s = Session((("profil", "porteur"), ("taille", "ne_sais_pas")))
    state = mini.state(s)
    assert state.facts["size"] is None
    assert mini.result(state).open_points == ["La taille est à préciser."]


def test_back_pops_the_last_answer_and_everything_is_recomputed(mini: Engine) -> None:
    s = Session((("profil", "collectivite"), ("taille", "petit")))
    s = mini.back(s)
    state = mini.state(s)
    assert state.question.id == "taille"  # type: ignore[union-attr]
    s = mini.answer(mini.back(s), "profil", "porteur")
    s = mini.answer(s, "taille", "grand")
    assert [r.scheme.id for r in mini.result(mini.state(s)).recommended] == ["alpha"]
    assert mini.back(Session()) == Session()


def test_restart_clears_the_log(mini: Engine) -> None:
    assert mini.restart() == Session()


def test_stale_and_forged_answers_are_refused(mini: Engine) -> None:
    s = mini.answer(Session(), "profil", "porteur")
    with pytest.raises(StaleAnswer):
        mini.answer(s, "profil", "collectivite")  # that question was already answered
    with pytest.raises(UnknownOption):
        mini.answer(s, "taille", "immense")
    with pytest.raises(StaleAnswer):
        mini.answer(s, "inventee", "x")


def test_session_json_roundtrip_is_small(mini: Engine) -> None:
    s = Session((("profil", "porteur"), ("taille", "grand")))
    raw = s.to_json()
    assert Session.from_json(raw) == s
    assert len(raw) < 100


@pytest.mark.parametrize("raw", [None, "", "{", "[]", '{"a": 3}', '{"a": [[1]]}', "null"])
def test_unreadable_stored_session_starts_over(raw: str | None) -> None:
    assert Session.from_json(raw) == Session()


def test_answers_the_tree_no_longer_has_are_dropped(mini: Engine) -> None:
    s = Session((("profil", "porteur"), ("taille", "ancienne_option"), ("x", "y")))
    state = mini.state(s)
    assert state.session == Session((("profil", "porteur"),))
    assert state.dropped == 2
    assert state.question.id == "taille"  # type: ignore[union-attr]


def test_deep_link_preset(mini: Engine) -> None:
    assert mini.preset("profile", "collectivite") == Session((("profil", "collectivite"),))
    with pytest.raises(UnknownOption):
        mini.preset("profile", "martien")


def test_engine_is_deterministic(mini: Engine) -> None:
    s = Session((("profil", "collectivite"), ("taille", "grand")))
    first = mini.result(mini.state(s))
    again = mini.result(mini.state(s))
    assert [a.scheme.id for a in first.alternatives] == [a.scheme.id for a in again.alternatives]
