"""Contacts and funders for a territory: closest first, each with its reason, gaps visible."""

from __future__ import annotations

import pytest

from bot.territory.geography import Candidate, Geography
from bot.territory.routing import Router, effective_profile
from knowledge.loader import KnowledgeBase, load_knowledge
from knowledge.schema import REGIONS, ContactKind
from tests.conftest import KB_MIN


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography()


@pytest.fixture(scope="module")
def mini_router(geo: Geography) -> Router:
    return Router(load_knowledge(KB_MIN), geo)


def place(geo: Geography, text: str) -> Candidate:
    best = geo.resolve(text).best
    assert best is not None, text
    return best


def test_closest_first_with_reasons(mini_router: Router, geo: Geography) -> None:
    routing = mini_router.route(place(geo, "Arras"), "porteur", "idee", ["alpha"])
    assert [m.item_id for m in routing.contacts] == ["actif_62", "cress_32", "tete_de_reseau"]
    assert [m.level for m in routing.contacts] == ["departement", "region", "national"]
    assert routing.contacts[0].reason == (
        "Pour votre projet (Alpha), dans le département Pas-de-Calais"
    )
    assert routing.contacts[1].reason == "Pour tout projet de l'ESS, dans les Hauts-de-France"
    assert routing.contacts[2].reason == "Pour tout projet de l'ESS, au niveau national"
    assert routing.local
    assert [m.item_id for m in routing.funders] == ["pret_idees"]


def test_filters_by_scheme_profile_and_stage(mini_router: Router, geo: Geography) -> None:
    # a project that does not need alpha: the alpha-only contact is not shown
    routing = mini_router.route(place(geo, "62"), "porteur", "existant", ["beta"])
    ids = [m.item_id for m in routing.contacts]
    assert "actif_62" not in ids and "collectivites_seulement" not in ids
    assert routing.funders == []  # the loan is for ideas and projects being set up
    for_a_town = mini_router.route(place(geo, "62"), "collectivite", None, ["beta"])
    assert "collectivites_seulement" in [m.item_id for m in for_a_town.contacts]


def test_inactive_contact_is_never_shown_and_fallback_is_national(
    mini_router: Router, geo: Geography
) -> None:
    routing = mini_router.route(place(geo, "Colombelles"), "porteur", None, ["alpha"])
    assert not routing.local
    assert [m.item_id for m in routing.contacts] == ["tete_de_reseau"]
    assert routing.where == "en Normandie"


def test_no_territory_gives_national_contacts(mini_router: Router) -> None:
    routing = mini_router.route(None, "porteur", None, [])
    assert {m.level for m in routing.contacts} == {"national"}


def test_gaps_per_region(mini_router: Router) -> None:
    gaps = mini_router.gaps()
    assert set(gaps) == set(REGIONS)
    assert ContactKind.cress not in gaps["32"] and ContactKind.france_active not in gaps["32"]
    assert ContactKind.cress in gaps["28"]  # the only Normandy CRESS is inactive


# --------------------------------------------------------------- the real directory


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_every_region_routes_somewhere_and_only_nearby(
    kb: KnowledgeBase, geo: Geography, region: str
) -> None:
    router = Router(kb, geo)
    routing = router.route(geo.from_key(f"r:{region}"), "porteur", "montage", ["scic", "scop"])
    assert routing.contacts, f"nobody to contact in {REGIONS[region]}"
    for match in routing.contacts:
        contact = next(c for c in kb.contacts if c.id == match.item_id)
        assert contact.active
        assert match.level == "national" or region in contact.scope.regions


def test_real_directory_has_the_seed_networks(kb: KnowledgeBase, geo: Geography) -> None:
    router = Router(kb, geo)
    lille = router.route(place(geo, "Lille"), "porteur", "montage", ["scic", "bcus"])
    names = " ".join(m.name for m in lille.contacts)
    assert "CRESS" in names and "Hauts-de-France" in names
    normandie = router.route(place(geo, "Colombelles"), "collectivite", "idee", ["tzcld"])
    assert all("liquidation" not in (m.note or "") for m in normandie.contacts)


def test_an_owner_or_someone_outside_the_profiles_is_not_filtered_out() -> None:
    """« Propriétaire de locaux » or « autre situation » are answers, not audiences: every
    network may look at the case, instead of only those that list no profile."""
    assert effective_profile({"profile": "proprietaire"}) is None
    assert effective_profile({"profile": "autre"}) is None
    assert effective_profile({"profile": "reseau", "on_behalf": "proprietaire"}) is None
    assert effective_profile({"profile": "association"}) == "association"


def test_a_social_landlord_is_routed_to_networks_that_serve_porteurs_too(
    kb: KnowledgeBase, geo: Geography
) -> None:
    router = Router(kb, geo)
    facts = {"profile": "proprietaire"}
    routing = router.route(place(geo, "Lille"), effective_profile(facts), None, ["bcus"])
    ids = [m.item_id for m in routing.contacts]
    # France Active lists the profiles it serves: a raw « proprietaire » would have hidden it
    # from a landlord looking for a financer for its tenants; its local association is shown,
    # so the national head is not (knowledge/routing.yaml, `national`)
    assert "nord_actif" in ids and "france_active" not in ids, ids
    assert "apes_hdf" in ids, ids  # the network that invented the BCUS
