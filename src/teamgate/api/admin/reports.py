"""Admin routes for the usage ledger and credit accounts.

`since` and `until` take an ISO date or a date-time with a timezone. A date
means a UTC day: `since` starts at its midnight and `until` includes the whole
day, as `teamgate usage` does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import select

from teamgate.api.admin.auth import Caller, Reading, Sessions
from teamgate.api.admin.errors import Unprocessable, not_found
from teamgate.api.admin.schemas import CreditCreate
from teamgate.api.admin.views import (
    CreditView,
    ForecastView,
    RecordPage,
    UsageReport,
    credit_view,
    forecast_view,
    record_view,
    usage_row,
)
from teamgate.core.values import parse_usd
from teamgate.storage.models import CreditAccount, UsageRecord, utc_now
from teamgate.storage.repository import (
    SummaryBy,
    create_credit_account,
    credit_forecast,
    list_credit_accounts,
    usage_summary,
)

MAX_PAGE = 1000
Moment = Annotated[
    AwareDatetime | date | None,
    Query(description="ISO date (a UTC day) or date-time with a timezone"),
]

router = APIRouter()


@router.get("/usage", tags=["usage"])
async def usage(
    caller: Caller,
    session: Reading,
    by: SummaryBy = SummaryBy.USER,
    since: Moment = None,
    until: Moment = None,
) -> UsageReport:
    """Add up requests, tokens by kind and cost per user, model or UTC day.

    The default range is from the first of this month (UTC) to now.
    """
    now = utc_now()
    start = _start(since) if since is not None else _start(now.date().replace(day=1))
    end = _end(until) if until is not None else now
    _check_range(start, end)
    rows = await usage_summary(session, by, start, end)
    return UsageReport(by=by.value, since=start, until=end, rows=[usage_row(row) for row in rows])


@router.get("/usage/records", tags=["usage"])
async def usage_records(
    caller: Caller,
    session: Reading,
    user_id: int | None = None,
    key_id: int | None = None,
    model: str | None = Query(default=None, description="Public model name"),
    status: int | None = Query(default=None, description="HTTP status of the request"),
    since: Moment = None,
    until: Moment = None,
    limit: int = Query(default=100, ge=1, le=MAX_PAGE),
    offset: int = Query(default=0, ge=0),
) -> RecordPage:
    """List ledger records, newest first, one page of at most 1000 at a time."""
    query = select(UsageRecord)
    filters = {
        UsageRecord.user_id: user_id,
        UsageRecord.api_key_id: key_id,
        UsageRecord.public_model: model,
        UsageRecord.http_status: status,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(UsageRecord.created_at >= _start(since))
    if until is not None:
        query = query.where(UsageRecord.created_at < _end(until))
    query = query.order_by(UsageRecord.created_at.desc(), UsageRecord.request_id.desc())
    records = (await session.scalars(query.limit(limit).offset(offset))).all()
    return RecordPage(records=[record_view(row) for row in records], limit=limit, offset=offset)


@router.get("/credits", tags=["credits"])
async def credits_list(caller: Caller, session: Reading) -> list[CreditView]:
    return [credit_view(account) for account in await list_credit_accounts(session)]


@router.post("/credits", status_code=201, tags=["credits"])
async def credits_create(body: CreditCreate, caller: Caller, sessions: Sessions) -> CreditView:
    """Record a credit, such as a trial credit on the upstream billing account."""
    if body.expires_at is not None and body.expires_at <= body.starts_at:
        raise Unprocessable("expires_at must be after starts_at", param="expires_at")
    async with sessions.begin() as session:
        account = await create_credit_account(
            session,
            body.name,
            parse_usd(body.credit_usd, "credit_usd"),
            body.starts_at,
            expires_at=body.expires_at,
            credential_ids=body.credential_ids,
            notes=body.notes,
        )
        return credit_view(account)


@router.get("/credits/{account_id}/forecast", tags=["credits"])
async def credits_forecast(account_id: int, caller: Caller, session: Reading) -> ForecastView:
    """Report the spend against a credit, its daily burn rate and when it runs out."""
    account = await session.get(CreditAccount, account_id)
    if account is None:
        raise not_found("credit account", account_id)
    return forecast_view(await credit_forecast(session, account, utc_now()))


def _start(moment: date) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment, time(), UTC)


def _end(moment: date) -> datetime:
    """Return the exclusive end: the date-time itself, or the midnight after a date."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment + timedelta(days=1), time(), UTC)


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Unprocessable(
            f"until {end.isoformat()} is not after since {start.isoformat()}; swap them",
            param="until",
        )
