from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from teamgate.storage.models import BudgetPeriod
from teamgate.storage.periods import EPOCH, period_end, period_start

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_daily_period_utc() -> None:
    now = utc(2026, 3, 14, 15, 9, 26)
    assert period_start("daily", now) == utc(2026, 3, 14)
    assert period_end("daily", now) == utc(2026, 3, 15)


def test_daily_period_at_exact_midnight() -> None:
    now = utc(2026, 3, 14)
    assert period_start(BudgetPeriod.DAILY, now) == now
    assert period_end(BudgetPeriod.DAILY, now) == utc(2026, 3, 15)


def test_weekly_period_starts_monday() -> None:
    sunday_night = utc(2026, 3, 15, 23, 59, 59)
    assert period_start("weekly", sunday_night) == utc(2026, 3, 9)
    assert period_end("weekly", sunday_night) == utc(2026, 3, 16)


def test_weekly_period_across_month_and_year() -> None:
    thursday = utc(2026, 1, 1, 12)
    assert period_start("weekly", thursday) == utc(2025, 12, 29)
    assert period_end("weekly", thursday) == utc(2026, 1, 5)


def test_monthly_period_december_rolls_year() -> None:
    now = utc(2025, 12, 31, 23, 59, 59, 999999)
    assert period_start("monthly", now) == utc(2025, 12, 1)
    assert period_end("monthly", now) == utc(2026, 1, 1)


def test_monthly_period_february_leap_year() -> None:
    now = utc(2028, 2, 29, 8)
    assert period_start("monthly", now) == utc(2028, 2, 1)
    assert period_end("monthly", now) == utc(2028, 3, 1)


def test_total_period_never_resets() -> None:
    now = utc(2026, 3, 14)
    assert period_start("total", now) == EPOCH
    assert period_end("total", now) is None


def test_daily_period_in_shanghai() -> None:
    # 20:00 UTC on 31 March is already 1 April, 04:00, in Shanghai (UTC+8).
    now = utc(2026, 3, 31, 20)
    assert period_start("daily", now, SHANGHAI) == utc(2026, 3, 31, 16)
    assert period_end("daily", now, SHANGHAI) == utc(2026, 4, 1, 16)
    assert period_start("monthly", now, SHANGHAI) == utc(2026, 3, 31, 16)
    assert period_end("monthly", now, SHANGHAI) == utc(2026, 4, 30, 16)


def test_weekly_period_across_dst_change() -> None:
    # New York moves from UTC-5 to UTC-4 on Sunday 8 March 2026.
    now = datetime(2026, 3, 10, 9, tzinfo=NEW_YORK)
    start = period_start("weekly", now, NEW_YORK)
    end = period_end("weekly", now, NEW_YORK)
    assert start == utc(2026, 3, 9, 4)
    assert end == utc(2026, 3, 16, 4)
    assert start.astimezone(NEW_YORK).hour == 0


def test_monthly_period_start_before_dst_change() -> None:
    now = datetime(2026, 3, 20, tzinfo=NEW_YORK)
    assert period_start("monthly", now, NEW_YORK) == utc(2026, 3, 1, 5)
    assert period_end("monthly", now, NEW_YORK) == utc(2026, 4, 1, 4)


def test_periods_return_utc() -> None:
    start = period_start("daily", utc(2026, 6, 1, 12), SHANGHAI)
    assert start.tzinfo is UTC


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        period_start("daily", datetime(2026, 3, 14))


def test_unknown_period_rejected() -> None:
    with pytest.raises(ValueError, match="'hourly' is not a valid BudgetPeriod"):
        period_start("hourly", utc(2026, 3, 14))
