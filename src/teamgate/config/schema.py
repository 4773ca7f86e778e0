"""The shape of teamgate's YAML configuration file, validated with pydantic."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SAFETY_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
)
SAFETY_THRESHOLDS = (
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
)
# Schemes aiohttp-socks can open; socks5h means the proxy resolves host names.
PROXY_SCHEMES = ("http", "socks4", "socks5", "socks5h")
DEFAULT_GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"must be a URL starting with one of {', '.join(s + '://' for s in schemes)}"
        )
    return value.rstrip("/")


class Timeouts(_Strict):
    """Seconds to wait on the upstream: for the TCP+TLS connect, and between reads."""

    connect: float = Field(10.0, gt=0)
    read: float = Field(300.0, gt=0)


class Credential(_Strict):
    """One upstream account: a Gemini AI Studio API key and how to reach Google with it."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    provider: Literal["gemini"] = "gemini"
    api_key: SecretStr
    base_url: str = DEFAULT_GEMINI_BASE_URL
    proxy: str | None = None
    timeouts: Timeouts = Timeouts()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        # The key travels in an HTTP header, where control characters are invalid.
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError("the API key is empty")
        if any(ord(char) < 0x21 or ord(char) == 0x7F for char in secret):
            raise ValueError("the API key contains spaces or control characters; remove them")
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value, schemes=PROXY_SCHEMES)


class ThinkingDefaults(_Strict):
    """A model's thinking setting when the request does not choose one."""

    budget: int | None = Field(None, ge=-1)
    level: Literal["minimal", "low", "medium", "high"] | None = None
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None

    @model_validator(mode="after")
    def _one_choice(self) -> ThinkingDefaults:
        chosen = [name for name in ("budget", "level", "effort") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set only one of budget, level or effort (got {', '.join(chosen)})")
        return self


class SafetySetting(_Strict):
    category: str
    threshold: Literal[SAFETY_THRESHOLDS]  # type: ignore[valid-type]

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        full = value if value.startswith("HARM_CATEGORY_") else f"HARM_CATEGORY_{value}"
        if full not in SAFETY_CATEGORIES:
            raise ValueError(
                f"unknown safety category {value!r}; use one of {', '.join(SAFETY_CATEGORIES)}"
            )
        return full


class ModelEntry(_Strict):
    """A public model name and how teamgate serves it."""

    name: str = Field(min_length=1, max_length=128)
    # The id becomes a URL path segment, so slashes and dot-dot are not allowed.
    upstream_model: str = Field(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_:-]+)*$"
    )
    credentials: list[str] | None = None
    thinking: ThinkingDefaults | None = None
    show_thoughts: bool = True
    reasoning_output: Literal["reasoning_content", "think_tags", "hidden"] = "reasoning_content"
    safety_settings: list[SafetySetting] = []
    max_output_tokens: int | None = Field(None, gt=0)

    @field_validator("safety_settings", mode="before")
    @classmethod
    def _safety_mapping(cls, value: object) -> object:
        # The short form `{HARASSMENT: BLOCK_NONE}` reads better in YAML than a list.
        if isinstance(value, dict):
            return [{"category": key, "threshold": threshold} for key, threshold in value.items()]
        return value


class Accounting(_Strict):
    """Storage of accounts, budgets and the usage ledger, and the cost-estimate settings."""

    database_url: SecretStr | None = None
    """SQLAlchemy async URL; None means a SQLite file in the data directory.

    A URL with a password must be given as an environment reference.
    """
    redis_url: SecretStr | None = None
    """Counters for rate limits and budgets; None keeps them in this process."""
    timezone: str = "UTC"
    """Daily, weekly and monthly budgets reset at midnight in this zone."""
    default_max_output_tokens: int = Field(8192, gt=0)
    """The output cap assumed when estimating a request that sets no max_tokens."""
    cny_per_usd: float | None = Field(None, gt=0)
    admin_budget_usd: float | None = Field(None, ge=0)
    """Lets the keys of this file (the admin key and `api_keys`) call models within this budget.

    Without it the admin key only manages teamgate, and `api_keys` carry no budget.
    """
    admin_budget_period: Literal["daily", "weekly", "monthly", "total"] = "monthly"
    prices: dict[str, dict[str, float | str]] = {}
    """Per-model price overrides in USD per million tokens."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        return value


class Settings(_Strict):
    """The whole configuration file."""

    admin_key: SecretStr | None = None
    api_keys: list[SecretStr] = []
    data_dir: str | None = None
    credentials: list[Credential] = []
    models: list[ModelEntry] = []
    accounting: Accounting = Accounting()
