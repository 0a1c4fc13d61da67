"""Territory resolution over the real 2026 geographic code (knowledge/geo/france.json.gz)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.territory.geography import Geography
from knowledge.schema import REGIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography()


def test_data_covers_france(geo: Geography) -> None:
    # the 18 régions the directory uses, with the official names (plus overseas collectivités)
    assert REGIONS.items() <= geo.regions.items()
    assert len(geo.departements) >= 101  # 96 + 5 overseas, and the overseas collectivités
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(geo.departements)
    assert len(geo.communes) > 34_900


@pytest.mark.parametrize(
    ("typed", "label", "region"),
    [
        ("62000", "Arras (62)", "Hauts-de-France"),
        ("62", "Pas-de-Calais (62)", "Hauts-de-France"),
        ("Pas de Calais", "Pas-de-Calais (62)", "Hauts-de-France"),
        ("pas-de-calais", "Pas-de-Calais (62)", "Hauts-de-France"),
        ("2A", "Corse-du-Sud (2A)", "Corse"),
        ("2b", "Haute-Corse (2B)", "Corse"),
        ("20000", "Ajaccio (2A)", "Corse"),
        ("Seine St Denis", "Seine-Saint-Denis (93)", "Île-de-France"),
        ("Colombelles", "Colombelles (14)", "Normandie"),
        ("ile st denis", "L'Île-Saint-Denis (93)", "Île-de-France"),
        ("L'Île-Saint-Denis", "L'Île-Saint-Denis (93)", "Île-de-France"),
        ("st etienne", "Saint-Étienne (42)", "Auvergne-Rhône-Alpes"),
        ("75018", "Paris 18e Arrondissement (75)", "Île-de-France"),
        ("paris 18", "Paris 18e Arrondissement (75)", "Île-de-France"),
        ("59000 Lille", "Lille (59)", "Hauts-de-France"),
        ("974", "La Réunion (974)", "La Réunion"),
        ("97600", "Mamoudzou (976)", "Mayotte"),
        ("Mayotte", "Mayotte (976)", "Mayotte"),
        ("Hauts de France", "Hauts-de-France", "Hauts-de-France"),
        ("cote d'or", "Côte-d'Or (21)", "Bourgogne-Franche-Comté"),
    ],
)
def test_resolves(geo: Geography, typed: str, label: str, region: str) -> None:
    resolution = geo.resolve(typed)
    assert resolution.status == "found", [c.label for c in resolution.candidates]
    best = resolution.best
    assert best is not None
    assert best.label == label
    assert best.region.name == region


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Saint-Denis", {"Saint-Denis (93)", "Saint-Denis (974)"}),
        ("20", {"Corse-du-Sud (2A)", "Haute-Corse (2B)"}),
        ("01200", {"Valserhône (01)", "Éloise (74)"}),
    ],
)
def test_ambiguous_input_lists_the_candidates(
    geo: Geography, typed: str, expected: set[str]
) -> None:
    resolution = geo.resolve(typed)
    assert resolution.status == "ambiguous" and resolution.best is None
    assert expected <= {c.label for c in resolution.candidates}


@pytest.mark.parametrize(
    ("typed", "proposed"),
    [
        ("colombelle", ["Colombelles (14)"]),
        ("marseile", ["Marseille (13)"]),
        ("Colombles", ["Colombes (92)", "Colombelles (14)"]),  # the README's typo
        ("Florac", ["Florac Trois Rivières (48)", "Floirac (33)"]),  # merged in 2016
    ],
)
def test_a_name_matched_approximately_is_proposed_never_taken(
    geo: Geography, typed: str, proposed: list[str]
) -> None:
    resolution = geo.resolve(typed)
    assert resolution.status == "approximate" and resolution.best is None
    labels = [c.label for c in resolution.candidates]
    assert labels[: len(proposed)] == proposed and len(labels) <= 4


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("Annecy-le-Vieux", "Annecy (74)"),  # commune déléguée since 2017
        ("Cherbourg-Octeville", "Cherbourg-en-Cotentin (50)"),
        ("Clermont-Fd", "Clermont-Ferrand (63)"),
        ("Boulogne-s/-Mer", "Boulogne-sur-Mer (62)"),
        ("St-Etienne-du-Rouvray", "Saint-Étienne-du-Rouvray (76)"),
        ("Ste Maxime", "Sainte-Maxime (83)"),
        ("La Réunion", "La Réunion (974)"),  # one département: found, not asked
        ("Guadeloupe", "Guadeloupe (971)"),
        ("Martinique", "Martinique (972)"),
        ("Guyane", "Guyane (973)"),
        ("Bretagne", "Bretagne"),  # the région, not the hamlet of the Territoire de Belfort
    ],
)
def test_old_names_abbreviations_and_single_departement_regions(
    geo: Geography, typed: str, label: str
) -> None:
    resolution = geo.resolve(typed)
    assert resolution.status == "found", [c.label for c in resolution.candidates]
    assert resolution.best is not None and resolution.best.label == label


def test_corse_stays_a_question(geo: Geography) -> None:
    resolution = geo.resolve("Corse")
    assert resolution.status == "ambiguous"
    assert {c.label for c in resolution.candidates} == {"Corse-du-Sud (2A)", "Haute-Corse (2B)"}


@pytest.mark.parametrize("typed", ["xyzzy", "", "   ", "99999", "00", "n'importe quoi"])
def test_nonsense_is_not_found(geo: Geography, typed: str) -> None:
    assert geo.resolve(typed).status == "not_found"


def test_huge_input_is_cut_before_matching(geo: Geography) -> None:
    resolution = geo.resolve("<b>lille</b>" * 400)
    assert len(resolution.query) == 120
    assert resolution.status in ("found", "ambiguous", "not_found")


def test_keys_round_trip(geo: Geography) -> None:
    for typed in ("Colombelles", "62", "Bretagne"):
        for candidate in geo.resolve(typed).candidates:
            again = geo.from_key(candidate.key)
            assert again is not None and again.key == candidate.key
    assert geo.from_key("c:00000") is None and geo.from_key("zz") is None


def test_where_command_prints_json() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot", "where", "colombelle"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["status"] == "approximate"  # proposed, not taken
    first = data["candidates"][0]
    assert first["commune"] == {"code": "14167", "name": "Colombelles"}
    assert first["departement"]["code"] == "14" and first["region"]["code"] == "28"
    assert 0 < first["score"] <= 100
