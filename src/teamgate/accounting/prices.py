"""Model prices and the exact cost of a request in integer micro-USD.

Token rates are USD per 1M tokens and search rates USD per 1,000 billable
units. Unless a comment on the entry names another source, Gemini figures are
the paid tier of Google's Gemini Developer API pricing page
(https://ai.google.dev/gemini-api/docs/pricing) in its 2026 versions, last
updated 2026-03-18 to 2026-08-13. The 2.5 rows there have not changed since
October 2025.

- gemini-2.5-pro: input $1.25, cached input $0.125 and output $10 for prompts
  up to 200k tokens, and $2.50, $0.25 and $15 above. Output includes thinking.
- gemini-2.5-flash: input $0.30 (text, image, video) or $1.00 (audio), cached
  input $0.03 or $0.10 (audio), output $2.50.
- gemini-2.5-flash-lite: input $0.10 or $0.30 (audio), cached input $0.01 or
  $0.03 (audio), output $0.40.
- gemini-2.5-flash-image: input $0.30, text output $2.50 as 2.5 Flash, image
  output $30 per 1M image tokens (an image of up to 1024x1024 is 1,290
  tokens, about $0.039).
- gemini-3-pro-preview and gemini-3.1-pro-preview (same prices): input $2.00,
  cached input $0.20 and output $12 up to 200k, and $4.00, $0.40 and $18 above.
- gemini-3-pro-image-preview: input $2.00, text and thinking output $12, image
  output $120 per 1M image tokens.
- Grounding with Google Search: the 2.5 family pays $35 per 1,000 grounded
  prompts beyond 1,500 free per day (Flash and Flash-Lite share one allowance,
  Pro has its own). Gemini 3 pays $14 per 1,000 search queries the model runs
  (the count of `webSearchQueries`), beyond 5,000 free per month shared by all
  Gemini 3 models. This module prices only the billable count that the caller
  passes, so the free allowances are counted elsewhere.

A price record's fields apply to the whole request. The >200k tier switches
input, cached input and output to their `*_above_200k` rates together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from types import MappingProxyType
from typing import Literal

from teamgate.core.messages import Usage

SearchUnit = Literal["request", "query"]
"""Unit of a search charge: a grounded request (Gemini 2.5) or a search query (Gemini 3)."""

LONG_CONTEXT_THRESHOLD = 200_000
"""Uncached prompt tokens above this count switch a tiered model to its >200k rates."""

TOKENS_PER_RATE_UNIT = Decimal(1_000_000)
SEARCH_PER_RATE_UNIT = Decimal(1_000)
MICROS_PER_USD = Decimal(1_000_000)
CENT = Decimal("0.01")

# Enough significant digits that no product or sum of realistic token counts,
# rates and multipliers is ever rounded before the single final rounding.
_PRECISION = 60


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model: token rates in USD per 1M tokens, search in USD per 1,000 units.

    An optional rate left as None falls back to a more general one: cached
    input to input, audio input to input, cached audio to cached input, image
    output to output, and each `*_above_200k` rate to the rate below the tier.
    """

    input: Decimal
    output: Decimal
    """Text output, including thinking tokens."""
    cached_input: Decimal | None = None
    audio_input: Decimal | None = None
    cached_audio_input: Decimal | None = None
    image_output: Decimal | None = None
    input_above_200k: Decimal | None = None
    cached_input_above_200k: Decimal | None = None
    output_above_200k: Decimal | None = None
    search_per_1000: Decimal | None = None
    search_unit: SearchUnit | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "search_unit" or value is None:
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(
                    f"price field {item.name!r} must be a non-negative finite Decimal, "
                    f"got {value!r}"
                )
        if self.search_unit not in (None, "request", "query"):
            raise ValueError(f"search_unit must be 'request' or 'query', got {self.search_unit!r}")
        if (self.search_per_1000 is None) != (self.search_unit is None):
            raise ValueError("search_per_1000 and search_unit must be set together")


_GEMINI_3_PRO = ModelPrice(
    input=Decimal("2.00"),
    cached_input=Decimal("0.20"),
    output=Decimal("12"),
    input_above_200k=Decimal("4.00"),
    cached_input_above_200k=Decimal("0.40"),
    output_above_200k=Decimal("18"),
    search_per_1000=Decimal("14"),
    search_unit="query",
)

_BUILTIN: dict[str, ModelPrice] = {
    "gemini-2.5-pro": ModelPrice(
        input=Decimal("1.25"),
        cached_input=Decimal("0.125"),
        output=Decimal("10"),
        input_above_200k=Decimal("2.50"),
        cached_input_above_200k=Decimal("0.25"),
        output_above_200k=Decimal("15"),
        search_per_1000=Decimal("35"),
        search_unit="request",
    ),
    "gemini-2.5-flash": ModelPrice(
        input=Decimal("0.30"),
        audio_input=Decimal("1.00"),
        cached_input=Decimal("0.03"),
        cached_audio_input=Decimal("0.10"),
        output=Decimal("2.50"),
        search_per_1000=Decimal("35"),
        search_unit="request",
    ),
    "gemini-2.5-flash-lite": ModelPrice(
        input=Decimal("0.10"),
        audio_input=Decimal("0.30"),
        cached_input=Decimal("0.01"),
        cached_audio_input=Decimal("0.03"),
        output=Decimal("0.40"),
        search_per_1000=Decimal("35"),
        search_unit="request",
    ),
    # The pricing page lists no cache rate and no search grounding for this model.
    "gemini-2.5-flash-image": ModelPrice(
        input=Decimal("0.30"),
        output=Decimal("2.50"),
        image_output=Decimal("30"),
    ),
    "gemini-3-pro-preview": _GEMINI_3_PRO,
    "gemini-3.1-pro-preview": _GEMINI_3_PRO,
    # The pricing page lists no cache rate, no >200k tier and no search price for it.
    "gemini-3-pro-image-preview": ModelPrice(
        input=Decimal("2.00"),
        output=Decimal("12"),
        image_output=Decimal("120"),
    ),
    # NOTE: estimate. The pricing page versions behind this table did not list
    # Gemini 3 Flash preview. These are the rates that third-party pages
    # attribute to Google's page (input $0.50, audio input twice that, cached
    # input $0.05, output $3), plus the Gemini 3 search price. Override them
    # in the configuration once the official figures are confirmed.
    "gemini-3-flash-preview": ModelPrice(
        input=Decimal("0.50"),
        audio_input=Decimal("1.00"),
        cached_input=Decimal("0.05"),
        output=Decimal("3.00"),
        search_per_1000=Decimal("14"),
        search_unit="query",
    ),
    # DeepSeek's "Models & Pricing" page (https://api-docs.deepseek.com/quick_start/pricing),
    # price list in force from 2025-09-05 16:00 UTC, the same for both ids
    # (cache hit $0.07, cache miss $0.56, output $1.68, reasoning billed as output).
    # NOTE: later, lower DeepSeek prices and new model ids appear only on
    # third-party pages, so these rates may overstate the current cost.
    "deepseek-chat": ModelPrice(
        input=Decimal("0.56"),
        cached_input=Decimal("0.07"),
        output=Decimal("1.68"),
    ),
    "deepseek-reasoner": ModelPrice(
        input=Decimal("0.56"),
        cached_input=Decimal("0.07"),
        output=Decimal("1.68"),
    ),
}

BUILTIN_PRICES: Mapping[str, ModelPrice] = MappingProxyType(_BUILTIN)
"""The built-in price table, keyed by model id; read-only."""


def find_price(table: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """Look a model up by exact id, then by the longest table id that prefixes it.

    A leading `models/` (Gemini's resource-name form) is ignored. Returns None
    for a model the table does not price; the caller decides what that costs.
    """
    model_id = model.removeprefix("models/")
    exact = table.get(model_id)
    if exact is not None:
        return exact
    best_key: str | None = None
    for key in table:
        if model_id.startswith(key) and (best_key is None or len(key) > len(best_key)):
            best_key = key
    return None if best_key is None else table[best_key]


# ---------------------------------------------------------------- overrides

_DECIMAL_FIELDS = tuple(item.name for item in fields(ModelPrice) if item.name != "search_unit")
_OVERRIDE_FIELDS = (*_DECIMAL_FIELDS, "search_unit")
_REQUIRED_FIELDS = ("input", "output")


def apply_price_overrides(
    table: Mapping[str, ModelPrice],
    overrides: Mapping[str, Mapping[str, object]],
) -> dict[str, ModelPrice]:
    """Return a copy of `table` with per-model overrides from the configuration merged in.

    Each override maps field names of `ModelPrice` to numbers (int, float, str
    or Decimal), which become Decimal through `Decimal(str(value))` so that
    0.1 stays exactly 0.1. A None value clears an optional field. An override
    for a model id missing from the table starts from the price that
    `find_price` returns for that id, or from nothing, in which case it must
    set `input` and `output`. Raises ValueError naming the model and the field
    for an unknown field, a value that is not a non-negative number, or a
    missing required field. `table` itself is left unchanged.
    """
    merged = dict(table)
    for model, override in overrides.items():
        if not isinstance(override, Mapping):
            raise ValueError(
                f"invalid price override for model {model!r}: expected a mapping of "
                f"price fields, got {type(override).__name__}"
            )
        changes = {
            field: _parse_override_value(model, str(field), value)
            for field, value in override.items()
        }
        base = find_price(table, model)
        merged[model] = _build_price(model, base, changes)
    return merged


def _parse_override_value(model: str, field: str, value: object) -> Decimal | str | None:
    if field not in _OVERRIDE_FIELDS:
        raise ValueError(
            f"invalid price override for model {model!r}: unknown field {field!r}. "
            f"expected one of {', '.join(_OVERRIDE_FIELDS)}"
        )
    if value is None:
        if field in _REQUIRED_FIELDS:
            raise ValueError(
                f"invalid price override for model {model!r}, field {field!r}: "
                "this field is required and cannot be cleared"
            )
        return None
    if field == "search_unit":
        if value not in ("request", "query"):
            raise ValueError(
                f"invalid price override for model {model!r}, field 'search_unit': "
                f"expected 'request' or 'query', got {value!r}"
            )
        return str(value)
    # bool is an int subclass, and `input: true` in YAML is a mistake, not a price of 1.
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(
            f"invalid price override for model {model!r}, field {field!r}: "
            f"expected a number, got {value!r}"
        )
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(
            f"invalid price override for model {model!r}, field {field!r}: "
            f"{value!r} is not a number"
        ) from None
    if not parsed.is_finite() or parsed < 0:
        raise ValueError(
            f"invalid price override for model {model!r}, field {field!r}: "
            f"expected a non-negative finite number, got {value!r}"
        )
    return parsed


def _build_price(
    model: str, base: ModelPrice | None, changes: Mapping[str, Decimal | str | None]
) -> ModelPrice:
    if base is None:
        missing = [name for name in _REQUIRED_FIELDS if changes.get(name) is None]
        if missing:
            raise ValueError(
                f"invalid price override for model {model!r}, field {missing[0]!r}: "
                "the model has no built-in price, so the override must set input and output"
            )
    try:
        if base is None:
            return ModelPrice(**changes)  # type: ignore[arg-type]
        return replace(base, **changes)  # type: ignore[arg-type]
    except ValueError as error:
        # ModelPrice checks that search_per_1000 and search_unit are set together.
        raise ValueError(f"invalid price override for model {model!r}: {error}") from None


# ---------------------------------------------------------------- cost


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token counts of one request, as the upstream reported them.

    `prompt_tokens` includes cached, audio and tool-use prompt tokens.
    `output_tokens` includes reasoning and image output tokens. Each other
    field is a part of one of these two totals.
    """

    prompt_tokens: int
    output_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from a cache."""
    image_output_tokens: int = 0
    audio_input_tokens: int = 0
    cached_audio_tokens: int = 0
    """Cached audio prompt tokens, a part of both `cached_tokens` and `audio_input_tokens`."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{item.name} must be a non-negative int, got {value!r}")
        parts = (
            ("cached_tokens", self.cached_tokens, "prompt_tokens", self.prompt_tokens),
            ("audio_input_tokens", self.audio_input_tokens, "prompt_tokens", self.prompt_tokens),
            ("image_output_tokens", self.image_output_tokens, "output_tokens", self.output_tokens),
            ("cached_audio_tokens", self.cached_audio_tokens, "cached_tokens", self.cached_tokens),
            (
                "cached_audio_tokens",
                self.cached_audio_tokens,
                "audio_input_tokens",
                self.audio_input_tokens,
            ),
        )
        for part_name, part, total_name, total in parts:
            if part > total:
                raise ValueError(
                    f"{part_name} ({part}) must not exceed {total_name} ({total}), "
                    f"because it is a part of {total_name}"
                )

    @classmethod
    def from_usage(
        cls,
        usage: Usage,
        *,
        image_output_tokens: int = 0,
        audio_input_tokens: int = 0,
        cached_audio_tokens: int = 0,
    ) -> TokenCounts:
        """Build counts from the gateway's `Usage` plus the modality splits it does not carry."""
        return cls(
            prompt_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_input_tokens,
            image_output_tokens=image_output_tokens,
            audio_input_tokens=audio_input_tokens,
            cached_audio_tokens=cached_audio_tokens,
        )

    @property
    def uncached_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens


@dataclass(frozen=True, slots=True)
class _Rates:
    input: Decimal
    cached_input: Decimal
    audio_input: Decimal
    cached_audio_input: Decimal
    output: Decimal
    image_output: Decimal


def _rates(price: ModelPrice, long_context: bool) -> _Rates:
    input_rate = price.input
    cached_rate = price.cached_input
    output_rate = price.output
    if long_context:
        input_rate = _first(price.input_above_200k, input_rate)
        if price.cached_input_above_200k is not None:
            cached_rate = price.cached_input_above_200k
        output_rate = _first(price.output_above_200k, output_rate)
    cached_rate = _first(cached_rate, input_rate)
    return _Rates(
        input=input_rate,
        cached_input=cached_rate,
        audio_input=_first(price.audio_input, input_rate),
        cached_audio_input=_first(price.cached_audio_input, cached_rate),
        output=output_rate,
        image_output=_first(price.image_output, output_rate),
    )


def _first(rate: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if rate is None else rate


def is_long_context(tokens: TokenCounts) -> bool:
    """Tell whether a request is billed at the >200k tier.

    NOTE: Google's page ties the tier to the prompt size, but this module
    counts only the prompt tokens not served from cache. The project's
    reference example prices a gemini-2.5-pro request with a 262,960-token
    prompt, 257,955 of them cached, at the up-to-200k rates, and only the
    uncached 5,005 tokens explain that. Exactly 200,000 uncached tokens is
    still the lower tier.
    """
    return tokens.uncached_prompt_tokens > LONG_CONTEXT_THRESHOLD


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cost of one request per component in USD, with the multiplier that `total` applies.

    Each token is charged once: cached prompt tokens only at a cache rate,
    image output tokens only at the image rate.
    """

    input: Decimal
    """Uncached prompt tokens other than audio."""
    audio_input: Decimal
    """Uncached audio prompt tokens."""
    cached_input: Decimal
    """Cached prompt tokens, audio included."""
    output: Decimal
    """Output tokens other than image tokens, thinking included."""
    image_output: Decimal
    search: Decimal
    multiplier: Decimal
    long_context: bool
    """Whether the >200k tier rates applied."""

    @property
    def subtotal(self) -> Decimal:
        """Sum of the components, before the multiplier."""
        with localcontext() as context:
            context.prec = _PRECISION
            return (
                self.input
                + self.audio_input
                + self.cached_input
                + self.output
                + self.image_output
                + self.search
            )

    @property
    def total(self) -> Decimal:
        """Exact cost in USD with the multiplier applied, not rounded."""
        with localcontext() as context:
            context.prec = _PRECISION
            return self.subtotal * self.multiplier

    @property
    def total_micros(self) -> int:
        """Cost in micro-USD, rounded once from the exact total, half up."""
        return _to_micros(self.total, ROUND_HALF_UP)


def cost_breakdown(
    price: ModelPrice,
    tokens: TokenCounts,
    multiplier: Decimal = Decimal(1),
    billable_search: int = 0,
) -> CostBreakdown:
    """Price one request's tokens and billable search units component by component.

    `billable_search` counts grounded requests or search queries (see the
    price's `search_unit`) that remain after the free allowance. Raises
    ValueError for a negative multiplier or search count, or for billable
    search on a model without a search price.
    """
    _check_multiplier(multiplier)
    long_context = is_long_context(tokens)
    rates = _rates(price, long_context)

    uncached_audio = tokens.audio_input_tokens - tokens.cached_audio_tokens
    uncached_other = tokens.uncached_prompt_tokens - uncached_audio
    cached_other = tokens.cached_tokens - tokens.cached_audio_tokens
    text_output = tokens.output_tokens - tokens.image_output_tokens

    with localcontext() as context:
        context.prec = _PRECISION
        cached_cost = _token_cost(cached_other, rates.cached_input) + _token_cost(
            tokens.cached_audio_tokens, rates.cached_audio_input
        )
        return CostBreakdown(
            input=_token_cost(uncached_other, rates.input),
            audio_input=_token_cost(uncached_audio, rates.audio_input),
            cached_input=cached_cost,
            output=_token_cost(text_output, rates.output),
            image_output=_token_cost(tokens.image_output_tokens, rates.image_output),
            search=_search_cost(price, billable_search),
            multiplier=multiplier,
            long_context=long_context,
        )


def cost_micros(
    price: ModelPrice,
    tokens: TokenCounts,
    multiplier: Decimal = Decimal(1),
    billable_search: int = 0,
) -> int:
    """Return a request's cost in integer micro-USD.

    The components are summed exactly, the multiplier is applied to the sum,
    and the result is rounded once to the micro-dollar with ROUND_HALF_UP.
    """
    return cost_breakdown(price, tokens, multiplier, billable_search).total_micros


def estimate_max_cost_micros(
    price: ModelPrice,
    prompt_tokens_estimate: int,
    max_output_tokens: int,
    multiplier: Decimal = Decimal(1),
    billable_search: int = 0,
) -> int:
    """Return an upper bound in micro-USD on a request's cost, for budget reservations.

    The bound holds for any usage with at most `prompt_tokens_estimate` prompt
    tokens and `max_output_tokens` output tokens. Every prompt token is priced
    at the highest prompt rate of the tier the estimate falls in (cache
    discounts are ignored, and the audio rate counts where it is higher).
    Every output token is priced at the highest output rate, which is the
    image rate for image models. Above 200k both tiers are considered. Search
    adds nothing unless `billable_search` is set. The result is rounded up.
    """
    _check_multiplier(multiplier)
    for name, count in (
        ("prompt_tokens_estimate", prompt_tokens_estimate),
        ("max_output_tokens", max_output_tokens),
    ):
        if count < 0:
            raise ValueError(f"{name} must be non-negative, got {count}")

    candidates = [_rates(price, long_context=False)]
    if prompt_tokens_estimate > LONG_CONTEXT_THRESHOLD:
        candidates.append(_rates(price, long_context=True))
    max_prompt_rate = max(
        max(rates.input, rates.cached_input, rates.audio_input, rates.cached_audio_input)
        for rates in candidates
    )
    max_output_rate = max(max(rates.output, rates.image_output) for rates in candidates)

    with localcontext() as context:
        context.prec = _PRECISION
        subtotal = (
            _token_cost(prompt_tokens_estimate, max_prompt_rate)
            + _token_cost(max_output_tokens, max_output_rate)
            + _search_cost(price, billable_search)
        )
        return _to_micros(subtotal * multiplier, ROUND_CEILING)


def _check_multiplier(multiplier: Decimal) -> None:
    if not isinstance(multiplier, Decimal) or not multiplier.is_finite() or multiplier < 0:
        raise ValueError(f"multiplier must be a non-negative finite Decimal, got {multiplier!r}")


def _token_cost(count: int, rate_per_million: Decimal) -> Decimal:
    return count * rate_per_million / TOKENS_PER_RATE_UNIT


def _search_cost(price: ModelPrice, billable_search: int) -> Decimal:
    if billable_search < 0:
        raise ValueError(f"billable_search must be non-negative, got {billable_search}")
    if billable_search == 0:
        return Decimal(0)
    if price.search_per_1000 is None:
        raise ValueError(
            f"{billable_search} billable search units were reported for a model "
            "without a search price. Set search_per_1000 and search_unit in its price"
        )
    return billable_search * price.search_per_1000 / SEARCH_PER_RATE_UNIT


def _to_micros(usd: Decimal, rounding: str) -> int:
    with localcontext() as context:
        context.prec = _PRECISION
        return int((usd * MICROS_PER_USD).to_integral_value(rounding=rounding))


# ---------------------------------------------------------------- admission estimate and display

CHARS_PER_TOKEN = 4
"""Google's rule of thumb for Gemini text: a token is about four characters."""

TOKENS_PER_IMAGE = 258
"""Tokens of one image whose sides are both at most 384 px on Gemini 2.x."""


def estimate_prompt_tokens(
    text_lengths: Iterable[int],
    image_count: int = 0,
    *,
    chars_per_token: int = CHARS_PER_TOKEN,
    tokens_per_image: int = TOKENS_PER_IMAGE,
) -> int:
    """Estimate a prompt's token count from its text lengths and image count, for admission.

    Each text counts ceil(length / chars_per_token) tokens and each image
    `tokens_per_image`. This is an estimate, not a tokenizer.

    NOTE: the defaults undercount text in Chinese, Japanese and Korean, where a
    token covers fewer than four characters, and images larger than 384 px,
    which Gemini 2.x counts as 258 tokens per 768x768 tile. Gemini 3 media
    resolutions can also cost more per image than the default.
    """
    if chars_per_token <= 0:
        raise ValueError(f"chars_per_token must be positive, got {chars_per_token}")
    if image_count < 0 or tokens_per_image < 0:
        raise ValueError(
            f"image_count and tokens_per_image must be non-negative, "
            f"got {image_count} and {tokens_per_image}"
        )
    total = 0
    for length in text_lengths:
        if length < 0:
            raise ValueError(f"text lengths must be non-negative, got {length}")
        total += -(-length // chars_per_token)
    return total + image_count * tokens_per_image


def to_cny(micros: int, rate: Decimal) -> Decimal:
    """Convert micro-USD to CNY at `rate` yuan per dollar, rounded half up to the fen (0.01)."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise ValueError(f"the CNY rate must be a positive finite Decimal, got {rate!r}")
    with localcontext() as context:
        context.prec = _PRECISION
        yuan = Decimal(micros) * rate / MICROS_PER_USD
        return yuan.quantize(CENT, rounding=ROUND_HALF_UP)
