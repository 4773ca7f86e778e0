"""Parse a generateContent request body with the google-genai SDK's own pydantic types.

The SDK types forbid unknown fields, so a misspelled field fails here the way the real
proto-JSON parser fails it. Field names may be lowerCamel or snake_case, as on the real API.
Byte fields (``thoughtSignature``, ``inlineData.data``) are validated as base64 in either the
standard or the URL-safe alphabet.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import pydantic
from google.genai import types

from teamgate.fake.errors import GoogleApiError, JsonObject, field_violation, invalid_argument

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
ValueT = TypeVar("ValueT")

_CONTENTS = pydantic.TypeAdapter(list[types.Content])
_SAFETY_SETTINGS = pydantic.TypeAdapter(list[types.SafetySetting])
_TOOLS = pydantic.TypeAdapter(list[types.Tool])

# Fields the SDK types carry but the Gemini Developer API rejects (the SDK raises
# "only supported in Gemini Enterprise Agent Platform mode" for them), keyed by SDK type.
_VERTEX_ONLY: dict[type[pydantic.BaseModel], tuple[str, ...]] = {
    types.GenerationConfig: ("routing_config", "model_selection_config", "audio_timestamp"),
    types.ImageConfig: (
        "person_generation",
        "prominent_people",
        "output_mime_type",
        "output_compression_quality",
        "image_output_options",
    ),
    types.SafetySetting: ("method",),
    types.Tool: ("retrieval", "enterprise_web_search", "parallel_ai_search", "exa_ai_search"),
    types.FunctionCall: ("partial_args", "will_continue"),
    types.Blob: ("display_name",),
    types.FileData: ("display_name",),
}

_PROTO_TYPES = {
    "float": "TYPE_FLOAT",
    "int": "TYPE_INT32",
    "bool": "TYPE_BOOL",
    "string": "TYPE_STRING",
    "bytes": "TYPE_BYTES",
}


@dataclass
class ParsedRequest:
    """A generateContent body after SDK-type validation; absent fields are None or empty."""

    contents: list[types.Content]
    system_instruction: types.Content | None = None
    generation_config: types.GenerationConfig | None = None
    image_config: types.ImageConfig | None = None
    safety_settings: list[types.SafetySetting] = field(default_factory=list)
    tools: list[types.Tool] = field(default_factory=list)
    tool_config: types.ToolConfig | None = None
    cached_content: str | None = None


@dataclass
class _Problems:
    """Messages and BadRequest field violations collected before raising one 400."""

    messages: list[str] = field(default_factory=list)
    violations: list[JsonObject] = field(default_factory=list)

    def add(self, message: str, path: str | None = None) -> None:
        self.messages.append(message)
        self.violations.append(field_violation(message, path))

    def raise_if_any(self) -> None:
        if self.messages:
            raise GoogleApiError(400, invalid_argument("\n".join(self.messages), self.violations))


def to_snake(name: str) -> str:
    """Convert a lowerCamel proto-JSON name to its snake_case proto field name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def unknown_name_message(name: str, parent: str) -> str:
    """Word the proto-JSON parser's error for a field the message type does not have."""
    location = f" at '{parent}'" if parent else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{location}: Cannot find field.'


def parse_json_body(raw: bytes) -> JsonObject:
    """Decode the request body, rejecting anything but a JSON object the way Google does."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GoogleApiError(
            400, invalid_argument("Invalid JSON payload received. Unexpected token.")
        ) from None
    if not isinstance(body, dict):
        message = "Invalid JSON payload received. Expected an object at the top level."
        raise GoogleApiError(400, invalid_argument(message))
    return body


def parse_generate_request(body: JsonObject) -> ParsedRequest:
    """Validate every known top-level field with the SDK types; raise a 400 on any problem."""
    problems = _Problems()
    fields = _split_top_level(body, problems)
    request = ParsedRequest(contents=[])
    request.contents = _validate(_CONTENTS, fields.get("contents", []), "contents", problems) or []
    request.system_instruction = _validate_model(
        types.Content, fields.get("system_instruction"), "system_instruction", problems
    )
    request.generation_config, request.image_config = _validate_generation_config(
        fields.get("generation_config"), problems
    )
    request.safety_settings = (
        _validate(_SAFETY_SETTINGS, fields.get("safety_settings", []), "safety_settings", problems)
        or []
    )
    request.tools = _validate(_TOOLS, fields.get("tools", []), "tools", problems) or []
    request.tool_config = _validate_model(
        types.ToolConfig, fields.get("tool_config"), "tool_config", problems
    )
    cached = fields.get("cached_content")
    if cached is not None and not isinstance(cached, str):
        problems.add(f"Invalid value at 'cached_content' (TYPE_STRING), {_short(cached)}")
    request.cached_content = cached if isinstance(cached, str) else None
    problems.raise_if_any()
    _check_enums(request, problems)
    _check_vertex_only_fields(request, problems)
    problems.raise_if_any()
    return request


_TOP_LEVEL = frozenset(
    {
        "contents",
        "system_instruction",
        "generation_config",
        "safety_settings",
        "tools",
        "tool_config",
        "cached_content",
    }
)


def _split_top_level(body: JsonObject, problems: _Problems) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = to_snake(key)
        if name not in _TOP_LEVEL:
            problems.add(unknown_name_message(key, ""))
        elif name in fields:
            problems.add(
                "Invalid JSON payload received. "
                f'Field "{name}" is set more than once (as "{key}" and another spelling).'
            )
        else:
            fields[name] = value
    return fields


def _validate_generation_config(
    raw: Any, problems: _Problems
) -> tuple[types.GenerationConfig | None, types.ImageConfig | None]:
    # The wire GenerationConfig carries imageConfig, but the SDK's GenerationConfig type
    # lacks it (the SDK keeps it on GenerateContentConfig), so it is validated on its own.
    if not isinstance(raw, dict):
        return _validate_model(types.GenerationConfig, raw, "generation_config", problems), None
    rest = dict(raw)
    image_raw = rest.pop("imageConfig", rest.pop("image_config", None))
    config = _validate_model(types.GenerationConfig, rest, "generation_config", problems)
    image = _validate_model(
        types.ImageConfig, image_raw, "generation_config.image_config", problems
    )
    return config, image


def _validate_model(model: type[ModelT], raw: Any, path: str, problems: _Problems) -> ModelT | None:
    if raw is None:
        return None
    return _validate(pydantic.TypeAdapter(model), raw, path, problems)


def _validate(
    adapter: pydantic.TypeAdapter[ValueT], raw: Any, path: str, problems: _Problems
) -> ValueT | None:
    # JSON mode is what makes pydantic decode base64 byte fields, as the wire format requires.
    try:
        return adapter.validate_json(orjson.dumps(raw))
    except pydantic.ValidationError as error:
        for item in error.errors():
            _add_pydantic_error(item, path, problems)
        return None


def _add_pydantic_error(item: Any, prefix: str, problems: _Problems) -> None:
    location: tuple[str | int, ...] = tuple(item["loc"])
    kind: str = item["type"]
    if kind == "extra_forbidden":
        parent = _proto_path(prefix, location[:-1])
        name = location[-1]
        problems.add(unknown_name_message(str(name), parent), parent)
        return
    path = _proto_path(prefix, location)
    proto_type = _PROTO_TYPES.get(kind.split("_")[0])
    if kind == "bytes_invalid_encoding":
        value = _short(item["input"])
        message = f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for {value}"
    elif proto_type:
        message = f"Invalid value at '{path}' ({proto_type}), {_short(item['input'])}"
    else:
        message = f"Invalid value at '{path}', {_short(item['input'])}: {item['msg']}"
    problems.add(message, path)


def _proto_path(prefix: str, location: tuple[str | int, ...]) -> str:
    path = prefix
    for step in location:
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            path += f".{to_snake(step)}" if path else to_snake(step)
    return path


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _walk(value: Any, path: str) -> list[tuple[str, Any]]:
    """List every pydantic model and enum under ``value`` with its proto path."""
    found: list[tuple[str, Any]] = [(path, value)]
    if isinstance(value, pydantic.BaseModel):
        for name in type(value).model_fields:
            child = getattr(value, name)
            if child is not None:
                found += _walk(child, f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _walk(child, f"{path}[{index}]")
    return found


def _request_nodes(request: ParsedRequest) -> list[tuple[str, Any]]:
    roots: dict[str, Any] = {
        "contents": request.contents,
        "system_instruction": request.system_instruction,
        "generation_config": request.generation_config,
        "generation_config.image_config": request.image_config,
        "safety_settings": request.safety_settings,
        "tools": request.tools,
        "tool_config": request.tool_config,
    }
    nodes: list[tuple[str, Any]] = []
    for path, root in roots.items():
        if root is not None:
            nodes += _walk(root, path)
    return nodes


def _check_enums(request: ParsedRequest, problems: _Problems) -> None:
    # The SDK's enums accept unknown strings with only a warning, but the server rejects them.
    for path, node in _request_nodes(request):
        if isinstance(node, enum.Enum) and node.name not in type(node).__members__:
            enum_type = (
                f"type.googleapis.com/google.ai.generativelanguage.v1beta.{type(node).__name__}"
            )
            message = f"Invalid value at '{path}' ({enum_type}), {_short(node.value)}"
            problems.add(message, path)


def _check_vertex_only_fields(request: ParsedRequest, problems: _Problems) -> None:
    for path, node in _request_nodes(request):
        for name in _VERTEX_ONLY.get(type(node), ()):
            if getattr(node, name) is not None:
                camel = pydantic.alias_generators.to_camel(name)
                problems.add(unknown_name_message(camel, path), path)
