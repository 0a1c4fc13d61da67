"""Promises of the project itself: README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands() -> None:
    chat, tests = readme_commands()[:2]
    assert chat.endswith("python -m bot chat") and "pip install" in chat
    assert tests.endswith("python -m pytest") and "pip install" in tests


def test_ci_runs_readme_test_command() -> None:
    tests = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"TEST_COMMAND='{tests}'" in ci
    assert 'bash -c "$TEST_COMMAND"' in ci


def test_readme_shows_the_current_decision_tree() -> None:
    from bot.graph import mermaid
    from knowledge.loader import load_knowledge

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert mermaid(load_knowledge()).rstrip() in readme, (
        "README's diagram is out of date: run `python -m bot kb graph` and paste it"
    )


def test_env_example_lists_every_setting() -> None:
    from bot.config import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = {
        line.removeprefix("# ").split("=", 1)[0]
        for line in example.splitlines()
        if re.match(r"(# )?[A-Z_]+=", line)
    }
    assert names == {name.upper() for name in Settings.model_fields}
