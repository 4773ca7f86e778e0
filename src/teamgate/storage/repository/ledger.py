"""The usage ledger: one record per request, inserted in batches, and spend queries over it."""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Date, Table, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import UsageRecord
from teamgate.storage.repository.common import dialect_name, insert_ignoring_duplicates


@dataclass(frozen=True)
class UsageEntry:
    """One request for the ledger; ids are None when the request had no such party."""

    request_id: str
    created_at: datetime
    public_model: str
    http_status: int
    user_id: int | None = None
    api_key_id: int | None = None
    end_user_id: int | None = None
    group_id: int | None = None
    upstream_model: str | None = None
    credential_id: str | None = None
    stream: bool = False
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    cost_micro_usd: int = 0
    latency_ms: int | None = None
    time_to_first_token_ms: int | None = None
    error_class: str | None = None
    estimated: bool = False


class Subject(StrEnum):
    """Whose spending `spend_since` adds up."""

    USER = "user"
    KEY = "key"
    END_USER = "end_user"
    GROUP = "group"


class SummaryBy(StrEnum):
    USER = "user"
    MODEL = "model"
    DAY = "day"


@dataclass(frozen=True)
class UsageSummaryRow:
    """Totals for one user id, public model name or UTC day (`YYYY-MM-DD`)."""

    key: int | str | None
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    tool_use_prompt_tokens: int
    cost_micro_usd: int


_SUBJECT_COLUMNS = {
    Subject.USER: UsageRecord.user_id,
    Subject.KEY: UsageRecord.api_key_id,
    Subject.END_USER: UsageRecord.end_user_id,
    Subject.GROUP: UsageRecord.group_id,
}
_TOKEN_COLUMNS = (
    UsageRecord.input_tokens,
    UsageRecord.cached_input_tokens,
    UsageRecord.output_tokens,
    UsageRecord.reasoning_tokens,
    UsageRecord.tool_use_prompt_tokens,
)


_ENTRY_FIELDS = tuple(field.name for field in fields(UsageEntry))


async def insert_usage_records(
    session: AsyncSession,
    records: Sequence[UsageEntry | Mapping[str, Any]],
    *,
    count_new: bool = True,
) -> int:
    """Insert records, one statement per batch of rows, and return how many were new.

    A record whose request id is already stored, or repeats an earlier one in
    `records`, is skipped, so a retried batch adds nothing twice. Mappings take
    the field names of UsageEntry and raise TypeError on any other key. With
    `count_new` false the rows are sent without RETURNING, which is cheaper,
    and the number returned is how many were given.
    """
    rows = [_row(record) for record in records]
    if not rows:
        return 0
    # One statement executed with many parameter sets: SQLAlchemy compiles it once,
    # caches it, and sends the rows as batched multi-row INSERTs ("insertmanyvalues").
    # Building `.values(rows)` instead would compile a new giant statement per batch.
    table = typing.cast(Table, UsageRecord.__table__)
    insert = insert_ignoring_duplicates(session, table, ["request_id"])
    connection = await session.connection()
    if not count_new:
        await connection.execute(insert, rows)
        return len(rows)
    result = await connection.execute(insert.returning(table.c.request_id), rows)
    return len(result.all())


def _row(record: UsageEntry | Mapping[str, Any]) -> dict[str, Any]:
    entry = record if isinstance(record, UsageEntry) else UsageEntry(**record)
    # A flat copy: dataclasses.asdict would deep-copy every value, several times slower.
    return {name: getattr(entry, name) for name in _ENTRY_FIELDS}


async def spend_since(
    session: AsyncSession,
    subject: Subject | str,
    subject_id: int,
    since: datetime,
    until: datetime | None = None,
) -> int:
    """Return the cost in micro-USD of a subject's requests at or after `since` (before `until`)."""
    column = _SUBJECT_COLUMNS[Subject(subject)]
    query = select(func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0)).where(
        column == subject_id, UsageRecord.created_at >= since
    )
    if until is not None:
        query = query.where(UsageRecord.created_at < until)
    return int(await session.scalar(query) or 0)


async def usage_summary(
    session: AsyncSession, by: SummaryBy | str, since: datetime, until: datetime
) -> list[UsageSummaryRow]:
    """Add up requests, tokens by kind and cost per user, model or UTC day in [since, until).

    Rows are sorted by key, and the row of requests without a user comes last.
    """
    key = _summary_key(session, SummaryBy(by)).label("key")
    query = (
        select(
            key,
            func.count().label("requests"),
            *(func.coalesce(func.sum(column), 0) for column in _TOKEN_COLUMNS),
            func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0),
        )
        .where(UsageRecord.created_at >= since, UsageRecord.created_at < until)
        .group_by(key)
    )
    result = await session.execute(query)
    rows = [_summary_row(tuple(row)) for row in result]
    # Sorted here because the databases disagree on where NULL keys go.
    return sorted(rows, key=lambda row: (row.key is None, row.key))


def _summary_key(session: AsyncSession, by: SummaryBy) -> ColumnElement[Any]:
    if by is SummaryBy.USER:
        return UsageRecord.user_id.expression
    if by is SummaryBy.MODEL:
        return UsageRecord.public_model.expression
    if dialect_name(session) == "sqlite":
        # SQLite stores the UTC time as "YYYY-MM-DD HH:MM:SS[.ffffff]" text.
        return func.substr(UsageRecord.created_at, 1, 10)
    return cast(func.timezone("UTC", UsageRecord.created_at), Date)


def _summary_row(values: tuple[Any, ...]) -> UsageSummaryRow:
    key = values[0]
    if isinstance(key, date):
        key = key.isoformat()
    counts = [int(value) for value in values[1:]]
    return UsageSummaryRow(key, *counts)
