"""Tables: groups, users, API keys, end users, the usage ledger and credit accounts.

Money is integer micro-USD (1 USD = 1_000_000) in BigInteger columns. Budget
and rate-limit columns are NULL when no limit is set at that level. A user or
end user with NULL takes the default of their group. A group with NULL sets no
limit, and a key with NULL adds no limit beyond its owner's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from teamgate.storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DEFAULT_GROUP = "default"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    REVOKED = "revoked"


class BudgetPeriod(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    TOTAL = "total"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class LimitsMixin:
    """A budget in micro-USD per period and rate limits; NULL sets no limit at this level."""

    budget_micro_usd: Mapped[int | None] = mapped_column(BigInteger)
    budget_period: Mapped[str] = mapped_column(
        String(8), default=BudgetPeriod.MONTHLY.value, server_default=BudgetPeriod.MONTHLY.value
    )
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    rpd: Mapped[int | None] = mapped_column(Integer)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)


class Group(LimitsMixin, Base):
    """A set of users sharing a price multiplier, the models they may use and default limits."""

    __tablename__ = "groups"
    __table_args__ = (_one_of("budget_period", BudgetPeriod),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    price_multiplier: Mapped[Decimal] = mapped_column(
        Numeric(10, 4), default=Decimal(1), server_default="1"
    )
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    """Public model names the members may use; NULL allows every model."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class User(LimitsMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        _one_of("role", Role),
        _one_of("status", UserStatus),
        _one_of("budget_period", BudgetPeriod),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """An argon2id hash in PHC string format; NULL when the user has no console password."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class ApiKey(LimitsMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (_one_of("status", KeyStatus), _one_of("budget_period", BudgetPeriod))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 hex digest of the whole key; the key itself is never stored."""
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the key, to tell keys apart in listings."""
    owner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=KeyStatus.ACTIVE.value)
    trusted_app: Mapped[bool] = mapped_column(Boolean, default=False)
    """The key belongs to an app (such as Open WebUI) whose forwarded user headers are trusted."""
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class EndUser(LimitsMixin, Base):
    """A person using a trusted app who has no key; identified by the app's own user id."""

    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("app_owner_user_id", "external_id", name="uq_end_users_owner_external_id"),
        _one_of("status", UserStatus),
        _one_of("budget_period", BudgetPeriod),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_owner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    """The owner of the trusted-app key that forwarded this person."""
    external_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(64))
    """The role the app reported, kept as given; it grants nothing in teamgate."""
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class UsageRecord(Base):
    """One request, successful or not. Token counts come from the provider or an estimate.

    The id columns carry no foreign keys, so a batch of records does not fail
    because a user or key was deleted after the request.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_created_at", "created_at"),
        Index("ix_usage_records_user_id_created_at", "user_id", "created_at"),
        Index("ix_usage_records_api_key_id_created_at", "api_key_id", "created_at"),
        Index("ix_usage_records_end_user_id_created_at", "end_user_id", "created_at"),
        Index("ix_usage_records_group_id_created_at", "group_id", "created_at"),
        Index("ix_usage_records_public_model_created_at", "public_model", "created_at"),
        Index("ix_usage_records_credential_id_created_at", "credential_id", "created_at"),
    )

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(Integer)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    end_user_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    public_model: Mapped[str] = mapped_column(String(128))
    upstream_model: Mapped[str | None] = mapped_column(String(128))
    credential_id: Mapped[str | None] = mapped_column(String(128))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tool_use_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    time_to_first_token_ms: Mapped[int | None] = mapped_column(Integer)
    http_status: Mapped[int] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(64))
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    """The token counts or cost are estimates because the provider reported none."""


class CreditAccount(Base):
    """A prepaid or trial credit on a billing account, such as $300 that expires on a date."""

    __tablename__ = "credit_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    credit_micro_usd: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    credential_ids: Mapped[list[str] | None] = mapped_column(JSON)
    """Upstream credentials billed to this account; NULL counts every credential."""
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
