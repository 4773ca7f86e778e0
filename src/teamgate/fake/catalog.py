"""The models that the fake serves, with their listing fields and thinking rules.

NOTE: token limits, versions and descriptions are close to what ``models.list`` returned for
these ids in 2025-2026, but they are not copied from a live response and may differ in detail.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from teamgate.fake.errors import GoogleApiError, invalid_argument

_CHAT_METHODS = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_EMBED_METHODS = ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class BudgetRange:
    """Allowed ``thinkingBudget`` values besides -1 (dynamic), which every thinking model takes."""

    minimum: int
    maximum: int
    zero_allowed: bool

    def allows(self, budget: int) -> bool:
        if budget == -1:
            return True
        if budget == 0:
            return self.zero_allowed
        return self.minimum <= budget <= self.maximum


@dataclass(frozen=True)
class ModelInfo:
    """One model entry, plus the behaviour the fake derives from it."""

    model_id: str
    display_name: str
    description: str
    version: str
    input_token_limit: int
    output_token_limit: int
    methods: tuple[str, ...] = _CHAT_METHODS
    thinking: bool = False
    thinks_by_default: bool = False
    budget_range: BudgetRange | None = None
    # Allowed thinkingLevel names; None means the model rejects thinkingLevel (Gemini 2.5).
    thinking_levels: frozenset[str] | None = None
    image_output: bool = False
    # Gemini 3 models sign function calls and reject current-turn calls that lack a signature.
    requires_signatures: bool = False
    sampling: dict[str, float] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        """Build the ``Model`` resource that models.get and models.list return."""
        entry: dict[str, Any] = {
            "name": f"models/{self.model_id}",
            "version": self.version,
            "displayName": self.display_name,
            "description": self.description,
            "inputTokenLimit": self.input_token_limit,
            "outputTokenLimit": self.output_token_limit,
            "supportedGenerationMethods": list(self.methods),
        }
        entry.update(self.sampling)
        if self.thinking:
            entry["thinking"] = True
        return entry


_SAMPLING = {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}
_MILLION = 1_048_576

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
        "2.5",
        _MILLION,
        65536,
        thinking=True,
        thinks_by_default=True,
        budget_range=BudgetRange(128, 32768, zero_allowed=False),
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        "Stable version of Gemini 2.5 Flash, our mid-size multimodal model",
        "001",
        _MILLION,
        65536,
        thinking=True,
        thinks_by_default=True,
        budget_range=BudgetRange(1, 24576, zero_allowed=True),
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-2.5-flash-lite",
        "Gemini 2.5 Flash-Lite",
        "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025",
        "001",
        _MILLION,
        65536,
        thinking=True,
        budget_range=BudgetRange(512, 24576, zero_allowed=True),
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-2.5-flash-image",
        "Nano Banana",
        "Gemini 2.5 Flash Image",
        "2.0",
        32768,
        32768,
        methods=("generateContent", "countTokens", "batchGenerateContent"),
        image_output=True,
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-3-flash-preview",
        "Gemini 3 Flash Preview",
        "Gemini 3 Flash Preview",
        "3-flash-preview-12-2025",
        _MILLION,
        65536,
        thinking=True,
        thinks_by_default=True,
        # NOTE: the legacy budget range accepted by Gemini 3 models is a guess.
        budget_range=BudgetRange(1, 24576, zero_allowed=True),
        thinking_levels=frozenset({"MINIMAL", "LOW", "MEDIUM", "HIGH"}),
        requires_signatures=True,
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-3-pro-preview",
        "Gemini 3 Pro Preview",
        "Gemini 3 Pro Preview",
        "3-pro-preview-11-2025",
        _MILLION,
        65536,
        thinking=True,
        thinks_by_default=True,
        budget_range=BudgetRange(128, 32768, zero_allowed=False),
        thinking_levels=frozenset({"LOW", "HIGH"}),
        requires_signatures=True,
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-3.1-pro-preview",
        "Gemini 3.1 Pro Preview",
        "Gemini 3.1 Pro Preview",
        "3.1-pro-preview-02-2026",
        _MILLION,
        65536,
        thinking=True,
        thinks_by_default=True,
        budget_range=BudgetRange(128, 32768, zero_allowed=False),
        thinking_levels=frozenset({"LOW", "MEDIUM", "HIGH"}),
        requires_signatures=True,
        sampling=_SAMPLING,
    ),
    ModelInfo(
        "gemini-embedding-001",
        "Gemini Embedding 001",
        "Obtain a distributed representation of a text.",
        "001",
        2048,
        1,
        methods=_EMBED_METHODS,
    ),
)

_BY_ID = {model.model_id: model for model in MODELS}


def find_model(model_id: str) -> ModelInfo | None:
    """Look a model up by bare id, accepting a ``models/`` prefix too."""
    return _BY_ID.get(model_id.removeprefix("models/"))


def list_models_page(page_size: str | None, page_token: str | None) -> dict[str, Any]:
    """Build one page of models.list; ``nextPageToken`` is set only when more models follow."""
    size = _parse_page_size(page_size)
    offset = _decode_page_token(page_token) if page_token else 0
    page = MODELS[offset : offset + size]
    body: dict[str, Any] = {"models": [model.resource() for model in page]}
    if offset + size < len(MODELS):
        body["nextPageToken"] = _encode_page_token(offset + size)
    return body


def _parse_page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise GoogleApiError(
            400, invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"")
        ) from None
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset":
            raise ValueError(text)
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise GoogleApiError(400, invalid_argument("Invalid page token.")) from None
