"""Typed views of the Gemini API's response bodies (lowerCamel JSON).

Only the fields teamgate reads are declared; msgspec ignores the rest, so a
new field from Google never breaks decoding.
"""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str
    args: dict[str, Any] = {}
    id: str | None = None


class InlineData(msgspec.Struct, rename="camel"):
    mime_type: str
    data: str


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    inline_data: InlineData | None = None
    function_call: FunctionCall | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[Part] = []
    role: str | None = None


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None
    block_reason_message: str | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class ErrorDetail(msgspec.Struct, rename="camel"):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = []


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: ErrorDetail | None = None
    """Set only on an error event sent inside an SSE stream."""


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


response_decoder = msgspec.json.Decoder(GenerateContentResponse)
error_decoder = msgspec.json.Decoder(ErrorBody)
