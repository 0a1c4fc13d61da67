"""`python -m bot chat` driven end to end through piped stdin, as a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chat(lines: list[str], db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--database", f"sqlite+aiosqlite:///{db}", *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_console_orientation_from_start_to_recommendation(tmp_path: Path) -> None:
    run = chat(
        [
            "collectivite",  # typed, matched to the option
            "aide",
            "chomage",  # fuzzy
            "associee",
            "retour",
            "1",  # associée again, by its number
            "insertion",
            "idee",
            "fiche zero chomeur",
            "quitter",
        ],
        tmp_path / "chat.db",
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Bienvenue sur Boussole" in out
    assert "Quel enjeu voulez-vous traiter en priorité ?" in out
    assert "une ville touchée par la désindustrialisation" in out  # the help text
    assert "Voici ce que je vous recommande" in out
    assert "1. Territoires zéro chômeur" in out
    assert "<b>" not in out  # HTML is turned into plain text
    assert "À bientôt sur Boussole" in out


def test_console_ends_cleanly_at_end_of_input_and_resumes_next_time(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    run = chat(["porteur"], db)
    assert run.returncode == 0
    assert "Qu'est-ce qui décrit le mieux le projet ?" in run.stdout
    assert "Vos réponses sont gardées" in run.stdout
    again = chat(["1"], db)
    assert "Reprenons où vous en étiez (1 réponse déjà donnée)" in again.stdout
    assert "Comment voulez-vous démarrer ?" in again.stdout  # "1" answered the resumed question
    fresh = chat([], db, "--new")
    assert "Reprenons" not in fresh.stdout and "qui êtes-vous ?" in fresh.stdout


def bot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_kb_check_and_graph_commands() -> None:
    check = bot("kb", "check")
    assert check.returncode == 0, check.stderr
    assert "fiches" in check.stdout and "chemin le plus long" in check.stdout
    graph = bot("kb", "graph")
    assert graph.returncode == 0 and graph.stdout.startswith("flowchart TD")
    assert "profil -->" in graph.stdout
    cases = bot("kb", "cases")
    assert cases.returncode == 0 and "RepareSeb" in cases.stdout and " 0 failed" in cases.stdout


def test_kb_check_refuses_a_broken_base_with_a_non_zero_exit(tmp_path: Path) -> None:
    (tmp_path / "schemes").mkdir()
    (tmp_path / "tree.yaml").write_text("settings: {start: x}\nquestions: []\n")
    run = bot("--knowledge", str(tmp_path), "kb", "check")
    assert run.returncode == 1
    assert "base refusée" in run.stderr and "tree.yaml" in run.stderr


def test_run_without_a_token_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,  # no .env here
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in done.stderr and "@BotFather" in done.stderr
    assert "python -m bot chat" in done.stderr
