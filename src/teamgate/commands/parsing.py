"""Parse command-line values: USD amounts, dates, budget periods, name lists and limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from teamgate.commands.common import CommandError
from teamgate.core import values
from teamgate.storage.models import BudgetPeriod
from teamgate.storage.repository import Limits

PERIODS = ", ".join(period.value for period in BudgetPeriod)


def parse_usd(text: str, option: str) -> int:
    """Convert a USD decimal string such as `12.50` to integer micro-USD, without floats."""
    try:
        return values.parse_usd(text, option)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_multiplier(text: str, option: str = "--multiplier") -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise CommandError(f"invalid number {text!r} for {option}; write it as 1.5") from None
    if not value.is_finite() or value < 0:
        raise CommandError(f"invalid {option} {text!r}; give a number of zero or more, like 1.5")
    return value


def parse_period(text: str, option: str = "--period") -> BudgetPeriod:
    try:
        return BudgetPeriod(text.strip().lower())
    except ValueError:
        raise CommandError(f"invalid {option} {text!r}; use one of {PERIODS}") from None


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"invalid date {text!r} for {option}; write it as YYYY-MM-DD") from None


def start_of_day(day: date, tz: tzinfo) -> datetime:
    """Return local midnight at the start of `day` in `tz`, converted to UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """Return local midnight at the end of `day` in `tz`, converted to UTC."""
    return start_of_day(day + timedelta(days=1), tz)


def parse_names(text: str | None, option: str) -> list[str] | None:
    """Split a comma-separated list such as `m1,m2`; None when the option was not given."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise CommandError(f"invalid {option} {text!r}; write names separated by commas: m1,m2")
    return names


def parse_limits(
    budget: str | None,
    period: str | None,
    *,
    rpm: int | None = None,
    tpm: int | None = None,
    rpd: int | None = None,
    concurrent: int | None = None,
) -> Limits:
    """Build Limits from the budget and rate-limit options of a command."""
    if period is not None and budget is None:
        raise CommandError(f"--period {period} needs --budget USD; add the amount")
    counts = {"--rpm": rpm, "--tpm": tpm, "--rpd": rpd, "--concurrent": concurrent}
    for option, value in counts.items():
        if value is not None and value < 0:
            raise CommandError(f"invalid {option} {value}; give zero or more")
    return Limits(
        budget_micro_usd=None if budget is None else parse_usd(budget, "--budget"),
        budget_period=BudgetPeriod.MONTHLY if period is None else parse_period(period),
        rpm=rpm,
        tpm=tpm,
        rpd=rpd,
        max_concurrent=concurrent,
    )
