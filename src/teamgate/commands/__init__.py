"""Management commands on the accounts database: groups, users, keys, budgets, usage, credits.

Each command migrates the database to the newest schema first, so it works on
a fresh data directory, and reads only `data_dir` and the `accounting` section
of the configuration, so no upstream credential has to be set.
"""

from __future__ import annotations

import typer

from teamgate.commands.budget import budget_app
from teamgate.commands.credits import credit_app
from teamgate.commands.database import db_app
from teamgate.commands.groups import group_app
from teamgate.commands.keys import key_app
from teamgate.commands.usage import usage
from teamgate.commands.user_import import user_import
from teamgate.commands.users import user_app


def register(app: typer.Typer) -> None:
    """Add the management commands to the `teamgate` command."""
    app.add_typer(db_app, name="db")
    app.add_typer(group_app, name="group")
    user_app.command("import")(user_import)
    app.add_typer(user_app, name="user")
    app.add_typer(key_app, name="key")
    app.add_typer(budget_app, name="budget")
    app.add_typer(credit_app, name="credit")
    app.command("usage")(usage)
