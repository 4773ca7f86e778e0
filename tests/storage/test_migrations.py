from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from teamgate.storage import create_engine, upgrade
from teamgate.storage.migrate import VERSION_TABLE, alembic_config, current_revision
from teamgate.storage.models import DEFAULT_GROUP, Base, Group
from tests.storage.conftest import Database

TABLES = {"groups", "users", "api_keys", "end_users", "usage_records", "credit_accounts"}


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
    )
    return list(compare_metadata(context, Base.metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_upgrade_creates_schema(database: Database) -> None:
    engine = create_engine(database.url, schema=database.schema)
    try:
        assert await current_revision(engine) is None

        await upgrade(database.url, schema=database.schema)

        async with engine.connect() as connection:
            names = await connection.run_sync(_table_names)
            groups = (await connection.execute(select(Group.name))).scalars().all()
        assert names >= TABLES
        assert VERSION_TABLE in names
        assert groups == [DEFAULT_GROUP]
        assert await current_revision(engine) == _head()
    finally:
        await engine.dispose()


async def test_upgrade_twice_changes_nothing(database: Database, engine: AsyncEngine) -> None:
    await upgrade(database.url, schema=database.schema)

    assert await current_revision(engine) == _head()
    async with engine.connect() as connection:
        groups = (await connection.execute(select(Group.name))).scalars().all()
    assert groups == [DEFAULT_GROUP]


async def test_models_match_migrated_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diff = await connection.run_sync(_schema_diff)
    assert diff == []


async def test_schema_compare_detects_drift(engine: AsyncEngine) -> None:
    # Shows that the comparison above can fail: a dropped index must appear.
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_usage_records_created_at"))
        diff = await connection.run_sync(_schema_diff)
    assert [entry[0] for entry in diff] == ["add_index"]


def test_head_revision_constant_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    from teamgate.storage.migrate import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
