"""`teamgate group`: groups of users with a price multiplier, allowed models and default limits."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.commands.common import (
    ConfigOption,
    DatabaseUrlOption,
    open_storage,
    reports_errors,
    run_in_session,
    run_in_transaction,
)
from teamgate.commands.output import NONE, format_budget_columns, format_optional, print_table
from teamgate.commands.parsing import parse_limits, parse_multiplier, parse_names
from teamgate.storage.models import Group
from teamgate.storage.repository import create_group, list_groups, list_users

group_app = typer.Typer(help="Create and list groups of users.", no_args_is_help=True)

BudgetOption = Annotated[
    str | None,
    typer.Option("--budget", help="Budget in USD per period, such as 25.00.", show_default=False),
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Budget period: daily, weekly, monthly or total. Default: monthly.",
        show_default=False,
    ),
]
ModelsOption = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="Comma-separated public model names allowed; default: every model.",
        show_default=False,
    ),
]
RpmOption = Annotated[int | None, typer.Option("--rpm", help="Requests per minute.")]
TpmOption = Annotated[int | None, typer.Option("--tpm", help="Tokens per minute.")]
RpdOption = Annotated[int | None, typer.Option("--rpd", help="Requests per day.")]
ConcurrentOption = Annotated[
    int | None, typer.Option("--concurrent", help="Requests in flight at once.")
]


@group_app.command("add")
@reports_errors
def group_add(
    name: Annotated[str, typer.Argument(help="Name of the new group.")],
    multiplier: Annotated[
        str, typer.Option("--multiplier", help="Factor applied to list prices, such as 1.5.")
    ] = "1",
    models: ModelsOption = None,
    budget: BudgetOption = None,
    period: PeriodOption = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    rpd: RpdOption = None,
    concurrent: ConcurrentOption = None,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a group; its limits are the defaults of members who set none."""
    storage = open_storage(config, database_url)
    price_multiplier = parse_multiplier(multiplier)
    allowed = parse_names(models, "--models")
    limits = parse_limits(budget, period, rpm=rpm, tpm=tpm, rpd=rpd, concurrent=concurrent)

    async def add(session: AsyncSession) -> Group:
        return await create_group(
            session,
            name,
            price_multiplier=price_multiplier,
            allowed_models=allowed,
            limits=limits,
        )

    group = run_in_transaction(storage, add)
    typer.echo(f"created group {group.name} (id {group.id})")


@group_app.command("list")
@reports_errors
def group_list(config: ConfigOption = None, database_url: DatabaseUrlOption = None) -> None:
    """List groups with their multiplier, models, default limits and member count."""
    storage = open_storage(config, database_url)

    async def load(session: AsyncSession) -> tuple[list[Group], Counter[int]]:
        members = Counter(user.group_id for user in await list_users(session))
        return await list_groups(session), members

    groups, members = run_in_session(storage, load)
    headers = ["id", "name", "multiplier", "models", "budget", "period", "rpm", "tpm", "rpd"]
    rows = [_group_row(group, members[group.id]) for group in groups]
    print_table([*headers, "concurrent", "users"], rows)


def _group_row(group: Group, members: int) -> list[str]:
    return [
        str(group.id),
        group.name,
        f"{group.price_multiplier.normalize():f}",
        NONE if group.allowed_models is None else ",".join(group.allowed_models),
        *format_budget_columns(group.budget_micro_usd, group.budget_period),
        format_optional(group.rpm),
        format_optional(group.tpm),
        format_optional(group.rpd),
        format_optional(group.max_concurrent),
        str(members),
    ]
