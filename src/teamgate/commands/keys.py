"""`teamgate key`: create, list and revoke API keys; the plaintext is shown once at creation."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

import typer
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
from teamgate.commands.groups import (
    BudgetOption,
    ConcurrentOption,
    ModelsOption,
    PeriodOption,
    RpdOption,
    RpmOption,
    TpmOption,
)
from teamgate.commands.lookups import require_key, require_user
from teamgate.commands.output import NONE, format_budget, format_time, print_table
from teamgate.commands.parsing import end_of_day, parse_date, parse_limits, parse_names
from teamgate.storage.models import ApiKey, KeyStatus, User, UserStatus, utc_now
from teamgate.storage.repository import KeyInfo, create_key, list_keys, list_users, revoke_key

key_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@key_app.command("create")
@reports_errors
def key_create(
    user: Annotated[str, typer.Option("--user", help="Name of the user who owns the key.")],
    name: Annotated[str, typer.Option("--name", help="Label to tell the key apart.")] = "default",
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help=(
                "Last day the key works, YYYY-MM-DD; it expires at the following midnight "
                "in accounting.timezone."
            ),
            show_default=False,
        ),
    ] = None,
    models: ModelsOption = None,
    budget: BudgetOption = None,
    period: PeriodOption = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    rpd: RpdOption = None,
    concurrent: ConcurrentOption = None,
    trusted_app: Annotated[
        bool,
        typer.Option(
            "--trusted-app",
            help="Trust the user headers an app such as Open WebUI forwards on this key.",
        ),
    ] = False,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create an API key and print it once; only its SHA-256 digest is stored."""
    storage = open_storage(config, database_url)
    expires_at = None
    if expires is not None:
        expires_at = end_of_day(parse_date(expires, "--expires"), storage.timezone)
        if expires_at <= utc_now():
            raise CommandError(f"--expires {expires} is in the past; give a later date")
    allowed = parse_names(models, "--models")
    limits = parse_limits(budget, period, rpm=rpm, tpm=tpm, rpd=rpd, concurrent=concurrent)

    async def create(session: AsyncSession) -> tuple[str, ApiKey, User]:
        owner = await require_user(session, user)
        plaintext, key = await create_key(
            session,
            owner.id,
            name,
            expires_at=expires_at,
            allowed_models=allowed,
            trusted_app=trusted_app,
            limits=limits,
        )
        return plaintext, key, owner

    plaintext, key, owner = run_in_transaction(storage, create)
    typer.echo(f"created API key {key.name!r} for {owner.name} (id {key.id}, prefix {key.prefix})")
    typer.echo("Copy the key now. teamgate keeps only its hash and cannot show it again:")
    typer.echo("")
    typer.echo(f"    {plaintext}")
    typer.echo("")


@key_app.command("list")
@reports_errors
def key_list(
    user: Annotated[
        str | None, typer.Option("--user", help="Show only this user's keys.", show_default=False)
    ] = None,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List keys by prefix with owner, status, expiry and last use; never the key or its hash."""
    storage = open_storage(config, database_url)

    async def load(session: AsyncSession) -> tuple[list[KeyInfo], dict[int, User]]:
        owner_id = None if user is None else (await require_user(session, user)).id
        owners = {owner.id: owner for owner in await list_users(session)}
        return await list_keys(session, owner_id), owners

    keys, owners = run_in_session(storage, load)
    now = utc_now()
    headers = ["id", "prefix", "owner", "name", "status", "expires at", "last used", "budget"]
    rows = [_key_row(key, owners, now, storage.timezone) for key in keys]
    print_table([*headers, "trusted app"], rows)


@key_app.command("revoke")
@reports_errors
def key_revoke(
    reference: Annotated[
        str, typer.Argument(metavar="PREFIX_OR_ID", help="Key prefix (sk-tg-…), id or whole key.")
    ],
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Revoke a key for good; requests with it are rejected from now on."""
    storage = open_storage(config, database_url)

    async def revoke(session: AsyncSession) -> ApiKey:
        key = await require_key(session, reference)
        return await revoke_key(session, key.id)

    key = run_in_transaction(storage, revoke)
    typer.echo(f"revoked API key {key.prefix} (id {key.id}, {key.name!r})")


def _key_row(key: KeyInfo, owners: dict[int, User], now: datetime, tz: tzinfo) -> list[str]:
    owner = owners.get(key.owner_user_id)
    budget = format_budget(key.limits.budget_micro_usd)
    if key.limits.budget_micro_usd is not None:
        budget = f"{budget}/{key.limits.budget_period.value}"
    return [
        str(key.id),
        key.prefix,
        owner.name if owner else str(key.owner_user_id),
        key.name,
        _status(key, owner, now),
        format_time(key.expires_at, tz),
        format_time(key.last_used_at, tz),
        budget,
        "yes" if key.trusted_app else NONE,
    ]


def _status(key: KeyInfo, owner: User | None, now: datetime) -> str:
    """Return the stored status, or why an active key cannot be used at `now`."""
    if key.status is not KeyStatus.ACTIVE:
        return key.status.value
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if owner is not None and owner.status != UserStatus.ACTIVE:
        return "owner disabled"
    return key.status.value
