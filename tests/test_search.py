"""Scheme search over names and aliases: case, accents and typos do not matter."""

from __future__ import annotations

import pytest

from bot.orientation.search import SchemeSearch
from knowledge.loader import KnowledgeBase


@pytest.fixture(scope="module")
def search(kb: KnowledgeBase) -> SchemeSearch:
    return SchemeSearch(kb)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("scic", "scic"),
        ("SCOP", "scop"),
        ("Société coopérative d'intérêt collectif", "scic"),
        ("cooperative d'activite", "cae"),
        ("coopérative d'activité et d'emploi", "cae"),
        ("zero chomeur", "tzcld"),
        ("Territoire zéro chômeur", "tzcld"),
        ("entreprise à but d'emploi", "tzcld"),
        ("bail commercial utilite sociale", "bcus"),
        ("bail utilité sociale", "bcus"),
        ("joint venture sociale", "jvs"),
        ("tiers-lieu", "tiers_lieu"),
        ("espace test agricole", "espace_test_agricole"),
        ("couveuse", "couveuse"),
        ("agrement esus", "esus"),
        ("ptce", "ptce"),
        ("mécénat", "mecenat"),
        ("ecologie industrielle", "eit"),
        ("sicc", "scic"),  # typo
        ("zéro chomeurs", "tzcld"),
        ("  SCIC  ", "scic"),
    ],
)
def test_found(search: SchemeSearch, query: str, expected: str) -> None:
    result = search.search(query)
    assert result.found is not None, (query, [s.id for s in result.suggestions])
    assert result.found.id == expected


@pytest.mark.parametrize("query", ["xylophone quantique", "", "a", "??", "<b>"])
def test_not_found(search: SchemeSearch, query: str) -> None:
    result = search.search(query)
    assert result.found is None and not result.ambiguous


def test_ambiguous_query_gives_suggestions(search: SchemeSearch) -> None:
    result = search.search("coopérative")
    assert result.found is None
    assert result.ambiguous
    ids = {s.id for s in result.suggestions}
    assert {"scic", "scop"} & ids
