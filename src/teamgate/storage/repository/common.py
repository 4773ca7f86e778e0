"""Pieces shared by the repository modules: errors, limits and dialect-specific inserts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import Base, BudgetPeriod, LimitsMixin


class RecordNotFound(LookupError):
    """No row has the requested id or name."""


class AlreadyExists(ValueError):
    """A row with the same unique name already exists."""


@dataclass(frozen=True)
class Limits:
    """A budget in micro-USD per period and rate limits; None sets no limit at this level."""

    budget_micro_usd: int | None = None
    budget_period: BudgetPeriod = BudgetPeriod.MONTHLY
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget_period", BudgetPeriod(self.budget_period))
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int) and value < 0:
                raise ValueError(f"{field.name} must be zero or more, got {value}")

    @classmethod
    def of(cls, row: LimitsMixin) -> Limits:
        """Return the limits stored on a user, key, end user or group row."""
        return cls(**{field.name: getattr(row, field.name) for field in fields(cls)})

    def apply_to(self, row: LimitsMixin) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            setattr(row, field.name, value.value if field.name == "budget_period" else value)


LIMIT_FIELDS = frozenset(field.name for field in fields(Limits))


def check_limit_changes(changes: dict[str, Any]) -> None:
    """Validate the limit fields of a partial update by building Limits from them."""
    Limits(**{name: value for name, value in changes.items() if name in LIMIT_FIELDS})


def insert_ignoring_duplicates(
    session: AsyncSession, model: type[Base] | Table, index_elements: list[str]
) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT that skips rows conflicting on `index_elements` (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    raise ValueError(f"unsupported database dialect {dialect!r}")


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
