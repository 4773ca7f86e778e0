"""Run every storage test on a SQLite file and, when configured, on PostgreSQL.

Set TEAMGATE_TEST_POSTGRES_URL (for example
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`) to run the PostgreSQL
cases; without it they are skipped with that reason. Each PostgreSQL test gets
a schema of its own, dropped afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from teamgate.storage import create_engine, session_factory, upgrade

POSTGRES_URL_ENV = "TEAMGATE_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Database:
    kind: str
    url: str
    schema: str | None = None


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'teamgate.db'}")
        return
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set; export it to run the PostgreSQL cases")
    # The name is generated here, never taken from input, so quoting it is safe.
    schema = f"teamgate_test_{uuid.uuid4().hex}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgresql", url, schema)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    await upgrade(database.url, schema=database.schema)
    engine = create_engine(database.url, schema=database.schema)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session
