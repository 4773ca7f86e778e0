"""Response bodies of the admin API and their construction from database rows.

Money is a USD decimal string. No view has a field for a password hash or a
key digest, so neither can reach a response.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from teamgate.core.values import format_usd, format_usd_cents
from teamgate.storage.models import (
    ApiKey,
    CreditAccount,
    EndUser,
    Group,
    KeyStatus,
    LimitsMixin,
    UsageRecord,
    User,
)
from teamgate.storage.repository import CreditForecast, KeyInfo, Limits, UsageSummaryRow


class LimitsView(BaseModel):
    budget_usd: str | None
    budget_period: str
    rpm: int | None
    tpm: int | None
    rpd: int | None
    max_concurrent: int | None


class GroupView(LimitsView):
    id: int
    name: str
    price_multiplier: str
    allowed_models: list[str] | None
    created_at: datetime


class UserView(LimitsView):
    id: int
    name: str
    email: str | None
    role: str
    group_id: int
    status: str
    has_password: bool
    created_at: datetime
    updated_at: datetime


class KeyView(LimitsView):
    id: int
    owner_user_id: int
    name: str
    prefix: str = Field(description="The first characters of the key; the rest is not stored")
    status: str
    trusted_app: bool
    allowed_models: list[str] | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class CreatedKey(KeyView):
    key: str = Field(description="The whole key; this response is the only place it appears")


class EndUserView(LimitsView):
    id: int
    app_owner_user_id: int
    external_id: str
    email: str | None
    name: str | None
    role: str | None
    group_id: int
    status: str
    created_at: datetime


class CallerView(BaseModel):
    kind: str = Field(description="config_admin_key or personal_key")
    user: UserView | None
    key_id: int | None
    key_prefix: str | None


class UsageRow(BaseModel):
    key: int | str | None = Field(description="User id, model name or UTC day; null: no user")
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    tool_use_prompt_tokens: int
    cost_usd: str


class UsageReport(BaseModel):
    by: str
    since: datetime
    until: datetime = Field(description="Exclusive end")
    rows: list[UsageRow]


class RecordView(BaseModel):
    request_id: str
    created_at: datetime
    user_id: int | None
    api_key_id: int | None
    end_user_id: int | None
    group_id: int | None
    public_model: str
    upstream_model: str | None
    credential_id: str | None
    stream: bool
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    tool_use_prompt_tokens: int
    cost_usd: str
    latency_ms: int | None
    time_to_first_token_ms: int | None
    http_status: int
    error_class: str | None
    estimated: bool


class RecordPage(BaseModel):
    records: list[RecordView]
    limit: int
    offset: int


class CreditView(BaseModel):
    id: int
    name: str
    credit_usd: str
    starts_at: datetime
    expires_at: datetime | None
    credential_ids: list[str] | None
    notes: str | None
    created_at: datetime


class ForecastView(BaseModel):
    account_id: int
    credit_usd: str
    spent_usd: str
    remaining_usd: str = Field(description="Negative once the spend exceeds the credit")
    daily_burn_usd: str
    runs_out_at: datetime | None
    expires_at: datetime | None
    expires_first: bool


def _limit_fields(limits: Limits) -> dict[str, object]:
    budget = limits.budget_micro_usd
    return {
        "budget_usd": None if budget is None else format_usd_cents(budget),
        "budget_period": limits.budget_period.value,
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "rpd": limits.rpd,
        "max_concurrent": limits.max_concurrent,
    }


def _row_limits(row: LimitsMixin) -> dict[str, object]:
    return _limit_fields(Limits.of(row))


def _copied_fields(view: type[BaseModel], source: object, *computed: str) -> dict[str, object]:
    """Read each field of `view` from the same-named attribute of `source`.

    The limit fields and the fields named in `computed` are left out, because
    the caller builds them.
    """
    skipped = {*LimitsView.model_fields, *computed}
    return {name: getattr(source, name) for name in view.model_fields if name not in skipped}


def group_view(group: Group) -> GroupView:
    return GroupView.model_validate(
        {
            **_copied_fields(GroupView, group, "price_multiplier"),
            "price_multiplier": f"{group.price_multiplier.normalize():f}",
            **_row_limits(group),
        }
    )


def user_view(user: User) -> UserView:
    return UserView.model_validate(
        {
            **_copied_fields(UserView, user, "has_password"),
            "has_password": user.password_hash is not None,
            **_row_limits(user),
        }
    )


def key_view(key: KeyInfo | ApiKey) -> KeyView:
    """Build the view from a listing entry or from a key row, leaving out the digest."""
    limits = key.limits if isinstance(key, KeyInfo) else Limits.of(key)
    return KeyView.model_validate(
        {
            **_copied_fields(KeyView, key, "status"),
            "status": KeyStatus(key.status).value,
            **_limit_fields(limits),
        }
    )


def end_user_view(end_user: EndUser) -> EndUserView:
    return EndUserView.model_validate(
        {**_copied_fields(EndUserView, end_user), **_row_limits(end_user)}
    )


def usage_row(row: UsageSummaryRow) -> UsageRow:
    fields = _copied_fields(UsageRow, row, "cost_usd")
    return UsageRow(cost_usd=format_usd(row.cost_micro_usd), **fields)


def record_view(record: UsageRecord) -> RecordView:
    fields = _copied_fields(RecordView, record, "cost_usd")
    return RecordView(cost_usd=format_usd(record.cost_micro_usd), **fields)


def credit_view(account: CreditAccount) -> CreditView:
    return CreditView(
        id=account.id,
        name=account.name,
        credit_usd=format_usd_cents(account.credit_micro_usd),
        starts_at=account.starts_at,
        expires_at=account.expires_at,
        credential_ids=account.credential_ids,
        notes=account.notes,
        created_at=account.created_at,
    )


def forecast_view(forecast: CreditForecast) -> ForecastView:
    return ForecastView(
        account_id=forecast.account_id,
        credit_usd=format_usd(forecast.credit_micro_usd),
        spent_usd=format_usd(forecast.spent_micro_usd),
        remaining_usd=format_usd(forecast.remaining_micro_usd),
        daily_burn_usd=format_usd(forecast.daily_burn_micro_usd),
        runs_out_at=forecast.runs_out_at,
        expires_at=forecast.expires_at,
        expires_first=forecast.expires_first,
    )
