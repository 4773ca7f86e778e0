"""`teamgate budget`: set or clear the USD budget of a user, an API key or a group."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.commands.common import (
    CommandError,
    ConfigOption,
    DatabaseUrlOption,
    open_storage,
    reports_errors,
    run_in_transaction,
)
from teamgate.commands.groups import PeriodOption
from teamgate.commands.lookups import require_group, require_key, require_user
from teamgate.commands.output import format_budget
from teamgate.commands.parsing import parse_period, parse_usd
from teamgate.storage.models import BudgetPeriod
from teamgate.storage.repository import update_group, update_key, update_user
from teamgate.storage.repository.users import LimitChanges

budget_app = typer.Typer(help="Set budgets in USD per period.", no_args_is_help=True)


@budget_app.command("set")
@reports_errors
def budget_set(
    user: Annotated[str | None, typer.Option("--user", help="User name.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="API key prefix or id.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Group name; sets its members' default.")
    ] = None,
    amount: Annotated[
        str | None,
        typer.Option("--usd", help="Budget in USD per period, such as 25.00.", show_default=False),
    ] = None,
    period: PeriodOption = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the budget set at this level.")
    ] = False,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Set or clear the budget of exactly one user, key or group."""
    storage = open_storage(config, database_url)
    target = _one_target(user, key, group)
    changes = _budget_changes(amount, period, clear)

    async def apply(session: AsyncSession) -> str:
        return await _apply(session, target, changes)

    subject = run_in_transaction(storage, apply)
    if clear:
        typer.echo(f"cleared the budget of {subject}")
    else:
        budget = format_budget(changes.get("budget_micro_usd"))
        typer.echo(f"set the budget of {subject} to {budget} USD {changes.get('budget_period')}")


def _one_target(user: str | None, key: str | None, group: str | None) -> tuple[str, str]:
    options = (("user", user), ("key", key), ("group", group))
    chosen = [(kind, value) for kind, value in options if value is not None]
    if len(chosen) != 1:
        raise CommandError("name exactly one of --user NAME, --key PREFIX or --group NAME")
    return chosen[0]


def _budget_changes(amount: str | None, period: str | None, clear: bool) -> LimitChanges:
    if clear:
        if amount is not None or period is not None:
            raise CommandError("--clear takes no --usd or --period; drop them or drop --clear")
        return {"budget_micro_usd": None}
    if amount is None:
        raise CommandError("--usd AMOUNT is missing; give the budget in USD, or use --clear")
    return {
        "budget_micro_usd": parse_usd(amount, "--usd"),
        "budget_period": (BudgetPeriod.MONTHLY if period is None else parse_period(period)).value,
    }


async def _apply(session: AsyncSession, target: tuple[str, str], changes: LimitChanges) -> str:
    kind, reference = target
    if kind == "user":
        user = await require_user(session, reference)
        await update_user(session, user.id, **changes)
        return f"user {user.name}"
    if kind == "key":
        key = await require_key(session, reference)
        await update_key(session, key.id, **changes)
        return f"API key {key.prefix} (id {key.id})"
    group = await require_group(session, reference)
    await update_group(session, group.id, **changes)
    return f"group {group.name}"
