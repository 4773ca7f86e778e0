"""Credit accounts, such as a $300 trial credit, and a forecast of when the credit runs out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import CreditAccount, UsageRecord
from teamgate.storage.repository.common import AlreadyExists

# The burn rate is the average daily spend over this window, or since the
# credit's start when that is more recent.
BURN_WINDOW = timedelta(days=7)
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class CreditForecast:
    account_id: int
    credit_micro_usd: int
    spent_micro_usd: int
    """Cost of the matching requests from the credit's start up to `now`."""
    remaining_micro_usd: int
    """Credit minus spend; negative once the spend exceeds the credit."""
    daily_burn_micro_usd: int
    """Average spend per day over the burn window, rounded to a micro-USD."""
    runs_out_at: datetime | None
    """When the credit is used up at that rate: `now` if it already is, None if nothing is spent."""
    expires_at: datetime | None
    expires_first: bool
    """The credit expires before the spend uses it up, so the rest of it is lost."""


async def create_credit_account(
    session: AsyncSession,
    name: str,
    credit_micro_usd: int,
    starts_at: datetime,
    *,
    expires_at: datetime | None = None,
    credential_ids: Sequence[str] | None = None,
    notes: str | None = None,
) -> CreditAccount:
    """Record a credit; spend counts requests through `credential_ids` (None: every credential)."""
    if credit_micro_usd < 0:
        raise ValueError(f"credit_micro_usd must be zero or more, got {credit_micro_usd}")
    if expires_at is not None and expires_at <= starts_at:
        raise ValueError(f"expires_at {expires_at} must be after starts_at {starts_at}")
    existing = await session.execute(select(CreditAccount.id).where(CreditAccount.name == name))
    if existing.first() is not None:
        raise AlreadyExists(f"a credit account named {name!r} already exists; choose another name")
    account = CreditAccount(
        name=name,
        credit_micro_usd=credit_micro_usd,
        starts_at=starts_at,
        expires_at=expires_at,
        credential_ids=None if credential_ids is None else list(credential_ids),
        notes=notes,
    )
    session.add(account)
    await session.flush()
    return account


async def list_credit_accounts(session: AsyncSession) -> list[CreditAccount]:
    result = await session.execute(select(CreditAccount).order_by(CreditAccount.starts_at))
    return list(result.scalars())


async def credit_forecast(
    session: AsyncSession, account: CreditAccount, now: datetime
) -> CreditForecast:
    """Report the spend against a credit, its daily burn rate and the day it runs out."""
    spent = await _spend(session, account, account.starts_at, now)
    window_start = max(account.starts_at, now - BURN_WINDOW)
    window_spent = await _spend(session, account, window_start, now)
    window_seconds = (now - window_start).total_seconds()
    remaining = account.credit_micro_usd - spent

    daily_burn = 0
    runs_out_at: datetime | None = None
    if window_seconds > 0 and window_spent > 0:
        daily_burn = round(window_spent * _SECONDS_PER_DAY / window_seconds)
        seconds_left = max(remaining, 0) * window_seconds / window_spent
        runs_out_at = now + timedelta(seconds=seconds_left)
    elif remaining <= 0:
        runs_out_at = now

    expires_first = account.expires_at is not None and (
        runs_out_at is None or account.expires_at < runs_out_at
    )
    return CreditForecast(
        account_id=account.id,
        credit_micro_usd=account.credit_micro_usd,
        spent_micro_usd=spent,
        remaining_micro_usd=remaining,
        daily_burn_micro_usd=daily_burn,
        runs_out_at=runs_out_at,
        expires_at=account.expires_at,
        expires_first=expires_first,
    )


async def _spend(
    session: AsyncSession, account: CreditAccount, since: datetime, until: datetime
) -> int:
    query = select(func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0)).where(
        UsageRecord.created_at >= since, UsageRecord.created_at <= until
    )
    if account.credential_ids is not None:
        query = query.where(UsageRecord.credential_id.in_(account.credential_ids))
    return int(await session.scalar(query) or 0)
