"""Price table lookup, configuration overrides, exact request costs and the admission bound."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from teamgate.accounting.prices import (
    BUILTIN_PRICES,
    LONG_CONTEXT_THRESHOLD,
    ModelPrice,
    TokenCounts,
    apply_price_overrides,
    cost_breakdown,
    cost_micros,
    estimate_max_cost_micros,
    estimate_prompt_tokens,
    find_price,
    to_cny,
)
from teamgate.core.messages import Usage


def builtin(model: str) -> ModelPrice:
    price = find_price(BUILTIN_PRICES, model)
    assert price is not None, f"no built-in price for {model}"
    return price


PRO_25 = builtin("gemini-2.5-pro")
FLASH_25 = builtin("gemini-2.5-flash")
FLASH_IMAGE_25 = builtin("gemini-2.5-flash-image")
PRO_3 = builtin("gemini-3-pro-preview")

# gemini-2.5-pro: 262,960 prompt tokens of which 257,955 cached, 1,744 output.
EXAMPLE = TokenCounts(prompt_tokens=262_960, cached_tokens=257_955, output_tokens=1_744)
# 5,005 x $1.25/M + 257,955 x $0.125/M + 1,744 x $10/M
#   = $0.00625625 + $0.032244375 + $0.01744 = $0.055940625
EXAMPLE_USD = Decimal("0.055940625")


# ---------------------------------------------------------------- the worked example


def test_example_exact_components() -> None:
    breakdown = cost_breakdown(PRO_25, EXAMPLE)

    assert breakdown.input == Decimal("0.00625625")
    assert breakdown.cached_input == Decimal("0.032244375")
    assert breakdown.output == Decimal("0.01744")
    assert breakdown.audio_input == 0
    assert breakdown.image_output == 0
    assert breakdown.search == 0
    assert breakdown.long_context is False
    assert breakdown.total == EXAMPLE_USD


def test_example_rounds_once_half_up() -> None:
    # $0.055940625 is 55,940.625 micro-USD.
    assert cost_micros(PRO_25, EXAMPLE) == 55_941


def test_example_from_core_usage() -> None:
    usage = Usage(input_tokens=262_960, output_tokens=1_744, cached_input_tokens=257_955)

    assert TokenCounts.from_usage(usage) == EXAMPLE
    assert cost_micros(PRO_25, TokenCounts.from_usage(usage)) == 55_941


def test_multiplier_applied_to_exact_total() -> None:
    # 1.5 x $0.055940625 = $0.0839109375 = 83,910.9375 micro-USD.
    breakdown = cost_breakdown(PRO_25, EXAMPLE, multiplier=Decimal("1.5"))

    assert breakdown.subtotal == EXAMPLE_USD
    assert breakdown.total == Decimal("0.0839109375")
    assert breakdown.total_micros == 83_911
    assert cost_micros(PRO_25, EXAMPLE, Decimal("1.5")) == 83_911


def test_rounding_once_at_the_end() -> None:
    price = ModelPrice(input=Decimal("0.5"), output=Decimal("0.5"))
    # Two components of half a micro-dollar each: rounding each would give 2.
    assert cost_micros(price, TokenCounts(prompt_tokens=1, output_tokens=1)) == 1
    # Half a micro-dollar times 3: rounding before the multiplier would give 3.
    assert cost_micros(price, TokenCounts(prompt_tokens=1), Decimal(3)) == 2
    # 0.2 micro-USD rounds down to zero.
    assert cost_micros(price, TokenCounts(prompt_tokens=1), Decimal("0.4")) == 0


def test_multiplier_negative_rejected() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        cost_micros(PRO_25, EXAMPLE, Decimal("-1"))


# ---------------------------------------------------------------- the >200k tier


def test_tier_at_threshold_is_lower() -> None:
    tokens = TokenCounts(prompt_tokens=LONG_CONTEXT_THRESHOLD, output_tokens=1_000)
    breakdown = cost_breakdown(PRO_25, tokens)

    assert breakdown.long_context is False
    # 200,000 x $1.25/M + 1,000 x $10/M = $0.25 + $0.01
    assert breakdown.total == Decimal("0.26")
    assert breakdown.total_micros == 260_000


def test_tier_above_threshold_is_upper() -> None:
    tokens = TokenCounts(prompt_tokens=LONG_CONTEXT_THRESHOLD + 1, output_tokens=1_000)
    breakdown = cost_breakdown(PRO_25, tokens)

    assert breakdown.long_context is True
    # 200,001 x $2.50/M + 1,000 x $15/M = $0.5000025 + $0.015 = 515,002.5 micro-USD
    assert breakdown.input == Decimal("0.5000025")
    assert breakdown.output == Decimal("0.015")
    assert breakdown.total_micros == 515_003


def test_tier_ignores_cached_prompt_tokens() -> None:
    # A 262,960-token prompt with exactly 200,000 uncached tokens stays in the lower tier.
    tokens = TokenCounts(prompt_tokens=262_960, cached_tokens=62_960, output_tokens=0)
    breakdown = cost_breakdown(PRO_25, tokens)

    assert breakdown.long_context is False
    assert breakdown.input == Decimal("0.25")
    assert breakdown.cached_input == Decimal("62960") * Decimal("0.125") / 1_000_000


def test_upper_tier_uses_upper_cache_rate() -> None:
    tokens = TokenCounts(prompt_tokens=300_001, cached_tokens=100_000, output_tokens=10)
    breakdown = cost_breakdown(PRO_25, tokens)

    assert breakdown.long_context is True
    assert breakdown.input == Decimal("200001") * Decimal("2.50") / 1_000_000
    assert breakdown.cached_input == Decimal("100000") * Decimal("0.25") / 1_000_000
    assert breakdown.output == Decimal("10") * Decimal("15") / 1_000_000


def test_untiered_model_keeps_rates_above_threshold() -> None:
    tokens = TokenCounts(prompt_tokens=500_000, output_tokens=0)
    breakdown = cost_breakdown(FLASH_25, tokens)

    assert breakdown.long_context is True
    assert breakdown.input == Decimal("0.15")  # 500,000 x $0.30/M


def test_gemini_3_pro_tiers() -> None:
    below = TokenCounts(prompt_tokens=200_000, output_tokens=1_000)
    above = TokenCounts(prompt_tokens=200_001, output_tokens=1_000)

    # 200,000 x $2/M + 1,000 x $12/M
    assert cost_micros(PRO_3, below) == 412_000
    # 200,001 x $4/M + 1,000 x $18/M = 800,004 + 18,000
    assert cost_micros(PRO_3, above) == 818_004


# ---------------------------------------------------------------- each token charged once


def test_cached_tokens_not_double_charged() -> None:
    all_cached = TokenCounts(prompt_tokens=1_000_000, cached_tokens=1_000_000)
    breakdown = cost_breakdown(FLASH_25, all_cached)

    assert breakdown.input == 0
    assert breakdown.cached_input == Decimal("0.03")
    assert breakdown.total_micros == 30_000


def test_model_without_cache_rate_charges_input_rate() -> None:
    tokens = TokenCounts(prompt_tokens=1_000_000, cached_tokens=400_000)
    breakdown = cost_breakdown(FLASH_IMAGE_25, tokens)

    assert breakdown.input == Decimal("0.18")
    assert breakdown.cached_input == Decimal("0.12")
    assert breakdown.total == Decimal("0.30")


def test_thinking_tokens_at_output_rate() -> None:
    # Usage.output_tokens already includes reasoning tokens.
    usage = Usage(input_tokens=100, output_tokens=900, reasoning_tokens=800)
    breakdown = cost_breakdown(FLASH_25, TokenCounts.from_usage(usage))

    assert breakdown.output == Decimal("900") * Decimal("2.50") / 1_000_000


def test_image_tokens_at_image_rate() -> None:
    # One 1,290-token image plus 100 text tokens from gemini-2.5-flash-image.
    tokens = TokenCounts(prompt_tokens=0, output_tokens=1_390, image_output_tokens=1_290)
    breakdown = cost_breakdown(FLASH_IMAGE_25, tokens)

    assert breakdown.image_output == Decimal("0.0387")  # 1,290 x $30/M
    assert breakdown.output == Decimal("0.00025")  # 100 x $2.50/M
    assert breakdown.total_micros == 38_950


def test_gemini_3_pro_image_rate() -> None:
    price = builtin("gemini-3-pro-image-preview")
    tokens = TokenCounts(prompt_tokens=0, output_tokens=1_120, image_output_tokens=1_120)

    assert cost_micros(price, tokens) == 134_400  # 1,120 x $120/M


def test_audio_input_at_audio_rates() -> None:
    tokens = TokenCounts(
        prompt_tokens=10_000,
        cached_tokens=4_000,
        audio_input_tokens=5_000,
        cached_audio_tokens=1_000,
    )
    breakdown = cost_breakdown(FLASH_25, tokens)

    # Uncached: 4,000 audio at $1.00/M and 2,000 other at $0.30/M.
    assert breakdown.audio_input == Decimal("0.004")
    assert breakdown.input == Decimal("0.0006")
    # Cached: 1,000 audio at $0.10/M and 3,000 other at $0.03/M.
    assert breakdown.cached_input == Decimal("0.0001") + Decimal("0.00009")


def test_token_counts_reject_inconsistent_parts() -> None:
    with pytest.raises(ValueError, match="cached_tokens"):
        TokenCounts(prompt_tokens=10, cached_tokens=11)
    with pytest.raises(ValueError, match="image_output_tokens"):
        TokenCounts(prompt_tokens=0, output_tokens=5, image_output_tokens=6)
    with pytest.raises(ValueError, match="cached_audio_tokens"):
        TokenCounts(prompt_tokens=10, cached_tokens=5, audio_input_tokens=2, cached_audio_tokens=3)
    with pytest.raises(ValueError, match="prompt_tokens"):
        TokenCounts(prompt_tokens=-1)


# ---------------------------------------------------------------- search grounding


def test_search_gemini_25_per_grounded_request() -> None:
    breakdown = cost_breakdown(FLASH_25, TokenCounts(prompt_tokens=0), billable_search=3)

    assert FLASH_25.search_unit == "request"
    assert breakdown.search == Decimal("0.105")  # 3 x $35/1,000
    assert breakdown.total_micros == 105_000


def test_search_gemini_3_per_query() -> None:
    tokens = TokenCounts(prompt_tokens=1_000, output_tokens=100)
    breakdown = cost_breakdown(PRO_3, tokens, billable_search=5)

    assert PRO_3.search_unit == "query"
    assert breakdown.search == Decimal("0.07")  # 5 x $14/1,000
    # 1,000 x $2/M + 100 x $12/M + $0.07
    assert breakdown.total_micros == 2_000 + 1_200 + 70_000


def test_search_multiplied_with_tokens() -> None:
    assert cost_micros(PRO_3, TokenCounts(prompt_tokens=0), Decimal(2), billable_search=1) == 28_000


def test_search_without_price_rejected() -> None:
    with pytest.raises(ValueError, match="search price"):
        cost_micros(FLASH_IMAGE_25, TokenCounts(prompt_tokens=0), billable_search=1)
    with pytest.raises(ValueError, match="billable_search"):
        cost_micros(FLASH_25, TokenCounts(prompt_tokens=0), billable_search=-1)


# ---------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("model", "expected_key"),
    [
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini-2.5-flash-image", "gemini-2.5-flash-image"),
        ("gemini-2.5-flash-image-preview", "gemini-2.5-flash-image"),
        ("gemini-3.1-pro-preview-customtools", "gemini-3.1-pro-preview"),
        ("gemini-3-pro-image-preview", "gemini-3-pro-image-preview"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("deepseek-reasoner", "deepseek-reasoner"),
    ],
)
def test_lookup_longest_prefix(model: str, expected_key: str) -> None:
    assert find_price(BUILTIN_PRICES, model) is BUILTIN_PRICES[expected_key]


def test_lookup_unknown_model_is_none() -> None:
    assert find_price(BUILTIN_PRICES, "gpt-unknown") is None
    assert find_price(BUILTIN_PRICES, "gemini-2.0") is None


def test_lookup_exact_beats_prefix() -> None:
    table = {
        "m": ModelPrice(input=Decimal(1), output=Decimal(1)),
        "m-2": ModelPrice(input=Decimal(2), output=Decimal(2)),
    }

    assert find_price(table, "m-2") is table["m-2"]
    assert find_price(table, "m-3") is table["m"]


def test_gemini_31_pro_same_as_3_pro() -> None:
    assert builtin("gemini-3.1-pro-preview") == PRO_3


# ---------------------------------------------------------------- overrides


def test_override_merges_partial_fields() -> None:
    merged = apply_price_overrides(
        BUILTIN_PRICES, {"gemini-2.5-flash": {"output": 3, "input": "0.35"}}
    )
    price = merged["gemini-2.5-flash"]

    assert price.output == Decimal(3)
    assert price.input == Decimal("0.35")
    assert price.cached_input == FLASH_25.cached_input
    assert price.audio_input == FLASH_25.audio_input
    assert BUILTIN_PRICES["gemini-2.5-flash"] == FLASH_25


def test_override_float_parsed_exactly() -> None:
    merged = apply_price_overrides(BUILTIN_PRICES, {"gemini-2.5-pro": {"cached_input": 0.1}})

    assert merged["gemini-2.5-pro"].cached_input == Decimal("0.1")


def test_override_new_model_needs_input_output() -> None:
    merged = apply_price_overrides(
        BUILTIN_PRICES, {"my-local-model": {"input": 0, "output": "0.5"}}
    )

    assert merged["my-local-model"] == ModelPrice(input=Decimal(0), output=Decimal("0.5"))
    with pytest.raises(ValueError, match=r"'other-model'.*'output'"):
        apply_price_overrides(BUILTIN_PRICES, {"other-model": {"input": 1}})


def test_override_variant_starts_from_prefix_price() -> None:
    model = "gemini-2.5-flash-preview-09-2025"
    merged = apply_price_overrides(BUILTIN_PRICES, {model: {"output": "2.00"}})

    assert merged[model] == ModelPrice(
        input=FLASH_25.input,
        output=Decimal("2.00"),
        cached_input=FLASH_25.cached_input,
        audio_input=FLASH_25.audio_input,
        cached_audio_input=FLASH_25.cached_audio_input,
        search_per_1000=FLASH_25.search_per_1000,
        search_unit=FLASH_25.search_unit,
    )
    assert find_price(merged, model) is merged[model]
    assert merged["gemini-2.5-flash"] == FLASH_25


def test_override_none_clears_optional_field() -> None:
    merged = apply_price_overrides(
        BUILTIN_PRICES, {"gemini-2.5-pro": {"search_per_1000": None, "search_unit": None}}
    )

    assert merged["gemini-2.5-pro"].search_per_1000 is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"output": "abc"}, "output"),
        ({"output": -1}, "output"),
        ({"output": "NaN"}, "output"),
        ({"output": float("inf")}, "output"),
        ({"output": True}, "output"),
        ({"output": [1]}, "output"),
        ({"output": None}, "output"),
        ({"outptu": 1}, "outptu"),
        ({"search_unit": "prompt"}, "search_unit"),
        ({"search_per_1000": 10}, "search_per_1000"),
    ],
)
def test_override_invalid_value_rejected(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError) as caught:
        apply_price_overrides(BUILTIN_PRICES, {"gemini-2.5-flash-image": override})

    assert "'gemini-2.5-flash-image'" in str(caught.value)
    assert field in str(caught.value)


def test_override_not_a_mapping_rejected() -> None:
    with pytest.raises(ValueError, match=r"'gemini-2\.5-pro'"):
        apply_price_overrides(BUILTIN_PRICES, {"gemini-2.5-pro": 3})  # type: ignore[dict-item]


# ---------------------------------------------------------------- admission estimate


def test_estimate_example_shape() -> None:
    # 262,960 prompt tokens, all assumed uncached, cross 200k: $2.50/M and $15/M.
    estimate = estimate_max_cost_micros(PRO_25, 262_960, 1_744)

    assert estimate == 657_400 + 26_160
    assert estimate >= cost_micros(PRO_25, EXAMPLE)


def test_estimate_image_model_uses_image_rate() -> None:
    # 1,000 x $0.30/M + 1,290 x $30/M
    assert estimate_max_cost_micros(FLASH_IMAGE_25, 1_000, 1_290) == 300 + 38_700


def test_estimate_rounds_up_and_applies_multiplier() -> None:
    price = ModelPrice(input=Decimal("0.1"), output=Decimal("0.1"))

    assert estimate_max_cost_micros(price, 1, 0) == 1  # 0.1 micro-USD
    assert estimate_max_cost_micros(price, 10, 0, Decimal(3)) == 3


def test_estimate_search_only_when_requested() -> None:
    without = estimate_max_cost_micros(PRO_3, 1_000, 1_000)
    with_search = estimate_max_cost_micros(PRO_3, 1_000, 1_000, billable_search=2)

    assert with_search - without == 28_000


@pytest.mark.parametrize("model", sorted(BUILTIN_PRICES))
def test_estimate_bounds_seeded_usages(model: str) -> None:
    price = BUILTIN_PRICES[model]
    generator = random.Random(f"prices-{model}")
    sizes = (0, 1, 1_000, 199_999, 200_000, 200_001, 262_960, 1_048_576)
    for _ in range(400):
        prompt_estimate = generator.choice((*sizes, generator.randrange(0, 1_100_000)))
        max_output = generator.randrange(0, 70_000)
        multiplier = Decimal(generator.choice(("0", "0.5", "1", "1.5", "3.25")))
        prompt = generator.randint(0, prompt_estimate)
        cached = generator.randint(0, prompt)
        audio = generator.randint(0, prompt)
        cached_audio = generator.randint(0, min(cached, audio))
        output = generator.randint(0, max_output)
        image_output = generator.randint(0, output) if price.image_output else 0
        tokens = TokenCounts(
            prompt_tokens=prompt,
            output_tokens=output,
            cached_tokens=cached,
            image_output_tokens=image_output,
            audio_input_tokens=audio,
            cached_audio_tokens=cached_audio,
        )

        actual = cost_micros(price, tokens, multiplier)
        bound = estimate_max_cost_micros(price, prompt_estimate, max_output, multiplier)

        assert bound >= actual, (model, tokens, prompt_estimate, max_output, multiplier)


# ---------------------------------------------------------------- prompt estimate and CNY


def test_prompt_estimate_chars_and_images() -> None:
    assert estimate_prompt_tokens([]) == 0
    assert estimate_prompt_tokens([1, 4, 5]) == 1 + 1 + 2
    assert estimate_prompt_tokens([400], image_count=2) == 100 + 2 * 258
    assert estimate_prompt_tokens([10], chars_per_token=3, tokens_per_image=1_120) == 4


def test_prompt_estimate_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        estimate_prompt_tokens([-1])
    with pytest.raises(ValueError, match="chars_per_token"):
        estimate_prompt_tokens([1], chars_per_token=0)
    with pytest.raises(ValueError, match="image_count"):
        estimate_prompt_tokens([], image_count=-1)


def test_cny_conversion_rounds_to_fen() -> None:
    # $0.055940625 rounded to 55,941 micro-USD, at 7.1 CNY per USD = 0.3971811 CNY.
    assert to_cny(55_941, Decimal("7.1")) == Decimal("0.40")
    assert to_cny(1_000_000, Decimal("7.2345")) == Decimal("7.23")
    assert to_cny(705_000, Decimal("1")) == Decimal("0.71")  # half up
    assert to_cny(0, Decimal("7.1")) == Decimal("0.00")
    with pytest.raises(ValueError, match="CNY rate"):
        to_cny(1, Decimal(0))
