"""Thinking limits of each Gemini model family, as data.

Figures follow Google's thinking documentation as of late 2026: 2.5 models
take a token budget (`thinkingBudget`), Gemini 3 models take a level
(`thinkingLevel`).  A model id is matched by the longest prefix in
`_PROFILES`; unknown ids fall back to the family rules below.
"""

from __future__ import annotations

from dataclasses import dataclass

from teamgate.core.errors import InvalidRequest
from teamgate.core.messages import ReasoningEffort, ThinkingRequest


@dataclass(frozen=True)
class ThinkingProfile:
    uses_levels: bool
    can_disable: bool = True
    min_budget: int = 0
    max_budget: int = 24576
    levels: tuple[str, ...] = ()
    thinks: bool = True
    """False for models with no thinking at all (image models): send no thinkingConfig."""
    known: bool = True
    """False for model ids this table does not describe; they show thoughts only on request."""


_BUDGET_FLASH = ThinkingProfile(uses_levels=False, min_budget=1, max_budget=24576)
_PROFILES: dict[str, ThinkingProfile] = {
    "gemini-2.5-pro": ThinkingProfile(
        uses_levels=False, can_disable=False, min_budget=128, max_budget=32768
    ),
    "gemini-2.5-flash": _BUDGET_FLASH,
    "gemini-2.5-flash-lite": ThinkingProfile(uses_levels=False, min_budget=512, max_budget=24576),
    "gemini-2.5-flash-image": ThinkingProfile(uses_levels=False, thinks=False),
    "gemini-2.0": ThinkingProfile(uses_levels=False, thinks=False),
    "gemini-1.5": ThinkingProfile(uses_levels=False, thinks=False),
    "gemini-3-pro-image": ThinkingProfile(
        uses_levels=True, can_disable=False, levels=("low", "high")
    ),
    "gemini-3-pro": ThinkingProfile(uses_levels=True, can_disable=False, levels=("low", "high")),
    "gemini-3.1-pro": ThinkingProfile(
        uses_levels=True, can_disable=False, levels=("low", "medium", "high")
    ),
    "gemini-3": ThinkingProfile(
        uses_levels=True, can_disable=False, levels=("minimal", "low", "medium", "high")
    ),
}

# Budgets for OpenAI's reasoning_effort on budget models; clamped to the model's range.
_EFFORT_BUDGETS: dict[ReasoningEffort, int] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}
_LEVEL_ORDER: tuple[ReasoningEffort, ...] = ("minimal", "low", "medium", "high")


_NO_THINKING = ThinkingProfile(uses_levels=False, thinks=False)
_UNKNOWN = ThinkingProfile(uses_levels=False, min_budget=0, max_budget=32768, known=False)
# Speech, embedding and live-audio models take no thinkingConfig at all.
_NON_THINKING_MARKERS = ("-tts", "embedding", "-live", "native-audio")


def profile_for(model: str) -> ThinkingProfile:
    bare = model.removeprefix("models/")
    if any(marker in bare for marker in _NON_THINKING_MARKERS):
        return _NO_THINKING
    matches = [prefix for prefix in _PROFILES if bare.startswith(prefix)]
    if matches:
        return _PROFILES[max(matches, key=len)]
    if bare.startswith(("gemini-3", "gemini-4")):
        return _PROFILES["gemini-3"]
    if bare.startswith("gemini-2.5"):
        return _BUDGET_FLASH
    return _UNKNOWN


def thinking_config(
    model: str, request: ThinkingRequest | None, default: ThinkingRequest | None, show: bool
) -> dict[str, object] | None:
    """Build Gemini's `thinkingConfig` for `model`, or None to send none.

    The request's choice wins over the model's configured default.  Values
    outside the model's range are clamped rather than rejected, because
    clients such as Open WebUI send one effort value to every model.
    """
    profile = profile_for(model)
    if not profile.thinks:
        return None
    chosen = request if _chooses(request) else default
    default_include = show and (profile.known or _chooses(request) or _chooses(default))
    include = (
        default_include
        if request is None or request.include_thoughts is None
        else request.include_thoughts
    )
    config: dict[str, object] = {}
    if chosen is not None and _chooses(chosen):
        config.update(_level_or_budget(profile, chosen))
    off = config.get("thinkingBudget") == 0
    if include and not off:
        config["includeThoughts"] = True
    return config or None


def _chooses(request: ThinkingRequest | None) -> bool:
    return request is not None and (
        request.effort is not None or request.budget is not None or request.level is not None
    )


def _level_or_budget(profile: ThinkingProfile, chosen: ThinkingRequest) -> dict[str, object]:
    if chosen.budget is not None and chosen.level is not None:
        raise InvalidRequest(
            "set either a thinking budget or a thinking level, not both", param="thinking"
        )
    if chosen.level is not None:
        level = _checked_level(chosen.level)
        if profile.uses_levels:
            return {"thinkingLevel": _closest_level(profile, level)}
        return {"thinkingBudget": _clamp_budget(profile, _EFFORT_BUDGETS[level])}
    if chosen.budget is not None:
        if profile.uses_levels:
            if chosen.budget == -1:
                return {}
            return {"thinkingLevel": _closest_level(profile, _level_for_budget(chosen.budget))}
        return {"thinkingBudget": _clamp_budget(profile, chosen.budget)}
    effort = chosen.effort
    assert effort is not None
    if profile.uses_levels:
        lowest = profile.levels[0]
        return {"thinkingLevel": _closest_level(profile, lowest if effort == "none" else effort)}
    if effort == "none":
        return {"thinkingBudget": _clamp_budget(profile, 0)}
    return {"thinkingBudget": _clamp_budget(profile, _EFFORT_BUDGETS[effort])}


def _level_for_budget(budget: int) -> str:
    if budget <= 0:
        return "minimal"
    if budget <= _EFFORT_BUDGETS["low"]:
        return "low"
    if budget <= _EFFORT_BUDGETS["medium"]:
        return "medium"
    return "high"


def _checked_level(level: str) -> ReasoningEffort:
    lowered = level.lower()
    for name in _LEVEL_ORDER:
        if name == lowered:
            return name
    raise InvalidRequest(
        f"unknown thinking level {level!r}; use one of {', '.join(_LEVEL_ORDER)}",
        param="thinking",
    )


def _clamp_budget(profile: ThinkingProfile, budget: int) -> int:
    if budget == -1:
        return -1
    if budget == 0:
        return 0 if profile.can_disable else profile.min_budget
    return max(profile.min_budget, min(profile.max_budget, budget))


def _closest_level(profile: ThinkingProfile, level: str) -> str:
    if level in profile.levels:
        return level.upper()
    wanted = _LEVEL_ORDER.index(level)
    # Round up to the next supported level, or down to the highest one.
    higher = [name for name in profile.levels if _LEVEL_ORDER.index(name) > wanted]
    return (higher[0] if higher else profile.levels[-1]).upper()
