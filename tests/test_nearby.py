"""Near the person (issue 21): what already runs there, open aids, the Région's ESS service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.cli import main
from bot.dialogue.parts import Parts
from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from bot.territory.coverage import PROFILES, measure
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.schema import REGIONS

KbCopy = Callable[[], Path]

INITIATIVE = """
sources:
  liste:
    title: "Liste des territoires habilités"
    url: https://example.org/liste
    verified_at: 2026-12-01
initiatives:
  - id: tz_test
    name: "Territoire test"
    kind: tzcld
    departements: ["29"]
    sources: [liste]
    verified_at: 2026-12-01
    review_by: 2026-12-31
"""


@pytest.fixture(scope="module")
def parts(kb: KnowledgeBase) -> Parts:
    return Parts(kb)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_departement_gets_initiatives_aids_and_its_region_service(
    parts: Parts, profile: str
) -> None:
    total = measure(parts, profile).total
    assert total.places == 101
    assert total.initiatives == total.places  # an initiative named, or « aucune connue »
    assert total.aids == total.places  # a filtered link to Aides-territoires
    assert total.region_service == total.places  # the Région's ESS service, by name


def test_every_region_has_its_ess_service(kb: KnowledgeBase) -> None:
    regions = {r for c in kb.contacts if c.kind == "collectivite" for r in c.scope.regions}
    assert regions == set(REGIONS)


def test_a_town_near_nantes_reads_the_zero_chomeur_territories_nearby(
    conversation: Conversation,
) -> None:
    session = Session((("profil", "collectivite"),), "d:44")
    reply = conversation.territory.nearby_reply(conversation.engine.state(session))
    assert reply is not None
    text = reply.text
    assert "Près de chez vous" in text
    assert "Territoires zéro chômeur : " in text and "Rezé" in text
    assert "Région Pays de la Loire" in text
    assert "aides-territoires.beta.gouv.fr/aides/?targeted_audiences=commune" in text


def test_where_none_is_known_it_says_so_with_the_network_list(
    conversation: Conversation,
) -> None:
    session = Session((("profil", "collectivite"),), "d:2A")
    reply = conversation.territory.nearby_reply(conversation.engine.state(session))
    assert reply is not None
    text = reply.text
    assert "Territoire zéro chômeur : aucune initiative connue ici dans ma base" in text
    assert "data.gouv.fr" in text  # the official list, not an invented entry
    assert "Collectivité de Corse" in text


def test_the_aids_link_uses_aides_territoires_own_parameters(parts: Parts) -> None:
    place = parts.geo.dep_candidate("58")
    url, by_place = parts.nearby.aids_link(place, "entreprise", ["tiers_lieu"])
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://aides-territoires.beta.gouv.fr/aides/?")
    assert query == {"targeted_audiences": ["private_sector"], "text": ["tiers-lieu"]}
    assert by_place is False  # no perimeter id read on Aides-territoires for the Nièvre yet


def test_a_company_is_pointed_to_partners_and_the_state_service(parts: Parts) -> None:
    place = parts.geo.dep_candidate("40")
    view = parts.nearby.find(place, "entreprise", "idee", ["partenariat_siae"])
    assert "Le Marché de l'inclusion" in [r.name for r in view.resources]
    assert view.state_service is not None and view.state_service.name == "DREETS Nouvelle-Aquitaine"


def test_the_public_services_are_not_counted_among_support_networks(parts: Parts) -> None:
    routing = parts.router.route(parts.geo.dep_candidate("59"), "porteur", None, [])
    assert all(not m.item_id.startswith(("region_", "dreets_")) for m in routing.contacts)


def test_an_entry_without_verified_at_is_refused(kb_copy: KbCopy) -> None:
    root = kb_copy()
    (root / "nearby").mkdir()
    (root / "nearby" / "here.yaml").write_text(
        INITIATIVE.replace("    verified_at: 2026-12-01\n    review_by", "    review_by"),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    message = str(caught.value)
    assert "knowledge/nearby/here.yaml" in message and "tz_test" in message
    assert "verified_at" in message


def test_an_entry_with_an_unknown_source_is_refused(kb_copy: KbCopy) -> None:
    root = kb_copy()
    (root / "nearby").mkdir()
    (root / "nearby" / "here.yaml").write_text(
        INITIATIVE.replace("sources: [liste]", "sources: [ailleurs]"), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError, match="source inconnue « ailleurs »"):
        load_knowledge(root)


def test_kb_check_fails_once_an_initiative_is_due_for_review(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    (root / "nearby").mkdir()
    (root / "nearby" / "here.yaml").write_text(INITIATIVE, encoding="utf-8")
    assert main(["--knowledge", str(root), "kb", "check", "--today", "2026-12-31"]) == 0
    capsys.readouterr()
    assert main(["--knowledge", str(root), "kb", "check", "--today", "2027-01-01"]) == 1
    err = capsys.readouterr().err
    assert "here.yaml [tz_test]: à revoir depuis le 2026-12-31" in err


def test_kb_export_writes_json_valid_against_its_generated_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import jsonschema

    out, schema_file = tmp_path / "kb.json", tmp_path / "schema.json"
    args = ["kb", "export", "-o", str(out), "--schema", str(schema_file), "--today", "2026-12-01"]
    assert main(args) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert data["licence"].startswith("Licence Ouverte")
    assert {s["id"] for s in data["schemes"]} >= {"scic", "tzcld", "ptce"}
    tz = next(i for i in data["nearby"]["initiatives"] if i["id"] == "tz_reze")
    assert tz["verified_at"] == "2026-12-01" and tz["review_by"] == "2026-12-31"
    assert all(s["verified_at"] for s in data["directory_sources"].values())
    broken = dict(data, schemes=[{"id": "scic"}])  # the schema refuses an incomplete fiche
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_a_fiche_opened_with_a_place_says_what_runs_nearby(conversation: Conversation) -> None:
    kb = conversation.engine.kb
    nantes = Session((("profil", "collectivite"),), "c:44109")
    replies = conversation.fiche(kb.schemes["tzcld"], nantes)
    assert replies[-1].text.startswith("📍 <b>Près de chez vous</b> (Nantes)")
    assert "Rezé" in replies[-1].text and "aides-territoires" in replies[-1].text
    assert replies[-1].buttons  # the way back stays on the last message
    nowhere = conversation.fiche(kb.schemes["tzcld"], Session())
    assert "Près de chez vous" not in "\n".join(r.text for r in nowhere)


def test_a_contact_whose_area_is_finer_than_the_departement_says_so(parts: Parts) -> None:
    routing = parts.router.route(parts.geo.dep_candidate("21"), "collectivite", None, [])
    generateur = next(m for m in routing.contacts if m.item_id == "generateur_bfc")
    assert generateur.reason.endswith("(avec les intercommunalités et communes qu'il accompagne)")


def test_cooperating_structures_are_told_where_to_meet_their_peers(parts: Parts) -> None:
    view = parts.nearby.find(parts.geo.dep_candidate("31"), "association", None, ["ptce"])
    names = [r.name for r in view.resources]
    assert "Le Mois de l'ESS (chaque novembre)" in names
    assert any(c.name.startswith("AMI « PTCE émergents »") for c in view.calls)


def test_an_association_that_already_runs_gets_the_dla_and_the_cpo(parts: Parts) -> None:
    running = parts.nearby.find(parts.geo.dep_candidate("35"), "association", "existant", [])
    names = [r.name for r in running.resources]
    assert "Le DLA de votre département" in names
    assert "La convention pluriannuelle d'objectifs (CPO)" in names
    starting = parts.nearby.find(parts.geo.dep_candidate("35"), "association", "idee", [])
    assert "Le DLA de votre département" not in [r.name for r in starting.resources]


def test_giving_a_place_shows_near_you_then_who_can_help_with_its_buttons(
    conversation: Conversation,
) -> None:
    state = conversation.engine.state(Session((("profil", "collectivite"),)))
    turn = conversation.territory.set_place(state, "d:44")
    texts = [r.text for r in turn.replies]
    near = next(i for i, t in enumerate(texts) if "Près de chez vous" in t)
    assert texts[near].startswith("📍 <b>Près de chez vous</b> (Loire-Atlantique)")
    assert "(44)" not in texts[near]  # the place's label stays the routing message's own
    assert "Qui peut vous accompagner" in texts[near + 1]
    assert turn.replies[near + 1].buttons and not turn.replies[near].buttons
    assert all(len(t) <= 2500 for t in texts[near : near + 1])


def test_a_maison_de_l_ess_is_shown_where_there_is_one(parts: Parts) -> None:
    orleans = parts.nearby.find(parts.geo.dep_candidate("45"), "porteur", None, [])
    assert any(g.label == "Maison de l'ESS" for g in orleans.groups)
    tours = parts.nearby.find(parts.geo.dep_candidate("37"), "porteur", None, [])
    assert not any("maison" in label for label, _ in tours.none_known)
