"""Alembic environment: migrates the connection that `teamgate.storage.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from teamgate.storage.migrate import VERSION_TABLE
from teamgate.storage.models import Base


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot alter most column or constraint definitions in place,
        # so later revisions rebuild the table through Alembic's batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "teamgate migrations run only on a live connection; "
        "use `teamgate db upgrade` or teamgate.storage.migrate.upgrade()"
    )
_run_on(connection)
