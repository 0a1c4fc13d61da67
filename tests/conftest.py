from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.conversation import Conversation
from bot.engine import Engine
from knowledge.loader import KnowledgeBase, load_knowledge

FIXTURES = Path(__file__).parent / "fixtures"
KB_MIN = FIXTURES / "kb_min"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The real knowledge base shipped in knowledge/."""
    return load_knowledge()


@pytest.fixture(scope="session")
def engine(kb: KnowledgeBase) -> Engine:
    return Engine(kb)


@pytest.fixture(scope="session")
def conversation(kb: KnowledgeBase) -> Conversation:
    return Conversation(kb)


@pytest.fixture
def kb_copy(tmp_path: Path) -> Callable[[], Path]:
    """A fresh copy of the minimal fixture knowledge base, to break on purpose."""

    def make() -> Path:
        target = tmp_path / "knowledge"
        shutil.copytree(KB_MIN, target)
        return target

    return make
