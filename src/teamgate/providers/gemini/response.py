"""Translate Gemini responses and stream chunks into the internal model."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from teamgate.core.errors import ContentBlocked
from teamgate.core.messages import (
    ChatResponse,
    Choice,
    FinishEvent,
    FinishReason,
    MediaEvent,
    MediaPart,
    Part,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallEvent,
    ToolCallPart,
    Usage,
    UsageEvent,
)
from teamgate.providers.gemini import wire
from teamgate.providers.gemini.request import MINTED_CALL_PREFIX

_FINISH_REASON_MAP: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "content_filter",
    "NO_IMAGE": "content_filter",
}
"""Gemini finish reasons; any other value (OTHER, MALFORMED_FUNCTION_CALL, …) maps to stop."""


def map_finish(native: str, has_tool_calls: bool) -> FinishReason:
    reason = _FINISH_REASON_MAP.get(native, "stop")
    # Gemini ends a turn with function calls with plain STOP.
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def map_usage(metadata: wire.UsageMetadata | None) -> Usage:
    if metadata is None:
        return Usage()
    return Usage(
        input_tokens=metadata.prompt_token_count + metadata.tool_use_prompt_token_count,
        output_tokens=metadata.candidates_token_count + metadata.thoughts_token_count,
        cached_input_tokens=metadata.cached_content_token_count,
        reasoning_tokens=metadata.thoughts_token_count,
        tool_prompt_tokens=metadata.tool_use_prompt_token_count,
    )


def mint_call_id() -> str:
    return MINTED_CALL_PREFIX + secrets.token_urlsafe(12)


def check_prompt_feedback(response: wire.GenerateContentResponse) -> None:
    """Raise ContentBlocked when Google refused the prompt itself (no candidates)."""
    feedback = response.prompt_feedback
    if response.candidates or feedback is None or not feedback.block_reason:
        return
    detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
    raise ContentBlocked(
        f"the prompt was blocked by the provider's safety system "
        f"(reason {feedback.block_reason}){detail}",
        param="messages",
    )


def to_chat_response(
    response: wire.GenerateContentResponse, public_model: str, created: int
) -> ChatResponse:
    check_prompt_feedback(response)
    choices = [_map_candidate(candidate) for candidate in response.candidates]
    if not choices:
        # A 200 response always has at least one choice.
        choices = [Choice(index=0, parts=[], finish_reason="stop")]
    choices.sort(key=lambda choice: choice.index)
    return ChatResponse(
        id=f"chatcmpl-{response.response_id or secrets.token_hex(12)}",
        model=public_model,
        created=created,
        choices=choices,
        usage=map_usage(response.usage_metadata),
        upstream_model=response.model_version,
    )


def _map_candidate(candidate: wire.Candidate) -> Choice:
    parts = [_map_part(part) for part in _parts_of(candidate)]
    mapped = [part for part in parts if part is not None]
    has_calls = any(isinstance(part, ToolCallPart) for part in mapped)
    native = candidate.finish_reason or "STOP"
    return Choice(
        index=candidate.index,
        parts=mapped,
        finish_reason=map_finish(native, has_calls),
        native_finish_reason=native,
    )


def _parts_of(candidate: wire.Candidate) -> list[wire.Part]:
    return candidate.content.parts if candidate.content is not None else []


def _map_part(part: wire.Part) -> Part | None:
    if part.function_call is not None:
        call = part.function_call
        return ToolCallPart(
            id=call.id or mint_call_id(),
            name=call.name,
            arguments=call.args,
            signature=part.thought_signature,
        )
    if part.inline_data is not None:
        return MediaPart(mime_type=part.inline_data.mime_type, data=part.inline_data.data)
    if part.text is not None:
        if part.thought:
            return ThinkingPart(text=part.text, signature=part.thought_signature)
        return TextPart(text=part.text, signature=part.thought_signature)
    return None


@dataclass
class StreamState:
    """State of the stream translation, kept between Gemini chunks."""

    calls_per_choice: dict[int, int] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    usage: Usage | None = None
    model_version: str | None = None


def chunk_events(chunk: wire.GenerateContentResponse, state: StreamState) -> list[StreamEvent]:
    """Translate one streamed chunk.

    Gemini repeats the running usage on every chunk. Each one becomes a
    UsageEvent after the chunk's content, so a stream cut off part-way still
    reports the usage seen so far.
    """
    check_prompt_feedback(chunk)
    if chunk.model_version:
        state.model_version = chunk.model_version
    events: list[StreamEvent] = []
    for candidate in chunk.candidates:
        _candidate_events(candidate, state, events)
    if chunk.usage_metadata is not None:
        state.usage = map_usage(chunk.usage_metadata)
        events.append(UsageEvent(usage=state.usage))
    return events


def _candidate_events(
    candidate: wire.Candidate, state: StreamState, events: list[StreamEvent]
) -> None:
    index = candidate.index
    for part in _parts_of(candidate):
        event = _part_event(index, part, state)
        if event is not None:
            events.append(event)
    if candidate.finish_reason and index not in state.finished:
        state.finished.add(index)
        has_calls = state.calls_per_choice.get(index, 0) > 0
        events.append(
            FinishEvent(
                choice=index,
                reason=map_finish(candidate.finish_reason, has_calls),
                native_reason=candidate.finish_reason,
            )
        )


def _part_event(index: int, part: wire.Part, state: StreamState) -> StreamEvent | None:
    mapped = _map_part(part)
    if isinstance(mapped, ToolCallPart):
        position = state.calls_per_choice.get(index, 0)
        state.calls_per_choice[index] = position + 1
        return ToolCallEvent(choice=index, position=position, call=mapped)
    if isinstance(mapped, ThinkingPart):
        if not mapped.text and not mapped.signature:
            return None
        return ThinkingDelta(choice=index, text=mapped.text, signature=mapped.signature)
    if isinstance(mapped, TextPart):
        return TextDelta(choice=index, text=mapped.text) if mapped.text else None
    if isinstance(mapped, MediaPart):
        return MediaEvent(choice=index, media=mapped)
    return None
