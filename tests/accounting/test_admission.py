"""Admission: model permissions, rate limits at their boundaries and budget reservations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from teamgate.accounting.admission import (
    Admission,
    Budget,
    Period,
    Principal,
    RateLimits,
    spend_key,
)
from teamgate.accounting.counters import MemoryCounters
from teamgate.core.errors import BudgetExceeded, PermissionDenied, RateLimited

NOW = datetime(2026, 12, 4, 10, 30, 15, tzinfo=UTC).timestamp()


def day_bounds(period: Period, moment: datetime) -> tuple[datetime, datetime | None]:
    """Calendar days in UTC for every period except `total`; enough for these tests."""
    if period == "total":
        return datetime(1970, 1, 1, tzinfo=UTC), None
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def admission(clock: Clock | None = None) -> tuple[Admission, MemoryCounters]:
    counters = MemoryCounters()
    return Admission(counters, day_bounds, clock or Clock(NOW)), counters


async def test_model_outside_allow_list_is_403() -> None:
    gate, _ = admission()
    principal = Principal(subjects=[], allowed_models=frozenset({"gemini-2.5-flash"}))
    with pytest.raises(PermissionDenied) as caught:
        await gate.admit(principal, "gemini-2.5-pro", 10, 10)
    assert "gemini-2.5-pro" in caught.value.message


async def test_rpm_exact_at_boundary() -> None:
    clock = Clock(NOW)
    gate, _ = admission(clock)
    principal = Principal(subjects=[("key:1", RateLimits(rpm=3))])
    for _ in range(3):
        await gate.admit(principal, "m", 0, 0)
    with pytest.raises(RateLimited) as caught:
        await gate.admit(principal, "m", 0, 0)
    assert caught.value.retry_after == pytest.approx(45)
    clock.now += 45
    await gate.admit(principal, "m", 0, 0)


async def test_refused_request_holds_nothing() -> None:
    gate, counters = admission()
    principal = Principal(
        subjects=[("key:1", RateLimits(rpm=10, max_concurrent=1)), ("user:1", RateLimits(rpm=1))]
    )
    await gate.admit(principal, "m", 0, 0)
    with pytest.raises(RateLimited):
        await gate.admit(principal, "m", 0, 0)
    assert await counters.get(f"rpm:key:1:{int(NOW // 60)}") == 1
    assert await counters.get("concurrent:key:1") == 1


async def test_concurrency_slot_released_on_settle() -> None:
    gate, _ = admission()
    principal = Principal(subjects=[("key:1", RateLimits(max_concurrent=1))])
    ticket = await gate.admit(principal, "m", 0, 0)
    with pytest.raises(RateLimited):
        await gate.admit(principal, "m", 0, 0)
    await gate.settle(ticket, 0, 0)
    await gate.settle(ticket, 0, 0)
    await gate.admit(principal, "m", 0, 0)


async def test_tokens_per_minute_settle_to_actual() -> None:
    gate, counters = admission()
    principal = Principal(subjects=[("key:1", RateLimits(tpm=1000))])
    ticket = await gate.admit(principal, "m", 0, 600)
    await gate.settle(ticket, 0, 250)
    assert await counters.get(f"tpm:key:1:{int(NOW // 60)}") == 250
    await gate.admit(principal, "m", 0, 700)
    with pytest.raises(RateLimited):
        await gate.admit(principal, "m", 0, 100)


async def test_budget_reserve_and_settle() -> None:
    gate, counters = admission()
    budget = Budget("user:1", limit_micros=1_000_000, period="daily")
    principal = Principal(subjects=[], budgets=[budget])
    ticket = await gate.admit(principal, "m", 300_000, 0)
    await gate.settle(ticket, 120_000, 0)
    start, _ = day_bounds("daily", datetime.fromtimestamp(NOW, UTC))
    assert await counters.get(spend_key(budget, start)) == 120_000


async def test_exhausted_budget_is_429_with_reset() -> None:
    gate, counters = admission()
    budget = Budget("key:9", limit_micros=500_000, period="daily")
    start, _ = day_bounds("daily", datetime.fromtimestamp(NOW, UTC))
    await counters.set_if_absent(spend_key(budget, start), 450_000, 3600)
    with pytest.raises(BudgetExceeded) as caught:
        await gate.admit(Principal(subjects=[], budgets=[budget]), "m", 60_000, 0)
    assert caught.value.status == 429
    assert caught.value.code == "insufficient_quota"
    assert "2026-12-05T00:00:00+00:00" in caught.value.message
    assert caught.value.retry_after == pytest.approx(13.5 * 3600 - 15)


async def test_total_budget_has_no_reset() -> None:
    gate, _ = admission()
    principal = Principal(subjects=[], budgets=[Budget("user:2", 10, "total")])
    with pytest.raises(BudgetExceeded) as caught:
        await gate.admit(principal, "m", 11, 0)
    assert caught.value.retry_after is None


async def test_budget_race_overshoots_by_at_most_one() -> None:
    gate, counters = admission()
    budget = Budget("user:3", limit_micros=1_000_000, period="monthly")
    start, _ = day_bounds("monthly", datetime.fromtimestamp(NOW, UTC))
    await counters.set_if_absent(spend_key(budget, start), 950_000, 3600)
    principal = Principal(subjects=[], budgets=[budget])

    async def one_request() -> bool:
        try:
            ticket = await gate.admit(principal, "m", 30_000, 0)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        await gate.settle(ticket, 25_000, 0)
        return True

    admitted = await asyncio.gather(*(one_request() for _ in range(20)))
    spent = await counters.get(spend_key(budget, start))
    assert sum(admitted) == 1
    assert spent <= 1_000_000 + 30_000
