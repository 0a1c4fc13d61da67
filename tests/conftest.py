from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, MetaData, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.dialogue.router import Conversation
from bot.orientation.engine import Engine
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


# ---------------------------------------------------------------- databases

POSTGRES_ENV = "BOUSSOLE_TEST_POSTGRES_URL"
REQUIRE_ENV = "BOUSSOLE_TEST_REQUIRE_ALL"  # set by .ci/run: nothing may be skipped there


def require_or_skip(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} (required because {REQUIRE_ENV} is set)")
    pytest.skip(reason)


def drop_everything(connection: Connection) -> None:
    """An empty database: every table, the migrations' own included."""
    tables = MetaData()
    tables.reflect(connection)
    tables.drop_all(connection)


_created: set[str] = set()


async def worker_database(url: str) -> str:
    """Under pytest-xdist (`pytest -n auto`), each worker gets its own PostgreSQL database,
    named after the given one plus the worker's id (boussole_test_gw0, …), created here
    when missing (the role needs CREATEDB: scripts/test-postgres.sh grants it)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    mine = base.set(database=name).render_as_string(hide_password=False)
    if name in _created:
        return mine
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(
        user=base.username,
        password=base.password,
        host=base.host,
        port=base.port,
        database=base.database,
    )
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another process created it at the same moment
            except asyncpg.PostgresError as exc:
                raise RuntimeError(
                    f"cannot create the worker database {name} ({exc}): grant CREATEDB to "
                    f"{base.username}, or create it, or run without -n"
                ) from exc
    finally:
        await connection.close()
    _created.add(name)
    return mine


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each database test runs on SQLite and on PostgreSQL, with an empty schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'boussole.db'}"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        require_or_skip(
            f"PostgreSQL not configured: set {POSTGRES_ENV} "
            "(scripts/test-postgres.sh starts one and prints the URL)"
        )
    assert url is not None
    url = await worker_database(url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(drop_everything)
    await engine.dispose()
    yield url
