from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage import repository as repo
from teamgate.storage.repository import UsageEntry

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)
USD = 1_000_000


async def _spend_daily(
    session: AsyncSession, days: int, micro_usd: int, credential_id: str = "trial"
) -> None:
    """Record one request per day for the `days` days before NOW."""
    records = [
        UsageEntry(
            request_id=f"{credential_id}-{day}",
            created_at=NOW - timedelta(days=day, hours=1),
            public_model="gemini-2.5-pro",
            http_status=200,
            credential_id=credential_id,
            cost_micro_usd=micro_usd,
        )
        for day in range(days)
    ]
    await repo.insert_usage_records(session, records)


async def test_forecast_runs_out_in_25_days(session: AsyncSession) -> None:
    # $384 credit, $12 a day for 7 days: $300 left lasts 25 more days.
    account = await repo.create_credit_account(
        session, "gcp-trial", 384 * USD, NOW - timedelta(days=7), credential_ids=["trial"]
    )
    await _spend_daily(session, 7, 12 * USD)
    await _spend_daily(session, 7, 50 * USD, credential_id="paid")

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.spent_micro_usd == 84 * USD
    assert forecast.remaining_micro_usd == 300 * USD
    assert forecast.daily_burn_micro_usd == 12 * USD
    assert forecast.runs_out_at == NOW + timedelta(days=25)
    assert not forecast.expires_first


async def test_forecast_burn_uses_last_seven_days(session: AsyncSession) -> None:
    account = await repo.create_credit_account(
        session, "trial", 300 * USD, NOW - timedelta(days=30)
    )
    await _spend_daily(session, 7, 12 * USD)
    old = UsageEntry(
        request_id="old",
        created_at=NOW - timedelta(days=20),
        public_model="gemini-2.5-pro",
        http_status=200,
        cost_micro_usd=36 * USD,
    )
    await repo.insert_usage_records(session, [old])

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.spent_micro_usd == 120 * USD
    assert forecast.daily_burn_micro_usd == 12 * USD
    assert forecast.runs_out_at == NOW + timedelta(days=15)


async def test_forecast_since_recent_start(session: AsyncSession) -> None:
    account = await repo.create_credit_account(session, "trial", 300 * USD, NOW - timedelta(days=2))
    await _spend_daily(session, 2, 12 * USD)

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.daily_burn_micro_usd == 12 * USD
    assert forecast.runs_out_at == NOW + timedelta(days=23)


async def test_forecast_expiry_comes_first(session: AsyncSession) -> None:
    account = await repo.create_credit_account(
        session,
        "trial",
        300 * USD,
        NOW - timedelta(days=7),
        expires_at=NOW + timedelta(days=10),
    )
    await _spend_daily(session, 7, 12 * USD)

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.runs_out_at == NOW + timedelta(days=18)
    assert forecast.expires_at == NOW + timedelta(days=10)
    assert forecast.expires_first


async def test_forecast_without_spend(session: AsyncSession) -> None:
    account = await repo.create_credit_account(
        session, "trial", 300 * USD, NOW - timedelta(days=1), expires_at=NOW + timedelta(days=90)
    )

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.spent_micro_usd == 0
    assert forecast.remaining_micro_usd == 300 * USD
    assert forecast.daily_burn_micro_usd == 0
    assert forecast.runs_out_at is None
    assert forecast.expires_first


async def test_forecast_credit_used_up(session: AsyncSession) -> None:
    account = await repo.create_credit_account(session, "small", 10 * USD, NOW - timedelta(days=7))
    await _spend_daily(session, 7, 2 * USD)

    forecast = await repo.credit_forecast(session, account, NOW)
    assert forecast.remaining_micro_usd == -4 * USD
    assert forecast.runs_out_at == NOW


async def test_credit_accounts_listed(session: AsyncSession) -> None:
    await repo.create_credit_account(session, "later", USD, NOW)
    await repo.create_credit_account(session, "earlier", USD, NOW - timedelta(days=1))
    await session.commit()

    names = [account.name for account in await repo.list_credit_accounts(session)]
    assert names == ["earlier", "later"]
    with pytest.raises(repo.AlreadyExists, match="'later' already exists"):
        await repo.create_credit_account(session, "later", USD, NOW)


async def test_credit_account_rejects_bad_values(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="credit_micro_usd must be zero or more"):
        await repo.create_credit_account(session, "bad", -1, NOW)
    with pytest.raises(ValueError, match="must be after starts_at"):
        await repo.create_credit_account(session, "bad", USD, NOW, expires_at=NOW)
