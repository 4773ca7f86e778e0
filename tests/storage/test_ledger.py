from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage import repository as repo
from teamgate.storage.models import UsageRecord
from teamgate.storage.periods import period_start
from teamgate.storage.repository import Subject, SummaryBy, UsageEntry

# A Monday, so the weekly and daily periods both start at midnight on it.
MONDAY = datetime(2026, 6, 1, tzinfo=UTC)


def entry(request_id: str, created_at: datetime, **fields: Any) -> UsageEntry:
    values: dict[str, Any] = {"public_model": "gemini-2.5-flash", "http_status": 200}
    values.update(fields)
    return UsageEntry(request_id=request_id, created_at=created_at, **values)


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


async def test_batch_insert_skips_duplicates(session: AsyncSession) -> None:
    first = [entry("req-1", MONDAY, cost_micro_usd=10), entry("req-2", MONDAY)]
    assert await repo.insert_usage_records(session, first) == 2

    retried = [
        entry("req-2", MONDAY, cost_micro_usd=999),
        entry("req-3", MONDAY),
        entry("req-3", MONDAY),
    ]
    assert await repo.insert_usage_records(session, retried) == 1
    await session.commit()

    assert await _count(session) == 3
    kept = await session.get(UsageRecord, "req-2")
    assert kept is not None
    assert kept.cost_micro_usd == 0


async def test_insert_accepts_mappings(session: AsyncSession) -> None:
    record = {
        "request_id": "req-map",
        "created_at": MONDAY,
        "public_model": "gemini-2.5-pro",
        "upstream_model": "gemini-2.5-pro",
        "credential_id": "free-1",
        "http_status": 429,
        "error_class": "UpstreamRateLimited",
        "stream": True,
        "input_tokens": 100,
        "cached_input_tokens": 40,
        "output_tokens": 7,
        "reasoning_tokens": 30,
        "tool_use_prompt_tokens": 5,
        "cost_micro_usd": 1234,
        "latency_ms": 850,
        "time_to_first_token_ms": 120,
        "estimated": True,
    }
    assert await repo.insert_usage_records(session, [record]) == 1
    await session.commit()
    session.expunge_all()

    stored = await session.get(UsageRecord, "req-map")
    assert stored is not None
    for name, value in record.items():
        assert getattr(stored, name) == value, name


async def test_insert_rejects_unknown_field(session: AsyncSession) -> None:
    record = {"request_id": "r", "created_at": MONDAY, "public_model": "m", "http_status": 200}
    with pytest.raises(TypeError, match="api_key"):
        await repo.insert_usage_records(session, [{**record, "api_key": "sk-tg-secret"}])


async def test_insert_rejects_naive_time(session: AsyncSession) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await repo.insert_usage_records(session, [entry("r", datetime(2026, 6, 1))])


async def test_insert_many_batches(session: AsyncSession) -> None:
    records = [entry(f"req-{n}", MONDAY, cost_micro_usd=1) for n in range(2500)]
    assert await repo.insert_usage_records(session, records) == 2500
    assert await repo.insert_usage_records(session, []) == 0
    await session.commit()
    assert await _count(session) == 2500


async def test_spend_since_across_periods(session: AsyncSession) -> None:
    records = [
        entry("last-month", MONDAY - timedelta(days=3), user_id=1, cost_micro_usd=1_000),
        entry("sunday-late", MONDAY - timedelta(microseconds=1), user_id=1, cost_micro_usd=200),
        entry("monday-start", MONDAY, user_id=1, cost_micro_usd=30),
        entry("tuesday", MONDAY + timedelta(days=1, hours=5), user_id=1, cost_micro_usd=4),
        entry("other-user", MONDAY + timedelta(hours=1), user_id=2, cost_micro_usd=50_000),
    ]
    await repo.insert_usage_records(session, records)
    await session.commit()
    now = MONDAY + timedelta(days=1, hours=6)

    daily = await repo.spend_since(session, "user", 1, period_start("daily", now))
    weekly = await repo.spend_since(session, "user", 1, period_start("weekly", now))
    monthly = await repo.spend_since(session, "user", 1, period_start("monthly", now))
    total = await repo.spend_since(session, "user", 1, period_start("total", now))
    assert daily == 4
    assert weekly == 34
    assert monthly == 34
    assert total == 1_234
    assert await repo.spend_since(session, "user", 1, MONDAY, until=MONDAY) == 0
    assert await repo.spend_since(session, "user", 3, MONDAY) == 0


async def test_spend_since_by_subject(session: AsyncSession) -> None:
    await repo.insert_usage_records(
        session,
        [
            entry("a", MONDAY, user_id=1, api_key_id=10, group_id=5, cost_micro_usd=1),
            entry("b", MONDAY, user_id=1, api_key_id=11, group_id=5, cost_micro_usd=2),
            entry("c", MONDAY, user_id=7, end_user_id=3, group_id=5, cost_micro_usd=4),
        ],
    )
    assert await repo.spend_since(session, Subject.KEY, 10, MONDAY) == 1
    assert await repo.spend_since(session, Subject.USER, 1, MONDAY) == 3
    assert await repo.spend_since(session, Subject.END_USER, 3, MONDAY) == 4
    assert await repo.spend_since(session, Subject.GROUP, 5, MONDAY) == 7


async def test_spend_since_total_exceeds_int32(session: AsyncSession) -> None:
    big = 3_000_000_000  # $3,000 in micro-USD, more than a 32-bit integer can store
    await repo.insert_usage_records(
        session,
        [
            entry("x", MONDAY, user_id=1, cost_micro_usd=big),
            entry("y", MONDAY, user_id=1, cost_micro_usd=big),
        ],
    )
    assert await repo.spend_since(session, "user", 1, MONDAY) == 2 * big


async def _summary_fixture(session: AsyncSession) -> None:
    tokens = {
        "input_tokens": 10,
        "cached_input_tokens": 2,
        "output_tokens": 5,
        "reasoning_tokens": 3,
        "tool_use_prompt_tokens": 1,
    }
    await repo.insert_usage_records(
        session,
        [
            entry("1", MONDAY + timedelta(hours=1), user_id=1, cost_micro_usd=100, **tokens),
            entry("2", MONDAY + timedelta(hours=23, minutes=59), user_id=2, cost_micro_usd=10),
            entry(
                "3",
                MONDAY + timedelta(days=1),
                user_id=1,
                public_model="gemini-2.5-pro",
                cost_micro_usd=1,
                **tokens,
            ),
            entry("4", MONDAY + timedelta(days=1, hours=2), cost_micro_usd=1000),
            entry("too-late", MONDAY + timedelta(days=2), user_id=1, cost_micro_usd=7),
            entry("too-early", MONDAY - timedelta(seconds=1), user_id=1, cost_micro_usd=7),
        ],
    )


async def test_usage_summary_by_user(session: AsyncSession) -> None:
    await _summary_fixture(session)
    rows = await repo.usage_summary(session, SummaryBy.USER, MONDAY, MONDAY + timedelta(days=2))

    assert [row.key for row in rows] == [1, 2, None]
    first = rows[0]
    assert first.requests == 2
    assert first.input_tokens == 20
    assert first.cached_input_tokens == 4
    assert first.output_tokens == 10
    assert first.reasoning_tokens == 6
    assert first.tool_use_prompt_tokens == 2
    assert first.cost_micro_usd == 101
    assert rows[2].cost_micro_usd == 1000


async def test_usage_summary_by_model(session: AsyncSession) -> None:
    await _summary_fixture(session)
    rows = await repo.usage_summary(session, "model", MONDAY, MONDAY + timedelta(days=2))

    assert [(row.key, row.requests, row.cost_micro_usd) for row in rows] == [
        ("gemini-2.5-flash", 3, 1110),
        ("gemini-2.5-pro", 1, 1),
    ]


async def test_usage_summary_by_day(session: AsyncSession) -> None:
    await _summary_fixture(session)
    rows = await repo.usage_summary(session, "day", MONDAY, MONDAY + timedelta(days=2))

    assert [(row.key, row.requests, row.cost_micro_usd) for row in rows] == [
        ("2026-06-01", 2, 110),
        ("2026-06-02", 2, 1001),
    ]


async def test_insert_without_count_skips_duplicates(session: AsyncSession) -> None:
    day = datetime(2026, 6, 1, tzinfo=UTC)
    first = [entry("plain-1", day), entry("plain-2", day)]
    assert await repo.insert_usage_records(session, first, count_new=False) == 2
    assert await repo.insert_usage_records(session, first, count_new=False) == 2
    stored = await session.scalar(select(func.count()).select_from(UsageRecord))
    assert stored == 2
