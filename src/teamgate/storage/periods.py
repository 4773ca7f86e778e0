"""Start and end of the budget period that contains a moment, in a chosen timezone.

Daily periods start at local midnight, weekly ones on Monday at local midnight
and monthly ones on the first of the month. A `total` budget never resets, so
its period starts at the Unix epoch and has no end. Results are in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from teamgate.storage.models import BudgetPeriod

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def period_start(period: BudgetPeriod | str, now: datetime, tz: tzinfo = UTC) -> datetime:
    """Return the first moment of the period containing `now`; `now` must be timezone-aware."""
    kind = BudgetPeriod(period)
    if kind is BudgetPeriod.TOTAL:
        return EPOCH
    return _local_midnight(_first_day(kind, _local_date(now, tz)), tz)


def period_end(period: BudgetPeriod | str, now: datetime, tz: tzinfo = UTC) -> datetime | None:
    """Return the moment the period containing `now` resets, or None for `total`."""
    kind = BudgetPeriod(period)
    if kind is BudgetPeriod.TOTAL:
        return None
    first = _first_day(kind, _local_date(now, tz))
    return _local_midnight(_next_first_day(kind, first), tz)


def _local_date(now: datetime, tz: tzinfo) -> date:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now.isoformat()} has no timezone; pass an aware one")
    return now.astimezone(tz).date()


def _first_day(kind: BudgetPeriod, day: date) -> date:
    if kind is BudgetPeriod.WEEKLY:
        return day - timedelta(days=day.weekday())
    if kind is BudgetPeriod.MONTHLY:
        return day.replace(day=1)
    return day


def _next_first_day(kind: BudgetPeriod, first: date) -> date:
    if kind is BudgetPeriod.WEEKLY:
        return first + timedelta(days=7)
    if kind is BudgetPeriod.MONTHLY:
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first + timedelta(days=1)


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    # Where a DST change skips midnight, zoneinfo applies the offset in force
    # before the change, which lands on the first instant that exists that day.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
