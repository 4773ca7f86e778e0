"""The fake's unscripted answer: deterministic text, JSON, images or function calls.

This is what ``teamgate serve --demo`` users see, so every reply quotes the newest user text.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.genai import types

from teamgate.fake.catalog import ModelInfo
from teamgate.fake.errors import JsonObject
from teamgate.fake.png import render_png
from teamgate.fake.rules import Thinking
from teamgate.fake.tokens import TOKEN_CHARS, text_tokens
from teamgate.fake.validation import ParsedRequest

SIGNATURE_PREFIX = b"teamgate-fake-signature:"
_MAX_ECHO_CHARS = 200
_THOUGHT_FACTORS = {"LOW": 1, "MEDIUM": 2, "HIGH": 3}
_CALL_PATTERN = re.compile(r"\bcall\s+([A-Za-z_][A-Za-z0-9_.:\-]*)", re.IGNORECASE)


@dataclass
class Answer:
    """One candidate before it is cut into chunks."""

    thoughts: list[str] = field(default_factory=list)
    thoughts_tokens: int = 0
    parts: list[JsonObject] = field(default_factory=list)
    finish_reason: str = "STOP"
    image_count: int = 0


def build_answer(
    request: ParsedRequest, model: ModelInfo, thinking: Thinking, response_id: str
) -> Answer:
    """Build the default answer for a validated request."""
    config = request.generation_config or types.GenerationConfig()
    prompt = last_user_text(request.contents)
    answer = Answer()
    summaries = _thought_summaries(prompt) if thinking.active else []
    answer.thoughts_tokens = _hidden_thought_tokens(summaries, thinking)
    if thinking.include_thoughts:
        answer.thoughts = summaries
    call = _function_call(request)
    if call is not None:
        answer.parts = [{"functionCall": call}]
    elif _wants_image(config, model):
        answer.parts = _image_parts(config, prompt)
        answer.image_count = 1
    else:
        answer.parts = [{"text": _answer_text(request, config, model, prompt)}]
    _apply_stop_sequences(answer, config)
    _apply_output_limit(answer, config)
    _sign(answer, model, thinking, response_id)
    return answer


def last_user_text(contents: list[types.Content]) -> str:
    """Return the text of the newest user content, shortened to 200 characters."""
    for content in reversed(contents):
        if content.role == "model":
            continue
        texts = [part.text for part in content.parts or [] if part.text]
        if texts:
            text = " ".join(texts)
            return text if len(text) <= _MAX_ECHO_CHARS else text[: _MAX_ECHO_CHARS - 3] + "..."
    return "(no text)"


def _thought_summaries(prompt: str) -> list[str]:
    return [
        f'**Reading the request**\nThe user wrote: "{prompt[:60]}".\n\n',
        "**Planning the reply**\nI will restate the request and answer briefly.",
    ]


def _hidden_thought_tokens(summaries: list[str], thinking: Thinking) -> int:
    # Billing counts the full hidden thoughts, which are longer than the summaries shown.
    if not thinking.active:
        return 0
    factor = _THOUGHT_FACTORS.get(thinking.level or "HIGH", 3)
    tokens = factor * sum(text_tokens(text) for text in summaries)
    return min(tokens, thinking.budget) if thinking.budget else tokens


def _answer_text(
    request: ParsedRequest, config: types.GenerationConfig, model: ModelInfo, prompt: str
) -> str:
    if config.response_mime_type == "application/json":
        return orjson.dumps(_json_answer(config, prompt)).decode()
    if config.response_mime_type == "text/x.enum":
        return _enum_answer(config)
    result = _function_result(request.contents)
    if result is not None:
        return f"The function {result[0]} returned {result[1]}."
    return (
        f'Simulated reply from {model.model_id}: you said "{prompt}". This answer comes from '
        "the teamgate demo upstream, not from a real model."
    )


def _json_answer(config: types.GenerationConfig, prompt: str) -> Any:
    schema = _schema_dict(config)
    if schema is None:
        return {"answer": f'You said "{prompt}".'}
    return sample_from_schema(schema, prompt[:40])


def _enum_answer(config: types.GenerationConfig) -> str:
    schema = _schema_dict(config) or {}
    values = schema.get("enum") or ["UNKNOWN"]
    return str(values[0])


def _schema_dict(config: types.GenerationConfig) -> dict[str, Any] | None:
    if isinstance(config.response_json_schema, dict):
        return config.response_json_schema
    if config.response_schema is not None:
        dumped: dict[str, Any] = config.response_schema.model_dump(mode="json", exclude_none=True)
        return dumped
    return None


def sample_from_schema(schema: dict[str, Any], text: str, depth: int = 0) -> Any:
    """Build a value that roughly fits a JSON Schema or an OpenAPI ``Schema`` object."""
    if depth > 8:
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "any_of", "oneOf"):
        if schema.get(key):
            return sample_from_schema(schema[key][0], text, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((item for item in kind if str(item).lower() != "null"), "null")
    kind = str(kind).lower()
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        return {
            name: sample_from_schema(child, text, depth + 1) for name, child in properties.items()
        }
    if kind == "array":
        return [sample_from_schema(schema.get("items") or {}, text, depth + 1)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, text)


def _function_call(request: ParsedRequest) -> JsonObject | None:
    declarations = {
        declaration.name: declaration
        for tool in request.tools
        for declaration in tool.function_declarations or []
        if declaration.name
    }
    if not declarations or _function_result(request.contents) is not None:
        return None
    calling = request.tool_config.function_calling_config if request.tool_config else None
    mode = calling.mode if calling else None
    if mode == types.FunctionCallingConfigMode.NONE:
        return None
    name = _requested_function(last_user_text(request.contents), declarations)
    if name is None and mode == types.FunctionCallingConfigMode.ANY:
        allowed = (calling.allowed_function_names if calling else None) or list(declarations)
        name = allowed[0]
    if name is None or name not in declarations:
        return None
    return {"name": name, "args": _call_arguments(declarations[name])}


def _requested_function(prompt: str, declarations: dict[str, Any]) -> str | None:
    for match in _CALL_PATTERN.finditer(prompt):
        if match.group(1) in declarations:
            return match.group(1)
    return None


def _call_arguments(declaration: types.FunctionDeclaration) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if isinstance(declaration.parameters_json_schema, dict):
        schema = declaration.parameters_json_schema
    elif declaration.parameters is not None:
        schema = declaration.parameters.model_dump(mode="json", exclude_none=True)
    properties: dict[str, Any] = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    return {
        name: sample_from_schema(properties[name], "example")
        for name in required
        if name in properties
    }


def _function_result(contents: list[types.Content]) -> tuple[str, str] | None:
    """Return (name, response JSON) when the newest content holds only function responses."""
    if not contents or contents[-1].role == "model":
        return None
    parts = contents[-1].parts or []
    responses = [part.function_response for part in parts if part.function_response]
    if not responses or len(responses) != len(parts):
        return None
    first = responses[0]
    return first.name or "(unnamed)", orjson.dumps(first.response or {}).decode()


def _wants_image(config: types.GenerationConfig, model: ModelInfo) -> bool:
    return model.image_output and types.Modality.IMAGE in (config.response_modalities or [])


def _image_parts(config: types.GenerationConfig, prompt: str) -> list[JsonObject]:
    image = base64.b64encode(render_png(prompt)).decode()
    parts: list[JsonObject] = []
    if types.Modality.TEXT in (config.response_modalities or []):
        parts.append({"text": f'Here is a simulated image for "{prompt}".'})
    parts.append({"inlineData": {"mimeType": "image/png", "data": image}})
    return parts


def _apply_stop_sequences(answer: Answer, config: types.GenerationConfig) -> None:
    for part in answer.parts:
        text = part.get("text")
        if not isinstance(text, str):
            continue
        cuts = [text.find(stop) for stop in config.stop_sequences or [] if stop and stop in text]
        if cuts:
            part["text"] = text[: min(cuts)]


def _apply_output_limit(answer: Answer, config: types.GenerationConfig) -> None:
    """Cut the answer at maxOutputTokens, which thinking tokens count against."""
    limit = config.max_output_tokens
    if limit is None:
        return
    if answer.thoughts_tokens >= limit:
        # The thoughts used the whole budget: Google then sends a candidate with no parts.
        answer.thoughts_tokens = limit
        answer.thoughts = []
        answer.parts = []
        answer.finish_reason = "MAX_TOKENS"
        return
    remaining = limit - answer.thoughts_tokens
    for part in answer.parts:
        text = part.get("text")
        if isinstance(text, str) and text_tokens(text) > remaining:
            part["text"] = text[: remaining * TOKEN_CHARS]
            answer.finish_reason = "MAX_TOKENS"


def _sign(answer: Answer, model: ModelInfo, thinking: Thinking, response_id: str) -> None:
    """Attach a thought signature where Google would.

    Gemini 3 signs the first functionCall part, or the last part of a reply without calls.
    Gemini 2.5 signs function calls only when it thinks.
    """
    if not answer.parts:
        return
    call_index = next((i for i, part in enumerate(answer.parts) if "functionCall" in part), None)
    if model.requires_signatures:
        index = call_index if call_index is not None else len(answer.parts) - 1
    elif thinking.active and call_index is not None:
        index = call_index
    else:
        return
    raw = SIGNATURE_PREFIX + f"{model.model_id}:{response_id}:{index}".encode()
    answer.parts[index]["thoughtSignature"] = base64.b64encode(raw).decode()
