"""`kb check` fails on what went stale or leaked; `kb stale` lists what to re-read first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.test_loader import edit

KbCopy = Callable[[], Path]


def kb(root: Path, *args: str) -> int:
    return main(["--knowledge", str(root), "kb", *args])


def test_the_shipped_base_passes_today(capsys: pytest.CaptureFixture[str]) -> None:
    assert kb(Path("knowledge"), "check", "--today", "2026-12-01") == 0
    out = capsys.readouterr().out
    assert "✓ base de connaissances valide" in out
    assert "notes de curateurs ouvertes" in out and "régions sans trou silencieux" in out


def test_a_past_review_date_fails(kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "alpha.yaml",
        "    sources: [loi]\nconditions:",
        "    sources: [loi]\n    review_by: 2026-06-30\nconditions:",
    )
    assert kb(root, "check", "--today", "2026-06-30") == 0  # due today: still fine
    capsys.readouterr()
    assert kb(root, "check", "--today", "2026-07-01") == 1
    err = capsys.readouterr().err
    assert "knowledge/schemes/alpha.yaml [alpha › legal_basis[0]]" in err
    assert "date de revue dépassée (2026-06-30)" in err


def test_a_curators_note_in_a_user_field_fails(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "beta.yaml",
        "pitch: Un dispositif de test.",
        "pitch: Un dispositif de test (nom non confirmé).",
    )
    assert kb(root, "check", "--today", "2026-12-01") == 1
    err = capsys.readouterr().err
    assert "[beta › pitch]" in err and "« non confirmé »" in err and "`curators`" in err


def test_a_doubt_in_a_contact_caution_fails(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    edit(
        root / "directory" / "contacts.yaml",
        "    what: Finance les projets du Pas-de-Calais.",
        "    what: Finance les projets du Pas-de-Calais.\n    caution: Périmètre à vérifier.",
    )
    assert kb(root, "check", "--today", "2026-12-01") == 1
    assert "[actif_62 › caution]" in capsys.readouterr().err


def test_wikipedia_alone_cannot_source_a_legal_fact(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "alpha.yaml",
        "    ref: Loi n° 0000-1 du 1er janvier 2000, art. 1",
        "    url: https://fr.wikipedia.org/wiki/Loi_de_test",
    )
    assert kb(root, "check", "--today", "2026-12-01") == 1
    assert "Wikipédia seulement" in capsys.readouterr().err


def test_open_notes_are_listed_with_their_age(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kb(kb_copy(), "check", "--today", "2026-12-01") == 0
    out = capsys.readouterr().out
    assert "notes de curateurs ouvertes : 1" in out
    assert "30 j  knowledge/directory/contacts.yaml [ancienne_cress_28] en liquidation" in out


def test_stale_lists_facts_oldest_first(
    kb_copy: KbCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kb_copy()
    edit(
        root / "schemes" / "alpha.yaml",
        "    verified_at: 2026-11-23",
        "    verified_at: 2025-01-15",
    )
    assert kb(root, "stale", "--today", "2026-12-01") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert all(line.startswith("  2025-01-15   685 j") for line in lines[:2])
    assert "knowledge/schemes/alpha.yaml [alpha › conditions[0]] Être au moins trois." in lines[0]
    assert "knowledge/schemes/alpha.yaml [alpha › legal_basis[0]]" in lines[1]
    assert any("knowledge/directory/contacts.yaml [actif_62]" in line for line in lines)
    assert kb(root, "stale", "--months", "6", "--today", "2026-12-01") == 0
    recent = capsys.readouterr().out
    assert "alpha › conditions[0]" in recent and "actif_62" not in recent
