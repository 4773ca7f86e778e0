"""Translate an OpenAI chat completion request into the internal ChatRequest."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from teamgate.api.openai import schemas
from teamgate.core.errors import InvalidRequest
from teamgate.core.messages import (
    ChatRequest,
    MediaPart,
    Message,
    Part,
    ReasoningEffort,
    ResponseFormat,
    Role,
    TextPart,
    ThinkingRequest,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)

# Reasoning that clients echo back inside earlier assistant turns: Open WebUI
# writes `<think>…</think>` (and the other tags it detects) into the history.
_REASONING_BLOCK = re.compile(
    r"<(think|thinking|thought|reason|reasoning)>.*?</\1>\s*"
    r"|<details type=\"reasoning\"[^>]*>.*?</details>\s*",
    re.DOTALL,
)
# A response stopped while still reasoning leaves an opening tag with no end.
_UNCLOSED_REASONING = re.compile(r"^\s*<(think|thinking|thought|reason|reasoning)>.*\Z", re.DOTALL)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)(?:;[\w=.+-]+)*;base64,(.*)$", re.DOTALL)
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
# OpenAI's efforts above high have no Gemini counterpart beyond the highest setting.
_EFFORT: dict[str, ReasoningEffort] = {
    "none": "none",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_ROLE: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def decode_request(body: bytes) -> schemas.ChatCompletionRequest:
    try:
        return schemas.request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise InvalidRequest(f"invalid request body: {message}", param=_param(message)) from None
    except msgspec.DecodeError:
        raise InvalidRequest("the request body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply") from None


def _param(message: str) -> str | None:
    # msgspec ends its messages with "- at `$.messages[0].role`".
    marker = "at `$."
    position = message.rfind(marker)
    return message[position + len(marker) : -1] if position >= 0 else None


def to_chat_request(raw: schemas.ChatCompletionRequest) -> ChatRequest:
    if not raw.messages:
        raise InvalidRequest("messages must not be empty", param="messages")
    return ChatRequest(
        model=raw.model,
        messages=[_map_message(message, index) for index, message in enumerate(raw.messages)],
        stream=raw.stream,
        include_usage=bool(raw.stream_options and raw.stream_options.include_usage),
        temperature=raw.temperature,
        top_p=raw.top_p,
        max_output_tokens=raw.max_completion_tokens or raw.max_tokens,
        stop=[raw.stop] if isinstance(raw.stop, str) else raw.stop or None,
        candidate_count=raw.n,
        seed=raw.seed,
        presence_penalty=raw.presence_penalty,
        frequency_penalty=raw.frequency_penalty,
        response_format=_map_response_format(raw.response_format),
        thinking=_map_thinking(raw),
        reasoning_output=raw.reasoning_output,
        tools=[_map_tool(tool) for tool in raw.tools] if raw.tools else None,
        tool_choice=_map_tool_choice(raw.tool_choice),
        parallel_tool_calls=raw.parallel_tool_calls,
        modalities=list(raw.modalities) if raw.modalities else None,
        user=raw.user if isinstance(raw.user, str) else None,
    )


def _map_message(message: schemas.ChatMessage, index: int) -> Message:
    role = _ROLE[message.role]
    param = f"messages[{index}].content"
    if role == "tool":
        return Message(role="tool", parts=[_map_tool_result(message, index)])
    parts = _map_content(message.content, param, role)
    if role == "assistant":
        parts = [_strip_reasoning(part) for part in parts]
        for position, call in enumerate(message.tool_calls or []):
            parts.append(_map_tool_call(call, f"messages[{index}].tool_calls[{position}]"))
    return Message(role=role, parts=parts)


def _map_content(
    content: str | list[schemas.ContentPart] | None, param: str, role: Role
) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)]
    return [_map_content_part(part, f"{param}[{i}]", role) for i, part in enumerate(content)]


def _map_content_part(part: schemas.ContentPart, param: str, role: Role) -> Part:
    if part.type == "text" and part.text is not None:
        return TextPart(text=part.text)
    if part.type == "refusal" and part.refusal is not None:
        return TextPart(text=part.refusal)
    if role in ("system", "assistant"):
        raise InvalidRequest(f"{role} messages may contain only text parts", param=param)
    if part.type == "image_url" and part.image_url is not None:
        url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
        return _media_from_url(url, f"{param}.image_url.url")
    if part.type == "input_audio" and part.input_audio is not None:
        mime = _AUDIO_TYPES.get(part.input_audio.format)
        if mime is None:
            raise InvalidRequest("input_audio.format must be wav or mp3", param=param)
        return MediaPart(mime_type=mime, data=part.input_audio.data)
    if part.type == "file" and part.file is not None and part.file.file_data:
        return _media_from_url(part.file.file_data, f"{param}.file.file_data")
    raise InvalidRequest(
        f"unsupported content part of type {part.type!r} (or its field is missing); "
        "use text, image_url, input_audio or file with file_data",
        param=param,
    )


def _media_from_url(url: str, param: str) -> MediaPart:
    match = _DATA_URL.match(url)
    if match is None:
        if url.startswith(("http://", "https://")):
            raise InvalidRequest(
                "remote URLs are not fetched by this gateway yet; "
                "send the file inline as a data: URL (data:image/png;base64,…)",
                param=param,
                code="unsupported_url",
            )
        raise InvalidRequest("expected a base64 data: URL", param=param)
    return MediaPart(mime_type=match.group(1), data=match.group(2))


def _strip_reasoning(part: Part) -> Part:
    if isinstance(part, TextPart) and "<" in part.text:
        text = _UNCLOSED_REASONING.sub("", _REASONING_BLOCK.sub("", part.text))
        return TextPart(text=text, signature=part.signature)
    return part


def _map_tool_call(call: schemas.ToolCall, param: str) -> ToolCallPart:
    try:
        arguments = orjson.loads(call.function.arguments) if call.function.arguments else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "function.arguments must be a JSON object encoded as a string",
            param=f"{param}.function.arguments",
        ) from None
    if not isinstance(arguments, dict):
        raise InvalidRequest(
            "function.arguments must encode a JSON object", param=f"{param}.function.arguments"
        )
    return ToolCallPart(
        id=call.id,
        name=call.function.name,
        arguments=arguments,
        signature=_signature(call.extra_content),
    )


def _signature(extra: dict[str, Any] | None) -> str | None:
    google = (extra or {}).get("google")
    value = google.get("thought_signature") if isinstance(google, dict) else None
    return value if isinstance(value, str) and value else None


def _map_tool_result(message: schemas.ChatMessage, index: int) -> ToolResultPart:
    if not message.tool_call_id and not message.name:
        raise InvalidRequest(
            "tool messages need tool_call_id", param=f"messages[{index}].tool_call_id"
        )
    content = message.content
    if isinstance(content, list):
        text = "".join(part.text or "" for part in content)
    else:
        text = content or ""
    return ToolResultPart(call_id=message.tool_call_id or "", name=message.name or "", content=text)


def _map_response_format(fmt: schemas.ResponseFormat | None) -> ResponseFormat | None:
    if fmt is None:
        return None
    if fmt.type == "json_schema":
        if fmt.json_schema is None or fmt.json_schema.schema is None:
            raise InvalidRequest(
                "response_format.json_schema.schema is required for type json_schema",
                param="response_format.json_schema",
            )
        return ResponseFormat(kind="json_schema", schema=fmt.json_schema.schema)
    return ResponseFormat(kind=fmt.type)


def _map_thinking(raw: schemas.ChatCompletionRequest) -> ThinkingRequest | None:
    google = raw.extra_body.google if raw.extra_body else None
    config = google.thinking_config if google else None
    effort = _EFFORT.get(raw.reasoning_effort) if raw.reasoning_effort else None
    budget = raw.thinking_budget
    if raw.thinking is not None:
        if raw.thinking.type == "disabled":
            budget = 0
        elif raw.thinking.budget_tokens is not None:
            budget = raw.thinking.budget_tokens
    if config is not None and config.thinking_budget is not None:
        budget = config.thinking_budget
    level = config.thinking_level if config else None
    include = raw.include_reasoning
    if config is not None and config.include_thoughts is not None:
        include = config.include_thoughts
    if effort is not None and (budget is not None or level is not None):
        raise InvalidRequest(
            "set either reasoning_effort or a thinking budget/level, not both",
            param="reasoning_effort",
        )
    if effort is None and budget is None and level is None and include is None:
        return None
    return ThinkingRequest(effort=effort, budget=budget, level=level, include_thoughts=include)


def _map_tool(tool: schemas.Tool) -> ToolDefinition:
    function = tool.function
    return ToolDefinition(
        name=function.name, description=function.description, parameters=function.parameters
    )


def _map_tool_choice(
    choice: str | schemas.NamedToolChoice | None,
) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, schemas.NamedToolChoice):
        return ToolChoice(mode="required", function_name=choice.function.name)
    if choice == "none":
        return ToolChoice(mode="none")
    if choice == "required":
        return ToolChoice(mode="required")
    return ToolChoice(mode="auto")
