"""Each refusal of the knowledge check, with a broken copy of a minimal valid base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from knowledge.loader import KnowledgeError, load_knowledge

KbCopy = Callable[[], Path]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(root: Path) -> str:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    return str(info.value)


def test_minimal_fixture_is_valid(kb_copy: KbCopy) -> None:
    kb = load_knowledge(kb_copy())
    assert kb.stats.schemes == 2
    assert kb.stats.questions == 2
    assert kb.stats.paths == 6  # 2 profiles x 3 sizes
    assert kb.stats.longest_path == 2


def test_schema_error_names_file_entry_field_and_fix(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "alpha.yaml", "kind: statut", "kind: statutt")
    message = refused(root)
    assert "knowledge/schemes/alpha.yaml:4 [alpha]" in message
    assert "kind" in message and "choisissez une valeur permise" in message


def test_missing_field(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "beta.yaml", "pitch: Un dispositif de test.\n", "")
    message = refused(root)
    assert "[beta]" in message and "pitch" in message and "ajoutez ce champ" in message


def test_unknown_field_is_a_typo(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "beta.yaml", "pitch:", "pitsh:")
    assert "faute de frappe" in refused(root)


def test_invalid_yaml_gives_the_line(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "tree.yaml", "    short: Taille", "    short: [Taille")
    message = refused(root)
    assert "knowledge/tree.yaml:" in message and "YAML invalide" in message


def test_unknown_next_question(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(
        root / "tree.yaml",
        "next: taille\n        effects:\n          - scheme: alpha",
        "next: tail\n        effects:\n          - scheme: alpha",
    )
    message = refused(root)
    assert "[profil]" in message and "question inconnue « tail »" in message
    assert "vouliez-vous dire « taille »" in message


def test_unknown_scheme_in_effect(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(
        root / "tree.yaml",
        "scheme: beta\n            points: 2",
        "scheme: betta\n            points: 2",
    )
    message = refused(root)
    assert "fiche inconnue « betta »" in message and "« beta »" in message


def test_unknown_source_key(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "alpha.yaml", "sources: [loi]", "sources: [lio]")
    message = refused(root)
    assert "source inconnue « lio »" in message and "« loi »" in message


def test_fact_without_source(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "alpha.yaml",
        "  - text: Être au moins trois.\n    sources: [loi]",
        "  - text: Être au moins trois.",
    )
    message = refused(root)
    assert "conditions[0]" in message and "n'a pas de source" in message


def test_source_needs_url_or_reference(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "alpha.yaml", "    ref: Loi n° 0000-1 du 1er janvier 2000, art. 1\n", ""
    )
    assert "url" in refused(root)


def test_source_needs_verified_at(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "beta.yaml", "    verified_at: 2026-11-23\n", "")
    message = refused(root)
    assert "verified_at" in message and "[beta]" in message


def test_unreachable_question(kb_copy: KbCopy) -> None:
    root = kb_copy()
    data = yaml.safe_load((root / "tree.yaml").read_text(encoding="utf-8"))
    orphan = dict(data["questions"][1], id="orpheline")
    data["questions"].append(orphan)
    (root / "tree.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    message = refused(root)
    assert "[orpheline]" in message and "inaccessible" in message


def test_dead_end(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "tree.yaml", "    next: result\n", "")
    message = refused(root)
    assert "impasse" in message and "[taille]" in message


def test_cycle(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "tree.yaml", "    next: result\n", "    next: profil\n")
    message = refused(root)
    assert "boucle" in message and "profil → taille → profil" in message


def test_scheme_no_path_can_recommend(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "tree.yaml", "recommend_threshold: 2", "recommend_threshold: 4")
    message = refused(root)
    assert "aucun chemin ne recommande cette fiche" in message and "[beta]" in message


def test_duplicate_scheme_id(kb_copy: KbCopy) -> None:
    root = kb_copy()
    text = (root / "schemes" / "beta.yaml").read_text(encoding="utf-8")
    (root / "schemes" / "beta2.yaml").write_text(text.replace("aliases: [beta]", "aliases: []"))
    message = refused(root)
    assert "identifiant en double" in message and "beta2.yaml" in message


def test_file_name_must_match_id(kb_copy: KbCopy) -> None:
    root = kb_copy()
    (root / "schemes" / "beta.yaml").rename(root / "schemes" / "gamma.yaml")
    assert "renommez le fichier en « beta.yaml »" in refused(root)


def test_duplicate_question_id(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "tree.yaml", "  - id: taille", "  - id: profil")
    assert "identifiant de question en double" in refused(root)


def test_duplicate_alias_across_schemes(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "beta.yaml", "aliases: [beta]", "aliases: [beta, Première forme]")
    message = refused(root)
    assert "« Première forme » est déjà utilisé par la fiche « alpha »" in message


def test_every_problem_is_reported_at_once(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "alpha.yaml", "sources: [loi]", "sources: [lio]")
    edit(root / "schemes" / "beta.yaml", "kind: dispositif", "kind: nope")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    assert len(info.value.problems) >= 2


def test_directory_unknown_source_and_scheme(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "directory" / "contacts.yaml", "schemes: [alpha]", "schemes: [alfa]")
    edit(
        root / "directory" / "contacts.yaml",
        "    sources: [annuaire]\n  - id: cress_32",
        "    sources: [anuaire]\n  - id: cress_32",
    )
    message = refused(root)
    assert "knowledge/directory/contacts.yaml" in message and "[actif_62]" in message
    assert "fiche inconnue « alfa »" in message
    assert "l'entrée cite la source inconnue « anuaire »" in message and "« annuaire »" in message


def test_ids_too_long_for_a_telegram_button(kb_copy: KbCopy) -> None:
    root = kb_copy()
    tree = root / "tree.yaml"
    text = tree.read_text(encoding="utf-8").replace("next: taille", "next: taille_du_projet")
    text = text.replace("  - id: taille", "  - id: taille_du_projet")
    tree.write_text(text, encoding="utf-8")
    edit(tree, "      - value: petit", "      - value: " + "p" * 40)  # 16 + 40 > 48
    message = refused(root)
    assert "trop long pour un bouton Telegram" in message and "[taille_du_projet]" in message


def test_an_old_warning_field_says_how_it_was_split(kb_copy: KbCopy) -> None:
    root = kb_copy()
    edit(root / "schemes" / "beta.yaml", "pitch:", "warning: Source à vérifier.\npitch:")
    message = refused(root)
    assert "warning" in message and "`caution`" in message and "`curators`" in message
