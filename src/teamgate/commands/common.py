"""Options, settings and the database runner shared by every management command."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import typer
import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from teamgate.config.keys import default_data_dir
from teamgate.config.loader import ConfigError, validate_settings
from teamgate.config.schema import Accounting, Settings
from teamgate.storage import StorageUnavailable, create_engine, default_url, session_factory
from teamgate.storage.db import SUPPORTED_DRIVERS
from teamgate.storage.migrate import upgrade
from teamgate.storage.repository import AlreadyExists, RecordNotFound

ResultT = TypeVar("ResultT")
Params = ParamSpec("Params")
Sessions = async_sessionmaker[AsyncSession]

# The sections these commands read; the rest of the file (credentials, models)
# is left alone, so its environment references need not be set.
STORAGE_SECTIONS = ("data_dir", "accounting")


class CommandError(Exception):
    """A problem with the command's input or the database; printed as one `error:` line."""


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="TEAMGATE_CONFIG",
        help="YAML configuration file; only data_dir and the accounting section are read.",
        dir_okay=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=(
            "SQLAlchemy URL of the database (sqlite+aiosqlite:// or postgresql+asyncpg://); "
            "overrides accounting.database_url. Default: teamgate.db in the data directory."
        ),
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Storage:
    """The database a command works on and the accounting settings that apply to it."""

    url: str
    accounting: Accounting

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.accounting.timezone)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def reports_errors(command: Callable[Params, None]) -> Callable[Params, None]:
    """Turn the expected errors of a command into one `error:` line and exit code 2.

    The expected errors are bad input, missing or duplicate rows, an invalid
    configuration and an unreachable database. Anything else is a bug, so it
    keeps its traceback.
    """

    @functools.wraps(command)
    def reporting(*args: Params.args, **kwargs: Params.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except (
            CommandError,
            ConfigError,
            RecordNotFound,
            AlreadyExists,
            StorageUnavailable,
        ) as exc:
            fail(str(exc))
        except IntegrityError as exc:
            fail(f"the database rejected the change: {exc.orig}")

    return reporting


def open_storage(config: Path | None, database_url: str | None) -> Storage:
    """Resolve the database URL from the option, the configuration or the data directory."""
    settings = _storage_settings(config)
    if database_url is not None:
        _check_url(database_url, "--database-url")
        return Storage(database_url, settings.accounting)
    if settings.accounting.database_url is not None:
        url = settings.accounting.database_url.get_secret_value()
        _check_url(url, "accounting.database_url")
        return Storage(url, settings.accounting)
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    return Storage(default_url(data_dir), settings.accounting)


def run(storage: Storage, work: Callable[[Sessions], Awaitable[ResultT]]) -> ResultT:
    """Migrate the database to the newest revision, then run `work` with a session factory."""
    # The storage layer logs a failed connection before raising
    # StorageUnavailable with the same text, which `reports_errors` prints.
    logging.getLogger("teamgate").addHandler(logging.NullHandler())
    return asyncio.run(_migrate_and_run(storage.url, work))


def run_in_transaction(
    storage: Storage, work: Callable[[AsyncSession], Awaitable[ResultT]]
) -> ResultT:
    """Run `work` in one transaction, which commits if it returns and rolls back if it raises."""

    async def in_transaction(sessions: Sessions) -> ResultT:
        async with sessions.begin() as session:
            return await work(session)

    return run(storage, in_transaction)


def run_in_session(storage: Storage, work: Callable[[AsyncSession], Awaitable[ResultT]]) -> ResultT:
    """Run `work` in one session that closes without a commit, for reads."""

    async def in_session(sessions: Sessions) -> ResultT:
        async with sessions() as session:
            return await work(session)

    return run(storage, in_session)


async def _migrate_and_run(url: str, work: Callable[[Sessions], Awaitable[ResultT]]) -> ResultT:
    await upgrade(url)
    engine = create_engine(url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


def _storage_settings(config: Path | None) -> Settings:
    if config is None:
        return Settings()
    try:
        text = config.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read the configuration file {config}: {exc.strerror}") from None
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CommandError(f"{config} is not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise CommandError(f"{config} must contain a mapping of keys")
    sections = {key: raw[key] for key in STORAGE_SECTIONS if key in raw}
    return validate_settings(sections, os.environ, source=str(config))


def _check_url(url: str, source: str) -> None:
    try:
        driver = make_url(url).drivername
    except ArgumentError:
        raise CommandError(
            f"{source} is not a valid database URL; write it as "
            "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DATABASE"
        ) from None
    if driver not in SUPPORTED_DRIVERS:
        raise CommandError(
            f"{source} uses the driver {driver!r}; use one of {', '.join(SUPPORTED_DRIVERS)}"
        )
