"""The internal model of a chat request, its response and its stream events.

Every inbound dialect translates into these types and every upstream adapter
translates out of them; no dialect talks to an adapter directly.  The types
are msgspec structs because they are built on the hot path of every request.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant", "tool"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
"""The reason a choice ended, in OpenAI's vocabulary; `error` marks an upstream failure."""

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]

ReasoningOutput = Literal["reasoning_content", "think_tags", "hidden"]
"""The place reasoning text goes: a separate field, `<think>` tags in content, or nowhere."""


class TextPart(msgspec.Struct, tag="text"):
    text: str
    signature: str | None = None


class ThinkingPart(msgspec.Struct, tag="thinking"):
    """Reasoning text (a provider's thought summary) and its opaque signature."""

    text: str
    signature: str | None = None


class MediaPart(msgspec.Struct, tag="media"):
    """Inline binary content: an image, audio clip or document, base64-encoded."""

    mime_type: str
    data: str


class ToolCallPart(msgspec.Struct, tag="tool_call"):
    id: str
    name: str
    arguments: dict[str, Any]
    signature: str | None = None
    """Opaque provider state that must come back with this call on the next turn."""


class ToolResultPart(msgspec.Struct, tag="tool_result"):
    call_id: str
    name: str
    content: str


Part = TextPart | ThinkingPart | MediaPart | ToolCallPart | ToolResultPart


class Message(msgspec.Struct):
    role: Role
    parts: list[Part]


class ThinkingRequest(msgspec.Struct):
    """The client's reasoning settings; every field is optional."""

    effort: ReasoningEffort | None = None
    budget: int | None = None
    level: str | None = None
    include_thoughts: bool | None = None


class ResponseFormat(msgspec.Struct):
    kind: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None


class ToolDefinition(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


ToolChoiceMode = Literal["auto", "none", "required"]


class ToolChoice(msgspec.Struct):
    mode: ToolChoiceMode
    function_name: str | None = None


class ChatRequest(msgspec.Struct):
    """One chat completion request, provider-neutral."""

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop: list[str] | None = None
    candidate_count: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    thinking: ThinkingRequest | None = None
    reasoning_output: ReasoningOutput | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    modalities: list[str] | None = None
    user: str | None = None


class Usage(msgspec.Struct):
    """Token counts of one request.

    `input_tokens` includes cached and tool-use prompt tokens; `output_tokens`
    includes reasoning tokens, so input + output is the billable total.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    tool_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Choice(msgspec.Struct):
    index: int
    parts: list[Part]
    finish_reason: FinishReason
    native_finish_reason: str | None = None


class ChatResponse(msgspec.Struct):
    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: Usage
    upstream_model: str | None = None


# Stream events.  An adapter yields these in the order the provider sent the
# content; `choice` is the candidate index.


class TextDelta(msgspec.Struct, tag="text_delta"):
    choice: int
    text: str


class ThinkingDelta(msgspec.Struct, tag="thinking_delta"):
    choice: int
    text: str
    signature: str | None = None


class ToolCallEvent(msgspec.Struct, tag="tool_call"):
    """A whole tool call; `position` counts the calls of its choice from 0."""

    choice: int
    position: int
    call: ToolCallPart


class MediaEvent(msgspec.Struct, tag="media"):
    choice: int
    media: MediaPart


class FinishEvent(msgspec.Struct, tag="finish"):
    choice: int
    reason: FinishReason
    native_reason: str | None = None


class UsageEvent(msgspec.Struct, tag="usage"):
    usage: Usage


StreamEvent = TextDelta | ThinkingDelta | ToolCallEvent | MediaEvent | FinishEvent | UsageEvent
