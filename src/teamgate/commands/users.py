"""`teamgate user`: add, list, disable and import the people who hold API keys."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.commands.common import (
    CommandError,
    ConfigOption,
    DatabaseUrlOption,
    open_storage,
    reports_errors,
    run_in_session,
    run_in_transaction,
)
from teamgate.commands.groups import BudgetOption, PeriodOption
from teamgate.commands.lookups import require_group, require_user
from teamgate.commands.output import NONE, format_budget_columns, print_table
from teamgate.commands.parsing import parse_limits
from teamgate.core.values import MIN_PASSWORD_LENGTH, check_email
from teamgate.storage.models import Role, User
from teamgate.storage.repository import Limits, create_user, disable_user, list_groups, list_users

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)

ROLES = ", ".join(role.value for role in Role)


@dataclass(frozen=True)
class NewUser:
    """A user to create, with every value already checked except those the database holds."""

    name: str
    email: str | None = None
    role: Role = Role.MEMBER
    group: str | None = None
    password: str | None = None
    limits: Limits | None = None


def parse_role(text: str, option: str = "--role") -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise CommandError(f"invalid {option} {text!r}; use one of {ROLES}") from None


def parse_email(text: str | None, option: str = "--email") -> str | None:
    if text is None or not text.strip():
        return None
    try:
        return check_email(text, option)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 128:
        raise CommandError(f"invalid user name {name!r}; give 1 to 128 characters")
    return cleaned


async def add_user(session: AsyncSession, new: NewUser) -> User:
    """Create the user after checking that the group exists and the email is free."""
    group_id = None if new.group is None else (await require_group(session, new.group)).id
    if new.email is not None:
        holder = await session.scalar(select(User.name).where(User.email == new.email))
        if holder is not None:
            raise CommandError(f"the email {new.email!r} already belongs to user {holder!r}")
    return await create_user(
        session,
        new.name,
        email=new.email,
        role=new.role,
        group_id=group_id,
        password=new.password,
        limits=new.limits,
    )


@user_app.command("add")
@reports_errors
def user_add(
    name: Annotated[str, typer.Argument(help="Unique user name.")],
    email: Annotated[str | None, typer.Option("--email", help="Email address.")] = None,
    role: Annotated[str, typer.Option("--role", help="admin or member.")] = "member",
    group: Annotated[
        str | None, typer.Option("--group", help="Group to join. Default: the default group.")
    ] = None,
    password_prompt: Annotated[
        bool,
        typer.Option("--password-prompt", help="Ask for a console password without echoing it."),
    ] = False,
    budget: BudgetOption = None,
    period: PeriodOption = None,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a user."""
    storage = open_storage(config, database_url)
    new = NewUser(
        name=check_name(name),
        email=parse_email(email),
        role=parse_role(role),
        group=group,
        limits=parse_limits(budget, period),
    )
    if password_prompt:
        new = replace(new, password=_read_password())

    async def add(session: AsyncSession) -> User:
        return await add_user(session, new)

    user = run_in_transaction(storage, add)
    typer.echo(f"created user {user.name} (id {user.id}, role {user.role})")


@user_app.command("list")
@reports_errors
def user_list(config: ConfigOption = None, database_url: DatabaseUrlOption = None) -> None:
    """List users with their group, status and own budget."""
    storage = open_storage(config, database_url)

    async def load(session: AsyncSession) -> tuple[list[User], dict[int, str]]:
        groups = {group.id: group.name for group in await list_groups(session)}
        return await list_users(session), groups

    users, groups = run_in_session(storage, load)
    headers = ["id", "name", "email", "role", "group", "status", "budget", "period"]
    print_table(headers, [_user_row(user, groups) for user in users])


@user_app.command("disable")
@reports_errors
def user_disable(
    name: Annotated[str, typer.Argument(help="User to disable.")],
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Disable a user; their keys stop working and their usage records stay."""
    storage = open_storage(config, database_url)

    async def disable(session: AsyncSession) -> User:
        user = await require_user(session, name)
        return await disable_user(session, user.id)

    user = run_in_transaction(storage, disable)
    typer.echo(f"disabled user {user.name}; their API keys no longer work")


def _read_password() -> str:
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandError(
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters; choose a longer one"
        )
    return password


def _user_row(user: User, groups: dict[int, str]) -> list[str]:
    return [
        str(user.id),
        user.name,
        user.email or NONE,
        user.role,
        groups.get(user.group_id, str(user.group_id)),
        user.status,
        *format_budget_columns(user.budget_micro_usd, user.budget_period),
    ]
