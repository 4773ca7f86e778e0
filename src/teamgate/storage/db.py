"""Engines and sessions for the SQLite (default) and PostgreSQL databases."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

logger = logging.getLogger(__name__)

DATABASE_FILE = "teamgate.db"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

# How long a SQLite writer waits for another writer's lock, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 5000
# How long asyncpg waits for the PostgreSQL server to accept a connection, in seconds.
POSTGRES_CONNECT_TIMEOUT_S = 10.0

# SQLite result codes that mean another connection kept the database locked
# past the busy timeout; callers see them as a temporarily unavailable database.
_SQLITE_LOCK_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


class StorageUnavailable(Exception):
    """The database cannot be reached or stayed locked; the API layer maps this to HTTP 503.

    The driver's original error is chained as `__cause__`.
    """


def default_url(data_dir: Path) -> str:
    """Return the URL of the SQLite database file kept in `data_dir`."""
    return f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}"


def create_engine(url: str | URL, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """Create an engine for a `sqlite+aiosqlite` or `postgresql+asyncpg` URL.

    SQLite connections use WAL journaling, `synchronous=NORMAL`, a busy timeout
    and enforced foreign keys, and the directory of a database file is created
    when missing. `schema` (PostgreSQL only) becomes the connection's
    `search_path`, so every table and the migration history live in that schema.
    Failures to connect raise StorageUnavailable.
    """
    parsed = make_url(url)
    driver = parsed.drivername
    if driver not in SUPPORTED_DRIVERS:
        raise ValueError(
            f"unsupported database URL scheme {driver!r}; use one of {', '.join(SUPPORTED_DRIVERS)}"
        )
    if driver == "sqlite+aiosqlite":
        if schema is not None:
            raise ValueError("schema is a PostgreSQL option; remove it for a SQLite URL")
        _create_parent_directory(parsed)
        engine = _create_async_engine(parsed, echo=echo)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    else:
        engine = _create_async_engine(
            parsed, echo=echo, pool_pre_ping=True, connect_args=_postgres_connect_args(schema)
        )
    event.listen(engine.sync_engine, "do_connect", _connect_or_raise_unavailable)
    event.listen(engine.sync_engine, "handle_error", _raise_unavailable_on_lost_connection)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _create_parent_directory(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def _postgres_connect_args(schema: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": POSTGRES_CONNECT_TIMEOUT_S}
    if schema is not None:
        args["server_settings"] = {"search_path": schema}
    return args


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _connect_or_raise_unavailable(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    # asyncpg reports a refused or timed-out connection as a plain OSError that
    # SQLAlchemy passes through unwrapped, so the connect step is wrapped here.
    try:
        return dialect.loaded_dbapi.connect(*cargs, **cparams)
    except (OSError, dialect.loaded_dbapi.Error) as exc:
        logger.error("cannot connect to the %s database: %s", dialect.name, exc)
        raise StorageUnavailable(
            f"cannot connect to the {dialect.name} database: {exc}; "
            "check that the server is running and the database URL is right"
        ) from exc


def _raise_unavailable_on_lost_connection(context: ExceptionContext) -> None:
    original = context.original_exception
    if context.is_disconnect:
        raise StorageUnavailable(f"lost the database connection: {original}") from original
    if getattr(original, "sqlite_errorname", None) in _SQLITE_LOCK_ERRORS:
        raise StorageUnavailable(
            f"the SQLite database stayed locked for {SQLITE_BUSY_TIMEOUT_MS} ms: {original}"
        ) from original
