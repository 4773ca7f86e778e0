"""Run the Alembic migrations shipped inside this package; no alembic.ini is needed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

from teamgate.storage.db import create_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# A table name of its own, so teamgate can share a PostgreSQL database with an
# application such as Open WebUI that keeps its Alembic history in `alembic_version`.
VERSION_TABLE = "teamgate_alembic_version"
# Key of the PostgreSQL advisory lock that keeps two starting servers from
# migrating at the same time; any fixed 64-bit number unique to teamgate works.
_MIGRATION_LOCK_KEY = 0x7465616D67617465
# The newest revision under migrations/versions. A database already there is
# checked with one query, so a normal start never imports Alembic (about 10 MB
# and 150 ms). A test keeps this equal to Alembic's own head.
HEAD_REVISION = "0001"
_READ_VERSION = text("SELECT version_num FROM teamgate_alembic_version")


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade(url: str | URL, *, schema: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (the newest by default).

    Running it again on an up-to-date database changes nothing. Raises
    StorageUnavailable when the database cannot be reached.
    """
    engine = create_engine(url, schema=schema)
    try:
        await upgrade_engine(engine, revision=revision)
    finally:
        await engine.dispose()


async def upgrade_engine(engine: AsyncEngine, *, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision` in one transaction."""
    if revision == "head" and await _at_head(engine):
        return
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        before = await connection.run_sync(_current_revision)
        await connection.run_sync(_run_upgrade, revision)
        after = await connection.run_sync(_current_revision)
    if before != after:
        logger.info("migrated the database from revision %s to %s", before, after)


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database is at, or None before the first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def _at_head(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        try:
            result = await connection.execute(_READ_VERSION)
        except DBAPIError:
            # No version table yet: a new database.
            return False
        return [row[0] for row in result] == [HEAD_REVISION]


def _run_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
