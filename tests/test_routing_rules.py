"""Issue 19, the routing: rules as data (knowledge/routing.yaml), checked, and what they do."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.orientation.engine import Engine
from bot.screens.render import Renderer
from bot.territory.geography import Candidate, Geography
from bot.territory.routing import Router
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.routing_rules import load_routing_rules

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography()


@pytest.fixture(scope="module")
def router(kb: KnowledgeBase, geo: Geography) -> Router:
    return Router(kb, geo)


def place(geo: Geography, text: str) -> Candidate:
    best = geo.resolve(text).best
    assert best is not None
    return best


def shown(router: Router, geo: Geography, where: str, *args: object) -> str:
    routing = router.route(place(geo, where), *args)  # type: ignore[arg-type]
    return Renderer().render("routing.j2", routing=routing, only=None, place=routing.territory)


def test_a_freelancer_joining_a_cae_gets_no_loan_guarantee_and_a_cae_network_first(
    router: Router, geo: Geography
) -> None:
    routing = router.route(place(geo, "69001"), "porteur", None, ["cae"])
    assert routing.funders == []  # in a CAE the cooperative carries the activity
    assert routing.contacts[0].item_id == "urscop_ara"  # it names the CAE, near her


def test_a_scop_names_the_union_regionale_first(router: Router, geo: Geography) -> None:
    routing = router.route(place(geo, "62000"), "porteur", "montage", ["scop", "scic"])
    assert routing.contacts[0].item_id == "urscop_hdf"


def test_national_bodies_only_where_they_add_something(router: Router, geo: Geography) -> None:
    lille = router.route(place(geo, "59000"), "porteur", "montage", ["scic"])
    ids = [m.item_id for m in lille.contacts]
    assert "cress_hdf" in ids and "ess_france" not in ids and "avise" not in ids
    assert "cg_scop" not in ids  # the union régionale is shown
    text = shown(router, geo, "59000", "porteur", "montage", ["scic"])
    assert "utile pour trouver la chambre régionale" not in text
    nowhere = router.route(None, "porteur", "montage", ["scic"])
    assert "ess_france" in [m.item_id for m in nowhere.contacts]  # no place: it helps there


def test_every_contact_has_a_link_or_says_how_to_reach_it(router: Router, geo: Geography) -> None:
    text = shown(router, geo, "69001", "porteur", "montage", ["scop"])
    routing = router.route(place(geo, "69001"), "porteur", "montage", ["scop"])
    without = [m for m in routing.contacts if not m.website]
    assert without, "the URSCOP of Auvergne-Rhône-Alpes has no sourced website: this test's case"
    for m in without:
        assert m.reach, m.item_id
    assert text.count("Pour le joindre") == len(without)
    assert 'href="https://www.les-scop.coop"' in text  # the Scop directory, sourced


def test_a_reemploi_fund_is_not_offered_to_a_long_term_unemployment_project(
    router: Router, geo: Geography
) -> None:
    routing = router.route(
        place(geo, "14460"), "collectivite", "existant", ["tzcld", "partenariat_siae"]
    )
    ids = [m.item_id for m in routing.funders]
    assert "ademe_economie_circulaire" not in ids and "fonds_etcld_ebe" in ids
    siae = router.route(place(geo, "14460"), "association", "existant", ["partenariat_siae"])
    assert "ademe_economie_circulaire" in [m.item_id for m in siae.funders]


KbCopy = Callable[[], Path]


def test_kb_check_refuses_rules_naming_what_does_not_exist(kb_copy: KbCopy) -> None:
    root = kb_copy()
    (root / "routing.yaml").write_text(
        "reach:\n  - kind: france_active\n    via: actif_62\n    how: par son réseau\n"
        "national:\n  - contact: inconnu\n    regional_kind: cress\n    why: test\n"
        "first:\n  - schemes: [gamma]\n    why: test\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as info:
        load_routing_rules(load_knowledge(root))
    text = str(info.value)
    assert "routing.yaml [reach[0]]" in text and "site web sourcé" in text
    assert "[national[0]]" in text and "« inconnu » inconnu" in text
    assert "[first[0]]" in text and "« gamma »" in text
    run = subprocess.run(
        [sys.executable, "-m", "bot", "--knowledge", str(root), "kb", "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 1 and "routing.yaml" in run.stderr


def test_the_measured_counts_are_zero(engine: Engine) -> None:
    """Issue 19's counts, over every curators' case and one place per région."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from orientation import measure  # type: ignore[import-not-found]

    counts = measure(ROOT)
    print(counts)
    for key in (
        "contacts_without_link",
        "national_where_regional",
        "funders_not_fitting",
        "alternatives_not_scored",
        "generic_why_not",
        "aucun_cadre_but_scored",
    ):
        assert counts[key] == 0, (key, counts[key])
    assert counts["questions"]["max"] <= 7  # the median is checked in test_orientation.py


def test_financements_says_so_when_no_listed_funder_fits(router: Router, geo: Geography) -> None:
    routing = router.route(place(geo, "69001"), "porteur", None, ["cae"])
    text = Renderer().render("routing.j2", routing=routing, only="funders", place=routing.territory)
    assert "Financements possibles" in text and "Aucun financement recensé ne correspond" in text
