"""Gemini thinkingConfig per model family: budgets on 2.5, levels on Gemini 3, clamping."""

from __future__ import annotations

import pytest

from teamgate.core.errors import InvalidRequest
from teamgate.core.messages import ReasoningEffort, ThinkingRequest
from teamgate.providers.gemini.profiles import thinking_config


def config_for(
    model: str,
    request: ThinkingRequest | None = None,
    default: ThinkingRequest | None = None,
    show: bool = False,
) -> dict[str, object] | None:
    return thinking_config(model, request, default, show)


# reasoning_effort on Gemini 2.5 budget models


@pytest.mark.parametrize(
    ("model", "effort", "budget"),
    [
        ("gemini-2.5-flash", "none", 0),
        ("gemini-2.5-flash", "minimal", 512),
        ("gemini-2.5-flash", "low", 1024),
        ("gemini-2.5-flash", "medium", 8192),
        ("gemini-2.5-flash", "high", 24576),
        ("gemini-2.5-flash-lite", "none", 0),
        ("gemini-2.5-flash-lite", "minimal", 512),
        ("gemini-2.5-pro", "none", 128),
        ("gemini-2.5-pro", "minimal", 512),
        ("gemini-2.5-pro", "high", 24576),
    ],
)
def test_effort_budget_models(model: str, effort: ReasoningEffort, budget: int) -> None:
    assert config_for(model, ThinkingRequest(effort=effort)) == {"thinkingBudget": budget}


# A direct budget on budget models is clamped to each model's range


@pytest.mark.parametrize(
    ("model", "requested", "sent"),
    [
        ("gemini-2.5-flash", 0, 0),
        ("gemini-2.5-flash", 1, 1),
        ("gemini-2.5-flash", 5000, 5000),
        ("gemini-2.5-flash", 100000, 24576),
        ("gemini-2.5-flash", -1, -1),
        ("gemini-2.5-flash-lite", 100, 512),
        ("gemini-2.5-flash-lite", 0, 0),
        ("gemini-2.5-flash-lite", 30000, 24576),
        ("gemini-2.5-pro", 0, 128),
        ("gemini-2.5-pro", 64, 128),
        ("gemini-2.5-pro", 30000, 30000),
        ("gemini-2.5-pro", 40000, 32768),
        ("gemini-2.5-pro", -1, -1),
    ],
)
def test_budget_clamped(model: str, requested: int, sent: int) -> None:
    assert config_for(model, ThinkingRequest(budget=requested)) == {"thinkingBudget": sent}


def test_budget_model_version_suffix() -> None:
    config = config_for("gemini-2.5-flash-lite-preview-09-2025", ThinkingRequest(budget=10))
    assert config == {"thinkingBudget": 512}


def test_budget_models_prefix() -> None:
    config = config_for("models/gemini-2.5-pro", ThinkingRequest(budget=0))
    assert config == {"thinkingBudget": 128}


# A level given to a 2.5 model becomes a budget


@pytest.mark.parametrize(
    ("model", "level", "budget"),
    [
        ("gemini-2.5-flash", "low", 1024),
        ("gemini-2.5-flash", "HIGH", 24576),
        ("gemini-2.5-pro", "minimal", 512),
        ("gemini-2.5-pro", "high", 24576),
        ("gemini-2.5-flash-lite", "medium", 8192),
    ],
)
def test_level_on_budget_model(model: str, level: str, budget: int) -> None:
    assert config_for(model, ThinkingRequest(level=level)) == {"thinkingBudget": budget}


# Levels on Gemini 3 models


@pytest.mark.parametrize(
    ("model", "level", "sent"),
    [
        ("gemini-3-flash-preview", "minimal", "MINIMAL"),
        ("gemini-3-flash-preview", "low", "LOW"),
        ("gemini-3-flash-preview", "medium", "MEDIUM"),
        ("gemini-3-flash-preview", "High", "HIGH"),
        ("gemini-3-pro-preview", "minimal", "LOW"),
        ("gemini-3-pro-preview", "medium", "HIGH"),
        ("gemini-3-pro-preview", "high", "HIGH"),
        ("gemini-3.1-pro-preview", "minimal", "LOW"),
        ("gemini-3.1-pro-preview", "medium", "MEDIUM"),
    ],
)
def test_level_gemini_3(model: str, level: str, sent: str) -> None:
    assert config_for(model, ThinkingRequest(level=level)) == {"thinkingLevel": sent}


@pytest.mark.parametrize(
    ("model", "level"),
    [
        ("gemini-3-flash-preview", "MINIMAL"),
        ("gemini-3-pro-preview", "LOW"),
        ("gemini-3.1-pro-preview", "LOW"),
    ],
)
def test_effort_none_gemini_3(model: str, level: str) -> None:
    # Gemini 3 cannot turn thinking off, so "none" becomes the model's lowest level.
    assert config_for(model, ThinkingRequest(effort="none")) == {"thinkingLevel": level}


@pytest.mark.parametrize(
    ("effort", "level"), [("minimal", "MINIMAL"), ("low", "LOW"), ("high", "HIGH")]
)
def test_effort_gemini_3_flash(effort: ReasoningEffort, level: str) -> None:
    config = config_for("gemini-3-flash-preview", ThinkingRequest(effort=effort))
    assert config == {"thinkingLevel": level}


def test_future_gemini_family_uses_levels() -> None:
    config = config_for("gemini-4-flash", ThinkingRequest(effort="low"))
    assert config == {"thinkingLevel": "LOW"}


# A budget given to a Gemini 3 model becomes a level


@pytest.mark.parametrize(
    ("model", "budget", "level"),
    [
        ("gemini-3-flash-preview", 0, "MINIMAL"),
        ("gemini-3-flash-preview", 1024, "LOW"),
        ("gemini-3-flash-preview", 1025, "MEDIUM"),
        ("gemini-3-flash-preview", 8192, "MEDIUM"),
        ("gemini-3-flash-preview", 8193, "HIGH"),
        ("gemini-3-pro-preview", 0, "LOW"),
        ("gemini-3-pro-preview", 2000, "HIGH"),
    ],
)
def test_budget_on_gemini_3(model: str, budget: int, level: str) -> None:
    assert config_for(model, ThinkingRequest(budget=budget)) == {"thinkingLevel": level}


def test_dynamic_budget_on_gemini_3() -> None:
    # A budget of -1 lets the model choose, which is Gemini 3's default, so no level is sent.
    assert config_for("gemini-3-flash-preview", ThinkingRequest(budget=-1)) is None


# Models without thinking


@pytest.mark.parametrize("model", ["gemini-2.5-flash-image", "gemini-2.0-flash"])
def test_no_thinking_models(model: str) -> None:
    request = ThinkingRequest(effort="high", include_thoughts=True)
    assert config_for(model, request, show=True) is None


# includeThoughts


def test_show_default_includes_thoughts() -> None:
    assert config_for("gemini-2.5-flash", show=True) == {"includeThoughts": True}


def test_hidden_default_sends_nothing() -> None:
    assert config_for("gemini-2.5-flash", show=False) is None


def test_request_hides_thoughts() -> None:
    config = config_for("gemini-2.5-flash", ThinkingRequest(include_thoughts=False), show=True)
    assert config is None


def test_request_shows_thoughts() -> None:
    request = ThinkingRequest(effort="low", include_thoughts=True)
    config = config_for("gemini-3-flash-preview", request, show=False)
    assert config == {"thinkingLevel": "LOW", "includeThoughts": True}


def test_thinking_off_omits_thoughts() -> None:
    config = config_for("gemini-2.5-flash", ThinkingRequest(effort="none"), show=True)
    assert config == {"thinkingBudget": 0}


def test_pro_cannot_hide_by_disabling() -> None:
    config = config_for("gemini-2.5-pro", ThinkingRequest(budget=0), show=True)
    assert config == {"thinkingBudget": 128, "includeThoughts": True}


# Request against the model's configured default


def test_default_used_without_request() -> None:
    config = config_for("gemini-2.5-flash", default=ThinkingRequest(budget=2048))
    assert config == {"thinkingBudget": 2048}


def test_default_clamped() -> None:
    config = config_for("gemini-2.5-pro", default=ThinkingRequest(effort="none"))
    assert config == {"thinkingBudget": 128}


def test_request_beats_default() -> None:
    config = config_for(
        "gemini-2.5-flash", ThinkingRequest(effort="low"), ThinkingRequest(budget=2048)
    )
    assert config == {"thinkingBudget": 1024}


def test_request_level_beats_default_budget() -> None:
    config = config_for(
        "gemini-3-flash-preview", ThinkingRequest(level="high"), ThinkingRequest(budget=0)
    )
    assert config == {"thinkingLevel": "HIGH"}


def test_include_only_keeps_default_choice() -> None:
    config = config_for(
        "gemini-2.5-flash",
        ThinkingRequest(include_thoughts=True),
        ThinkingRequest(budget=2048),
        show=False,
    )
    assert config == {"thinkingBudget": 2048, "includeThoughts": True}


# Invalid requests


def test_budget_and_level_rejected() -> None:
    with pytest.raises(InvalidRequest) as caught:
        config_for("gemini-2.5-flash", ThinkingRequest(budget=100, level="low"))
    assert caught.value.param == "thinking"


def test_unknown_level_rejected() -> None:
    with pytest.raises(InvalidRequest) as caught:
        config_for("gemini-3-flash-preview", ThinkingRequest(level="extreme"))
    assert "extreme" in str(caught.value)


def test_unknown_model_shows_no_thoughts_by_default() -> None:
    assert thinking_config("gemma-3-27b-it", None, None, True) is None


def test_unknown_model_honours_a_budget() -> None:
    request = ThinkingRequest(budget=2000)
    assert thinking_config("gemma-3-27b-it", request, None, True) == {
        "thinkingBudget": 2000,
        "includeThoughts": True,
    }


def test_speech_model_gets_no_thinking() -> None:
    request = ThinkingRequest(effort="high")
    assert thinking_config("gemini-2.5-flash-preview-tts", request, None, True) is None
