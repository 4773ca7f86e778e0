"""`teamgate db`: bring the accounts database to the newest schema."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from teamgate.commands.common import (
    ConfigOption,
    DatabaseUrlOption,
    Sessions,
    open_storage,
    reports_errors,
    run,
)
from teamgate.storage.migrate import current_revision

db_app = typer.Typer(help="Manage the accounts database.", no_args_is_help=True)


@db_app.command("upgrade")
@reports_errors
def db_upgrade(config: ConfigOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Run the database migrations up to the newest revision and print it."""
    storage = open_storage(config, database_url)
    revision = run(storage, _revision)
    shown_url = make_url(storage.url).render_as_string(hide_password=True)
    typer.echo(f"{shown_url}: at revision {revision}")


async def _revision(sessions: Sessions) -> str | None:
    engine = sessions.kw["bind"]
    if not isinstance(engine, AsyncEngine):
        raise TypeError(f"the session factory is bound to {type(engine).__name__}, not an engine")
    return await current_revision(engine)
