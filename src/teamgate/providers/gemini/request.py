"""Translate an internal ChatRequest into a Gemini `generateContent` request body."""

from __future__ import annotations

from typing import Any, assert_never

import orjson

from teamgate.core.errors import InvalidRequest
from teamgate.core.messages import (
    ChatRequest,
    MediaPart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)
from teamgate.providers.base import Target
from teamgate.providers.gemini.profiles import profile_for, thinking_config

# Gemini rejects a content with no parts and a text part that is empty, while
# OpenAI clients legitimately send empty turns (an assistant turn with
# `content: null`, an empty user message).  Such turns keep their place in the
# conversation with this stand-in text.
EMPTY_TURN_TEXT = "(empty)"

# Google's documented value that skips thought-signature validation for a
# function call whose signature was lost (history from another model or client).
SKIP_SIGNATURE = "skip_thought_signature_validator"

MAX_STOP_SEQUENCES = 5

# Minted OpenAI tool-call ids start with this; ids Google sent are passed back.
MINTED_CALL_PREFIX = "call_"

_JSON_SCHEMA_DROPPED = frozenset({"$schema", "strict"})


def build_body(request: ChatRequest, target: Target) -> dict[str, Any]:
    system, contents = _map_messages(request.messages)
    if not contents:
        raise InvalidRequest(
            "messages must contain at least one user or assistant message", param="messages"
        )
    if profile_for(target.upstream_model).uses_levels:
        _sign_current_turn(contents)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _map_generation_config(request, target)
    if config:
        body["generationConfig"] = config
    if target.options.safety_settings:
        body["safetySettings"] = [
            {"category": category, "threshold": threshold}
            for category, threshold in target.options.safety_settings
        ]
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_map_tool(tool) for tool in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _map_tool_choice(request.tool_choice)}
    return body


def _map_messages(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names = {
        part.id: part.name
        for message in messages
        for part in message.parts
        if isinstance(part, ToolCallPart)
    }
    for message in messages:
        if message.role == "system":
            system.extend(_map_part(part, call_names) for part in message.parts)
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = [_map_part(part, call_names) for part in message.parts if _sendable(part)]
        if not parts:
            parts = [{"text": EMPTY_TURN_TEXT}]
        if contents and contents[-1]["role"] == role:
            # Consecutive turns of one role (several tool results, or a client
            # that sends two user messages) become one Gemini content.
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return [part for part in system if part.get("text")], contents


def _sendable(part: Part) -> bool:
    # Reasoning text from earlier turns is not sent back; Gemini keeps its
    # reasoning state in signatures instead.
    if isinstance(part, ThinkingPart):
        return False
    return not (isinstance(part, TextPart) and not part.text)


def _map_part(part: Part, call_names: dict[str, str]) -> dict[str, Any]:
    if isinstance(part, TextPart):
        mapped: dict[str, Any] = {"text": part.text}
        if part.signature:
            mapped["thoughtSignature"] = part.signature
        return mapped
    if isinstance(part, MediaPart):
        return {"inlineData": {"mimeType": part.mime_type, "data": part.data}}
    if isinstance(part, ToolCallPart):
        call: dict[str, Any] = {"name": part.name, "args": part.arguments}
        if not part.id.startswith(MINTED_CALL_PREFIX):
            call["id"] = part.id
        mapped = {"functionCall": call}
        if part.signature:
            mapped["thoughtSignature"] = part.signature
        return mapped
    if isinstance(part, ToolResultPart):
        return {"functionResponse": _map_tool_result(part, call_names)}
    if isinstance(part, ThinkingPart):
        return {"text": part.text, "thought": True}
    assert_never(part)


def _map_tool_result(part: ToolResultPart, call_names: dict[str, str]) -> dict[str, Any]:
    name = call_names.get(part.call_id) or part.name
    if not name:
        raise InvalidRequest(
            f"tool message refers to tool_call_id {part.call_id!r}, which no earlier "
            "assistant message contains",
            param="messages",
        )
    response: Any
    try:
        response = orjson.loads(part.content)
    except orjson.JSONDecodeError:
        response = None
    if not isinstance(response, dict):
        response = {"output": part.content}
    result: dict[str, Any] = {"name": name, "response": response}
    if not part.call_id.startswith(MINTED_CALL_PREFIX):
        result["id"] = part.call_id
    return result


def _sign_current_turn(contents: list[dict[str, Any]]) -> None:
    """Give each model step of the current turn a signature on its first function call.

    Gemini 3 rejects a request whose current turn (everything after the last
    user content with ordinary parts) has a function-call step without its
    signature.  Signatures the client returned are kept; missing ones get
    Google's documented skip value.
    """
    for content in reversed(contents):
        if content["role"] == "user":
            if any("functionResponse" not in part for part in content["parts"]):
                return
            continue
        calls = [part for part in content["parts"] if "functionCall" in part]
        if calls and "thoughtSignature" not in calls[0]:
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE


def _map_generation_config(request: ChatRequest, target: Target) -> dict[str, Any]:
    config: dict[str, Any] = {}
    _set(config, "temperature", request.temperature)
    _set(config, "topP", request.top_p)
    _set(config, "maxOutputTokens", request.max_output_tokens or target.options.max_output_tokens)
    _set(config, "candidateCount", request.candidate_count)
    _set(config, "seed", request.seed)
    _set(config, "presencePenalty", request.presence_penalty)
    _set(config, "frequencyPenalty", request.frequency_penalty)
    if request.stop:
        if len(request.stop) > MAX_STOP_SEQUENCES:
            raise InvalidRequest(
                f"at most {MAX_STOP_SEQUENCES} stop sequences are supported", param="stop"
            )
        config["stopSequences"] = request.stop
    fmt = request.response_format
    if fmt is not None and fmt.kind != "text":
        config["responseMimeType"] = "application/json"
        if fmt.kind == "json_schema" and fmt.schema:
            config["responseJsonSchema"] = _clean_schema(fmt.schema)
    if request.modalities:
        config["responseModalities"] = [modality.upper() for modality in request.modalities]
    thinking = thinking_config(
        target.upstream_model,
        request.thinking,
        target.options.thinking,
        target.options.show_thoughts and request.reasoning_output != "hidden",
    )
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _set(config: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        config[key] = value


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key not in _JSON_SCHEMA_DROPPED}


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    if tool.parameters and tool.parameters.get("properties"):
        declaration["parametersJsonSchema"] = _clean_schema(tool.parameters)
    return declaration


def _map_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.function_name is not None:
        return {"mode": "ANY", "allowedFunctionNames": [choice.function_name]}
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    return {"mode": modes[choice.mode]}
