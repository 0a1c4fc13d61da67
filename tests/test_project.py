"""Promises of the project itself: README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands() -> None:
    chat, tests = readme_commands()[:2]
    assert chat.endswith("python -m bot chat") and "pip install" in chat
    assert tests.endswith("python -m pytest -n auto") and "--require-hashes" in tests


def test_ci_runs_readme_test_command() -> None:
    tests = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"TEST_COMMAND='{tests}'" in ci
    assert 'bash -c "$TEST_COMMAND"' in ci


def test_readme_shows_the_current_decision_tree() -> None:
    from bot.orientation.graph import mermaid
    from knowledge.loader import load_knowledge

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert mermaid(load_knowledge()).rstrip() in readme, (
        "README's diagram is out of date: run `python -m bot kb graph` and paste it"
    )


def test_env_example_lists_every_setting() -> None:
    from bot.platform.config import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = {
        line.removeprefix("# ").split("=", 1)[0]
        for line in example.splitlines()
        if re.match(r"(# )?[A-Z_]+=", line)
    }
    assert names == {name.upper() for name in Settings.model_fields}


def test_builds_are_reproducible_from_the_lock_file() -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"  # SPDX (PEP 639)
    (backend,) = project["build-system"]["requires"]
    assert backend == "setuptools>=77"  # the first setuptools that reads an SPDX license
    optional = project["project"]["optional-dependencies"]
    dev = {Requirement(r).name: Requirement(r) for r in optional["dev"]}
    for tool in ("ruff", "mypy"):
        assert str(dev[tool].specifier).startswith("=="), f"{tool} must be pinned"
    runtime = [Requirement(r) for r in project["project"]["dependencies"]]
    ptb = next(r for r in runtime if r.name == "python-telegram-bot")
    assert ptb.extras == {"rate-limiter"}  # `webhooks` would pull tornado, never used

    def pinned(lock: str) -> dict[str, str]:
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", text, re.M)
        assert "--hash=sha256:" in text
        return {name.lower().replace("_", "-"): version for name, version in found}

    locked = pinned("runtime.txt")
    for requirement in runtime:
        name = requirement.name.lower()
        assert name in locked and requirement.specifier.contains(locked[name]), requirement
    assert "tornado" not in locked
    locked_dev = pinned("dev.txt")
    for requirement in [*dev.values(), *map(Requirement, optional["test"])]:
        if requirement.name == "boussole":
            continue
        name = requirement.name.lower()
        assert name in locked_dev, requirement
        assert requirement.specifier.contains(locked_dev[name]), requirement
    # CI, README and the image install from the lock files
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/dev.txt" in ci
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile


async def test_each_xdist_worker_gets_its_own_postgresql_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pytest -n auto`: worker gw1 works in <database>_gw1, never in the given one."""
    import os

    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.conftest import POSTGRES_ENV, require_or_skip, worker_database

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        require_or_skip(f"PostgreSQL not configured: set {POSTGRES_ENV}")
    assert url is not None
    base = make_url(url).database
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert await worker_database(url) == url
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    mine = await worker_database(url)
    assert make_url(mine).database == f"{base}_gw1"
    engine = create_async_engine(mine)
    try:
        async with engine.connect() as conn:  # it exists (created when missing)
            assert await conn.scalar(text("SELECT current_database()")) == f"{base}_gw1"
    finally:
        await engine.dispose()
