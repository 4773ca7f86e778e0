"""Persistent storage: SQLite by default or PostgreSQL, with Alembic migrations.

`db` creates engines and sessions, `migrate.upgrade` brings a database to the
newest schema, `models` defines the tables and `repository` reads and writes them.
"""

from teamgate.storage.db import StorageUnavailable, create_engine, default_url, session_factory
from teamgate.storage.migrate import upgrade

__all__ = ["StorageUnavailable", "create_engine", "default_url", "session_factory", "upgrade"]
