"""`teamgate usage`: requests, tokens and cost from the ledger, as a table or CSV."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime
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
)
from teamgate.commands.output import format_cny, print_table
from teamgate.commands.parsing import end_of_day, parse_date, start_of_day
from teamgate.core.values import format_usd
from teamgate.storage.repository import SummaryBy, UsageSummaryRow, list_users, usage_summary

GROUPINGS = ", ".join(by.value for by in SummaryBy)
TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tool_use_prompt_tokens",
)
TABLE_TOKEN_HEADERS = ("input", "cached input", "output", "reasoning", "tool prompt")
NO_USER = "(no user)"


@reports_errors
def usage(
    by: Annotated[str, typer.Option("--by", help=f"Group rows by one of {GROUPINGS}.")] = "user",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="First UTC day included, YYYY-MM-DD. Default: the first of this month.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Last UTC day included, YYYY-MM-DD. Default: today.",
            show_default=False,
        ),
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of a table.")] = False,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Report requests, tokens by kind and cost per user, model or day.

    Days are UTC days, like the rows of --by day. Costs are in USD, and also
    in CNY when accounting.cny_per_usd is set.
    """
    storage = open_storage(config, database_url)
    grouping = _parse_by(by)
    first, last = _date_range(since, until)

    async def load(session: AsyncSession) -> tuple[list[UsageSummaryRow], dict[int, str]]:
        names = {user.id: user.name for user in await list_users(session)}
        start, end = start_of_day(first, UTC), end_of_day(last, UTC)
        return await usage_summary(session, grouping, start, end), names

    rows, names = run_in_session(storage, load)
    rate = storage.accounting.cny_per_usd
    labels = [_label(row.key, grouping, names) for row in rows]
    if as_csv:
        _write_csv(grouping, rows, labels, rate)
        return
    typer.echo(f"Usage from {first} to {last} (UTC), by {grouping.value}:")
    _print_usage_table(grouping, rows, labels, rate)


def _parse_by(text: str) -> SummaryBy:
    try:
        return SummaryBy(text.strip().lower())
    except ValueError:
        raise CommandError(f"invalid --by {text!r}; use one of {GROUPINGS}") from None


def _date_range(since: str | None, until: str | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    first = today.replace(day=1) if since is None else parse_date(since, "--since")
    last = today if until is None else parse_date(until, "--until")
    if last < first:
        raise CommandError(f"--until {last} is before --since {first}; swap the dates")
    return first, last


def _label(key: int | str | None, grouping: SummaryBy, names: dict[int, str]) -> str:
    if key is None:
        return NO_USER
    if grouping is SummaryBy.USER and isinstance(key, int):
        # A user deleted since the request shows as their former id.
        return names.get(key, f"#{key}")
    return str(key)


def _values(row: UsageSummaryRow, rate: float | None) -> list[str]:
    values = [str(row.requests), *(str(getattr(row, name)) for name in TOKEN_FIELDS)]
    values.append(format_usd(row.cost_micro_usd))
    if rate is not None:
        values.append(format_cny(row.cost_micro_usd, rate))
    return values


def _write_csv(
    grouping: SummaryBy, rows: list[UsageSummaryRow], labels: list[str], rate: float | None
) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    headers = [grouping.value, "requests", *TOKEN_FIELDS, "cost_usd"]
    writer.writerow([*headers, "cost_cny"] if rate is not None else headers)
    for row, label in zip(rows, labels, strict=True):
        writer.writerow([label, *_values(row, rate)])


def _print_usage_table(
    grouping: SummaryBy, rows: list[UsageSummaryRow], labels: list[str], rate: float | None
) -> None:
    headers = [grouping.value, "requests", *TABLE_TOKEN_HEADERS, "cost USD"]
    if rate is not None:
        headers.append("cost CNY")
    lines = [[label, *_values(row, rate)] for row, label in zip(rows, labels, strict=True)]
    lines.append(["total", *_values(_total(rows), rate)])
    print_table(headers, lines)


def _total(rows: list[UsageSummaryRow]) -> UsageSummaryRow:
    return UsageSummaryRow(
        key=None,
        requests=sum(row.requests for row in rows),
        input_tokens=sum(row.input_tokens for row in rows),
        cached_input_tokens=sum(row.cached_input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        reasoning_tokens=sum(row.reasoning_tokens for row in rows),
        tool_use_prompt_tokens=sum(row.tool_use_prompt_tokens for row in rows),
        cost_micro_usd=sum(row.cost_micro_usd for row in rows),
    )
