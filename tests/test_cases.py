"""The curators' YAML case files (knowledge/cases/), one pytest test per case."""

from __future__ import annotations

import pytest

from bot.orientation.cases import run_case
from bot.orientation.engine import Engine
from knowledge.loader import KnowledgeBase, load_cases
from knowledge.schema import Case

CASES = load_cases()


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_case(engine: Engine, name: str, case: Case) -> None:
    failures = run_case(engine, case)
    assert not failures, f"{name}:\n" + "\n".join(failures)


def test_every_scheme_is_covered_by_a_case(kb: KnowledgeBase) -> None:
    covered: set[str] = set()
    for _, case in CASES:
        covered.update(case.expect_in_top, case.expect_recommended)
        if case.expect_first:
            covered.add(case.expect_first)
    assert sorted(set(kb.schemes) - covered) == []


def test_the_seed_cases_are_all_there() -> None:
    names = " ".join(name for name, _ in CASES)
    for seed in (
        "RepareSeb",
        "Pas-de-Calais",
        "Colombelles",
        "Voisinerie",
        "Champs des Possibles",
        "Phares",
        "Générateur",
    ):
        assert seed in names


def test_a_wrong_expectation_is_reported_in_words(engine: Engine) -> None:
    case = Case(
        name="faux",
        answers={"profil": "entreprise", "entreprise_objectif": "soutenir"},
        expect_next_question="stade",
    )
    assert run_case(engine, case) == [
        "question suivante : « entreprise_partenaire », attendu « stade »"
    ]
    off_path = Case(name="hors chemin", answers={"profil": "entreprise", "stade": "idee"})
    assert run_case(engine, off_path) == [
        "le moteur pose « entreprise_objectif » au lieu de « stade »"
    ]
