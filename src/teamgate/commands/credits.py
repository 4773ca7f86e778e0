"""`teamgate credit`: record billing credits and forecast the day each one runs out."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
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
from teamgate.commands.output import NONE, format_cny, format_time, print_table
from teamgate.commands.parsing import end_of_day, parse_date, parse_names, parse_usd, start_of_day
from teamgate.core.values import format_usd
from teamgate.storage.models import CreditAccount, utc_now
from teamgate.storage.repository import (
    CreditForecast,
    create_credit_account,
    credit_forecast,
    list_credit_accounts,
)
from teamgate.storage.repository.credits import BURN_WINDOW

credit_app = typer.Typer(help="Track prepaid and trial credits.", no_args_is_help=True)


@credit_app.command("add")
@reports_errors
def credit_add(
    name: Annotated[str, typer.Argument(help="Name of the billing account, such as trial-2026.")],
    amount: Annotated[str, typer.Option("--usd", help="Credit in USD, such as 300.")],
    starts: Annotated[
        str, typer.Option("--starts", help="First day the credit counts spend, YYYY-MM-DD.")
    ],
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Last day the credit can be used, YYYY-MM-DD."),
    ] = None,
    credentials: Annotated[
        str | None,
        typer.Option(
            "--credentials",
            help="Comma-separated credential ids billed to it. Default: every credential.",
            show_default=False,
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Free text to keep with it.")] = None,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Record a credit; days are read in accounting.timezone."""
    storage = open_storage(config, database_url)
    credit = parse_usd(amount, "--usd")
    first_day = parse_date(starts, "--starts")
    starts_at = start_of_day(first_day, storage.timezone)
    expires_at = None
    if expires is not None:
        last_day = parse_date(expires, "--expires")
        if last_day < first_day:
            raise CommandError(f"--expires {expires} is before --starts {starts}; fix the dates")
        expires_at = end_of_day(last_day, storage.timezone)
    credential_ids = parse_names(credentials, "--credentials")

    async def add(session: AsyncSession) -> CreditAccount:
        return await create_credit_account(
            session,
            name,
            credit,
            starts_at,
            expires_at=expires_at,
            credential_ids=credential_ids,
            notes=notes,
        )

    account = run_in_transaction(storage, add)
    typer.echo(f"recorded credit {account.name} of {format_usd(credit)} USD (id {account.id})")


@credit_app.command("list")
@reports_errors
def credit_list(config: ConfigOption = None, database_url: DatabaseUrlOption = None) -> None:
    """List the recorded credits."""
    storage = open_storage(config, database_url)

    async def load(session: AsyncSession) -> list[CreditAccount]:
        return await list_credit_accounts(session)

    tz = storage.timezone
    rows = [
        [
            str(account.id),
            account.name,
            format_usd(account.credit_micro_usd),
            format_time(account.starts_at, tz),
            format_time(account.expires_at, tz),
            NONE if account.credential_ids is None else ",".join(account.credential_ids),
            account.notes or NONE,
        ]
        for account in run_in_session(storage, load)
    ]
    headers = ["id", "name", "credit USD", "starts", "expires", "credentials", "notes"]
    print_table(headers, rows)


@credit_app.command("forecast")
@reports_errors
def credit_forecast_command(
    name: Annotated[str, typer.Argument(help="Name of the credit account.")],
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Print spend against a credit, the daily burn rate and the day it runs out at that rate."""
    storage = open_storage(config, database_url)
    now = utc_now()

    async def forecast(session: AsyncSession) -> CreditForecast:
        accounts = {account.name: account for account in await list_credit_accounts(session)}
        if name not in accounts:
            raise CommandError(
                f"unknown credit account {name!r}; list them with `teamgate credit list`"
            )
        return await credit_forecast(session, accounts[name], now)

    result = run_in_session(storage, forecast)
    rate = storage.accounting.cny_per_usd
    for label, value in _forecast_lines(result, now, storage.timezone, rate):
        typer.echo(f"{label + ':':<12} {value}")
    warning = _expiry_warning(result, now, storage.timezone)
    if warning:
        typer.echo(f"warning: {warning}")


def _money(micro_usd: int, rate: float | None) -> str:
    text = f"{format_usd(micro_usd)} USD"
    return text if rate is None else f"{text} ({format_cny(micro_usd, rate)} CNY)"


def _forecast_lines(
    result: CreditForecast, now: datetime, tz: tzinfo, rate: float | None
) -> list[tuple[str, str]]:
    window_days = BURN_WINDOW.days
    if result.runs_out_at is None:
        runs_out = "never at the current rate (nothing spent recently)"
    else:
        runs_out = f"{_day(result.runs_out_at, tz)} (in {_days_between(now, result.runs_out_at)})"
    return [
        ("credit", _money(result.credit_micro_usd, rate)),
        ("spent", _money(result.spent_micro_usd, rate)),
        ("remaining", _money(result.remaining_micro_usd, rate)),
        (
            "daily burn",
            f"{_money(result.daily_burn_micro_usd, rate)} (average of the last {window_days} days)",
        ),
        ("runs out", runs_out),
        ("expires", format_time(result.expires_at, tz)),
    ]


def _expiry_warning(result: CreditForecast, now: datetime, tz: tzinfo) -> str | None:
    if not result.expires_first or result.expires_at is None:
        return None
    days_left = (
        max((result.expires_at - now).total_seconds(), 0) / timedelta(days=1).total_seconds()
    )
    unused = result.remaining_micro_usd - round(result.daily_burn_micro_usd * days_left)
    return (
        f"the credit expires at {format_time(result.expires_at, tz)}, before it runs out; "
        f"about {format_usd(max(unused, 0))} USD of it will go unused at the current rate"
    )


def _day(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).date().isoformat()


def _days_between(start: datetime, end: datetime) -> str:
    return f"{(end - start) / timedelta(days=1):.1f} days"
