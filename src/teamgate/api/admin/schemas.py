"""Request bodies of the admin API; every model rejects fields it does not define.

Money is a USD decimal string such as "12.50", checked here and stored as
integer micro-USD. In a PATCH body, a field left out keeps its value and an
explicit null clears it where clearing is allowed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationInfo,
    model_validator,
)

from teamgate.core.values import MIN_PASSWORD_LENGTH, check_email, parse_usd
from teamgate.storage.models import BudgetPeriod, Role, UserStatus
from teamgate.storage.repository import Limits

MAX_MULTIPLIER = Decimal("999999.9999")


def _check_usd(text: str, info: ValidationInfo) -> str:
    parse_usd(text, info.field_name or "the amount")
    return text


def _check_multiplier(text: str) -> str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"invalid price_multiplier {text!r}; write it as 1.5") from None
    if not value.is_finite() or not 0 <= value <= MAX_MULTIPLIER:
        raise ValueError(f"price_multiplier {text!r} must be between 0 and {MAX_MULTIPLIER}")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError(f"price_multiplier {text!r} has more than 4 decimal places")
    return text


def _check_email(text: str, info: ValidationInfo) -> str:
    return check_email(text, info.field_name or "email")


UsdString = Annotated[
    str, AfterValidator(_check_usd), Field(examples=["12.50"], description="USD, such as 12.50")
]
MultiplierString = Annotated[
    str, AfterValidator(_check_multiplier), Field(examples=["1.5"], description="Price factor")
]
Email = Annotated[str, AfterValidator(_check_email), Field(max_length=320)]
ModelNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=128)]],
    Field(description="Public model names allowed; null allows every model"),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patch(Body):
    """A partial update: only the fields sent change, and NOT_NULL fields cannot be null."""

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _reject_nulls(self) -> Patch:
        for name in sorted(self.model_fields_set & self.NOT_NULL):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep its current value")
        return self

    def changes(self) -> dict[str, Any]:
        """Return the fields sent, with budget_usd converted to budget_micro_usd."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        if "budget_usd" in sent:
            budget = sent.pop("budget_usd")
            sent["budget_micro_usd"] = None if budget is None else parse_usd(budget, "budget_usd")
        return sent


class LimitFields(BaseModel):
    budget_usd: UsdString | None = None
    budget_period: BudgetPeriod | None = None
    rpm: NonNegativeInt | None = Field(default=None, description="Requests per minute")
    tpm: NonNegativeInt | None = Field(default=None, description="Tokens per minute")
    rpd: NonNegativeInt | None = Field(default=None, description="Requests per day")
    max_concurrent: NonNegativeInt | None = Field(default=None, description="Requests at once")

    def limits(self) -> Limits:
        return Limits(
            budget_micro_usd=None
            if self.budget_usd is None
            else parse_usd(self.budget_usd, "budget_usd"),
            budget_period=self.budget_period or BudgetPeriod.MONTHLY,
            rpm=self.rpm,
            tpm=self.tpm,
            rpd=self.rpd,
            max_concurrent=self.max_concurrent,
        )


class GroupCreate(LimitFields, Body):
    name: str = Field(min_length=1, max_length=64)
    price_multiplier: MultiplierString = "1"
    allowed_models: ModelNames | None = None

    def multiplier(self) -> Decimal:
        return Decimal(self.price_multiplier.strip())


class GroupPatch(LimitFields, Patch):
    NOT_NULL = frozenset({"name", "price_multiplier", "budget_period"})

    name: str | None = Field(default=None, min_length=1, max_length=64)
    price_multiplier: MultiplierString | None = None
    allowed_models: ModelNames | None = None

    def changes(self) -> dict[str, Any]:
        sent = super().changes()
        if "price_multiplier" in sent:
            sent["price_multiplier"] = Decimal(sent["price_multiplier"].strip())
        return sent


class UserCreate(LimitFields, Body):
    name: str = Field(min_length=1, max_length=128)
    email: Email | None = None
    role: Role = Role.MEMBER
    group_id: int | None = Field(default=None, description="Default: the default group")
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024, description="Console login"
    )


class UserPatch(LimitFields, Patch):
    NOT_NULL = frozenset({"role", "group_id", "status", "budget_period"})

    email: Email | None = None
    role: Role | None = None
    group_id: int | None = None
    status: UserStatus | None = None


class KeyCreate(LimitFields, Body):
    user_id: int = Field(description="Owner of the key")
    name: str = Field(default="default", min_length=1, max_length=128)
    expires_at: AwareDatetime | None = None
    allowed_models: ModelNames | None = None
    trusted_app: bool = Field(
        default=False, description="Trust the user headers an app such as Open WebUI forwards"
    )


class KeyPatch(LimitFields, Patch):
    NOT_NULL = frozenset({"name", "trusted_app", "enabled", "budget_period"})

    name: str | None = Field(default=None, min_length=1, max_length=128)
    expires_at: AwareDatetime | None = None
    allowed_models: ModelNames | None = None
    trusted_app: bool | None = None
    enabled: bool | None = Field(default=None, description="False disables the key, true enables")


class CreditCreate(Body):
    name: str = Field(min_length=1, max_length=128)
    credit_usd: UsdString
    starts_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    credential_ids: list[str] | None = Field(
        default=None, description="Credentials billed to this credit; null counts every one"
    )
    notes: str | None = Field(default=None, max_length=10_000)
