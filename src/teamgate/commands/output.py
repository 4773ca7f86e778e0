"""Plain-text tables and the formats of money and times in command output."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal

import typer

from teamgate.core.values import format_usd_cents, usd

NONE = "-"
_SIX_PLACES = Decimal("0.000001")


def format_cny(micro_usd: int, cny_per_usd: float) -> str:
    """Convert micro-USD at the configured rate and format it with six decimal places."""
    # str() keeps the rate as written in the configuration, for example 7.1 rather
    # than the nearest binary float 7.0999999999999996447286321199499070644378662109375.
    amount = usd(micro_usd) * Decimal(str(cny_per_usd))
    return f"{amount.quantize(_SIX_PLACES, rounding=ROUND_HALF_EVEN):.6f}"


def format_budget(micro_usd: int | None) -> str:
    """Format a budget with at least two decimal places, or `-` when none is set."""
    if micro_usd is None:
        return NONE
    return format_usd_cents(micro_usd)


def format_budget_columns(micro_usd: int | None, period: str) -> list[str]:
    """Format the budget and period columns, showing the period only when a budget is set."""
    return [format_budget(micro_usd), NONE if micro_usd is None else period]


def format_time(moment: datetime | None, tz: tzinfo) -> str:
    if moment is None:
        return NONE
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def format_optional(value: object) -> str:
    return NONE if value is None else str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers in left-aligned columns separated by two spaces."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    for line in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        typer.echo("  ".join(cells).rstrip())
