"""Alembic environment: the migrations of Boussole's database.

Boussole runs them itself (`bot.platform.storage.migrate`, at start-up and with
`python -m bot db upgrade`), handing over an open connection. Run through the `alembic`
command instead, it connects to `DATABASE_URL`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import bot.leads.store  # noqa: F401  (its tables belong to the schema)
from bot.platform.storage import Base

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def from_settings() -> None:
    from bot.platform.config import load_settings

    engine = create_async_engine(load_settings().database_url)
    async with engine.begin() as conn:
        await conn.run_sync(run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
elif context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
else:
    asyncio.run(from_settings())
