"""Render internal responses and stream events as OpenAI Chat Completions JSON and SSE."""

from __future__ import annotations

from typing import Any

import orjson

from teamgate.core.errors import GatewayError
from teamgate.core.messages import (
    ChatResponse,
    Choice,
    FinishEvent,
    MediaEvent,
    MediaPart,
    ReasoningOutput,
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

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"
DONE = b"data: [DONE]\n\n"


def error_body(error: GatewayError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def render_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def render_response(response: ChatResponse, reasoning: ReasoningOutput) -> dict[str, Any]:
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [_render_choice(choice, reasoning) for choice in response.choices],
        "usage": render_usage(response.usage),
    }


def _render_choice(choice: Choice, reasoning: ReasoningOutput) -> dict[str, Any]:
    texts = [part.text for part in choice.parts if isinstance(part, TextPart)]
    thoughts = [part.text for part in choice.parts if isinstance(part, ThinkingPart)]
    calls = [part for part in choice.parts if isinstance(part, ToolCallPart)]
    media = [part for part in choice.parts if isinstance(part, MediaPart)]
    content = "".join(texts)
    thinking = "".join(thoughts)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking and reasoning == "reasoning_content":
        message["reasoning_content"] = thinking
    elif thinking and reasoning == "think_tags":
        message["content"] = f"{THINK_OPEN}{thinking}{THINK_CLOSE}{content}"
    if calls:
        message["tool_calls"] = [_render_tool_call(call) for call in calls]
        if not message["content"]:
            message["content"] = None
    if media:
        message["images"] = [_render_image(part) for part in media]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": choice.finish_reason,
    }


def _render_tool_call(call: ToolCallPart) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
    }
    if call.signature:
        rendered["extra_content"] = {"google": {"thought_signature": call.signature}}
    return rendered


def _render_image(part: MediaPart) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{part.mime_type};base64,{part.data}"}}


class ChunkWriter:
    """Turn stream events into `data: {chunk}` SSE frames, one frame per event."""

    def __init__(
        self,
        completion_id: str,
        model: str,
        created: int,
        reasoning: ReasoningOutput,
        include_usage: bool,
    ) -> None:
        self._head = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        self._model = model
        self._reasoning = reasoning
        self._include_usage = include_usage
        self._started: set[int] = set()
        self._thinking_open: set[int] = set()
        self.usage: Usage | None = None
        self.streamed_chars = 0
        """Characters of text and reasoning sent, for estimating a cut-off stream's usage."""

    def frame(self, event: StreamEvent) -> bytes | None:
        """Render one event; None when the event produces no frame of its own."""
        if isinstance(event, UsageEvent):
            self.usage = event.usage
            return None
        choice = event.choice
        delta: dict[str, Any] = {}
        finish: str | None = None
        if isinstance(event, ThinkingDelta):
            self.streamed_chars += len(event.text)
            if not self._add_thinking(delta, choice, event.text):
                return None
        elif isinstance(event, TextDelta):
            self.streamed_chars += len(event.text)
            delta["content"] = self._close_thinking(choice) + event.text
        elif isinstance(event, ToolCallEvent):
            self._close_thinking_into(delta, choice)
            delta["tool_calls"] = [{"index": event.position, **_render_tool_call(event.call)}]
        elif isinstance(event, MediaEvent):
            self._close_thinking_into(delta, choice)
            delta["images"] = [_render_image(event.media)]
        elif isinstance(event, FinishEvent):
            self._close_thinking_into(delta, choice)
            finish = event.reason
        if choice not in self._started:
            self._started.add(choice)
            delta = {"role": "assistant", **delta}
        return self._encode([{"index": choice, "delta": delta, "finish_reason": finish}])

    def _add_thinking(self, delta: dict[str, Any], choice: int, text: str) -> bool:
        if not text or self._reasoning == "hidden":
            return False
        if self._reasoning == "reasoning_content":
            delta["reasoning_content"] = text
            return True
        opening = "" if choice in self._thinking_open else THINK_OPEN
        self._thinking_open.add(choice)
        delta["content"] = opening + text
        return True

    def _close_thinking(self, choice: int) -> str:
        if choice in self._thinking_open:
            self._thinking_open.discard(choice)
            return THINK_CLOSE
        return ""

    def _close_thinking_into(self, delta: dict[str, Any], choice: int) -> None:
        closing = self._close_thinking(choice)
        if closing:
            delta["content"] = closing

    def estimated_usage(self, prompt_chars: int) -> Usage:
        """Estimate usage at four characters a token, for a stream cut off before its usage."""
        return Usage(input_tokens=-(-prompt_chars // 4), output_tokens=-(-self.streamed_chars // 4))

    def usage_frame(self) -> bytes | None:
        """Render the final `choices: []` frame with usage, when the client asked for it."""
        if not self._include_usage:
            return None
        # OpenAI clients expect this frame whenever they asked for it, even
        # when the upstream reported no usage at all.
        return self._encode([], usage=render_usage(self.usage or Usage()))

    def _encode(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {**self._head, "model": self._model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


def error_frame(error: GatewayError) -> bytes:
    return b"data: " + orjson.dumps(error_body(error)) + b"\n\n"
