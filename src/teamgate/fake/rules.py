"""Server-side request rules that the SDK types do not enforce but the Gemini API does."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.genai import types

from teamgate.fake.catalog import ModelInfo
from teamgate.fake.errors import GoogleApiError, invalid_argument
from teamgate.fake.validation import ParsedRequest

MAX_STOP_SEQUENCES = 5
_ALLOWED_MIME_TYPES = ("text/plain", "application/json", "application/xml", "application/yaml")
_ENUM_MIME_TYPE = "text/x.enum"
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")
_PAYLOAD_FIELDS = (
    "text",
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
    "executable_code",
    "code_execution_result",
)
# Values Google documents for replaying function calls that no Gemini 3 model signed. They are
# accepted both as the literal string (valid base64 on the wire) and as the base64 of its bytes.
DUMMY_SIGNATURES = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
_DUMMY_SIGNATURE_BYTES = frozenset(
    {value.encode() for value in DUMMY_SIGNATURES}
    | {base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) for value in DUMMY_SIGNATURES}
)


@dataclass(frozen=True)
class Thinking:
    """Thinking settings resolved for one request."""

    active: bool
    include_thoughts: bool
    budget: int | None = None
    level: str | None = None


def _reject(message: str) -> GoogleApiError:
    return GoogleApiError(400, invalid_argument(message))


def check_request(request: ParsedRequest, model: ModelInfo) -> Thinking:
    """Apply the server rules to a parsed request and return the resolved thinking settings."""
    _check_contents(request)
    _check_cache_use(request)
    _check_tools(request)
    config = request.generation_config or types.GenerationConfig()
    _check_generation_config(config, model)
    return resolve_thinking(config.thinking_config, model)


def _check_contents(request: ParsedRequest) -> None:
    if not request.contents:
        raise _reject("* GenerateContentRequest.contents: contents is not specified\n")
    for index, content in enumerate(request.contents):
        if content.role not in (None, "", "user", "model"):
            raise _reject("Please use a valid role: user, model.")
        _check_parts(content, f"contents[{index}]")
    if request.system_instruction is not None:
        _check_parts(request.system_instruction, "system_instruction")


def _check_parts(content: types.Content, path: str) -> None:
    if not content.parts:
        raise _reject(f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.\n")
    for index, part in enumerate(content.parts):
        present = [name for name in _PAYLOAD_FIELDS if getattr(part, name) is not None]
        if len(present) > 1:
            raise _reject(
                "Invalid JSON payload received. Oneof field 'data' is already set. "
                f"Cannot set '{present[1]}' at '{path}.parts[{index}]'."
            )
        # A part may carry only a signature on empty text: streams send those and clients
        # replay them. Any other empty part leaves the oneof unset, which Google rejects.
        empty_text = part.text == "" and part.thought_signature is None
        if not present or empty_text:
            raise _reject(
                f"* GenerateContentRequest.{path}.parts[{index}].data: required oneof field "
                "'data' must have one initialized field\n"
            )


def _check_cache_use(request: ParsedRequest) -> None:
    if request.cached_content is None:
        return
    if not request.cached_content.startswith("cachedContents/"):
        raise _reject(
            "* GenerateContentRequest.cached_content: must be of the form "
            f"'cachedContents/{{id}}', got '{request.cached_content}'\n"
        )
    # NOTE: the fake stores no caches, so any well-formed cache name is accepted as existing.
    if request.system_instruction is not None or request.tools or request.tool_config:
        raise _reject(
            "CachedContent can not be used with GenerateContent request setting "
            "system_instruction, tools or tool_config.\n\nProposed fix: move those values "
            "to CachedContent from GenerateContent request."
        )


def _check_tools(request: ParsedRequest) -> None:
    for tool in request.tools:
        for declaration in tool.function_declarations or []:
            if not _FUNCTION_NAME.match(declaration.name or ""):
                raise _reject(
                    f"Invalid function name {declaration.name!r}. It must start with a letter "
                    "or an underscore and contain only letters, digits, underscores, dots, "
                    "colons or dashes, with a maximum length of 128."
                )
    calling = request.tool_config.function_calling_config if request.tool_config else None
    if calling is None or not calling.allowed_function_names:
        return
    if calling.mode not in (
        types.FunctionCallingConfigMode.ANY,
        types.FunctionCallingConfigMode.VALIDATED,
    ):
        raise _reject(
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names:"
            " allowed_function_names may be set only when mode is ANY or VALIDATED.\n"
        )


def _check_generation_config(config: types.GenerationConfig, model: ModelInfo) -> None:
    prefix = "* GenerateContentRequest.generation_config"
    if config.stop_sequences and len(config.stop_sequences) > MAX_STOP_SEQUENCES:
        raise _reject(f"{prefix}.stop_sequences: at most {MAX_STOP_SEQUENCES} are allowed.\n")
    if config.temperature is not None and not 0.0 <= config.temperature <= 2.0:
        raise _reject(f"{prefix}.temperature: must be between 0 and 2, inclusive.\n")
    if config.top_p is not None and not 0.0 <= config.top_p <= 1.0:
        raise _reject(f"{prefix}.top_p: must be between 0 and 1, inclusive.\n")
    limit = model.output_token_limit
    tokens = config.max_output_tokens
    if tokens is not None and not 1 <= tokens <= limit:
        raise _reject(
            f"The specified maxOutputTokens value {tokens} is out of range: the supported range "
            f"is from 1 (inclusive) to {limit + 1} (exclusive)."
        )
    _check_response_format(config, prefix)
    modalities = config.response_modalities or []
    if types.Modality.IMAGE in modalities and not model.image_output:
        names = ",".join(str(modality.value) for modality in modalities)
        raise _reject(
            f"The requested combination of response modalities ({names}) is not supported "
            "by the model."
        )


def _check_response_format(config: types.GenerationConfig, prefix: str) -> None:
    if config.response_schema is not None and config.response_json_schema is not None:
        raise _reject(
            f"{prefix}.response_schema: response_schema and response_json_schema cannot both "
            "be set; send only one of them.\n"
        )
    mime = config.response_mime_type
    if mime is not None and mime not in (*_ALLOWED_MIME_TYPES, _ENUM_MIME_TYPE):
        raise _reject(
            f"{prefix}.response_mime_type: allowed mimetypes are `text/plain`, "
            "`application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n"
        )
    has_schema = config.response_schema is not None or config.response_json_schema is not None
    if has_schema and mime not in ("application/json", _ENUM_MIME_TYPE):
        raise _reject(
            f"{prefix}.response_mime_type: a response schema requires response_mime_type "
            "'application/json' (or 'text/x.enum' for an enum schema).\n"
        )


def resolve_thinking(config: types.ThinkingConfig | None, model: ModelInfo) -> Thinking:
    """Check the thinking settings against the model's range and resolve their effect."""
    config = config or types.ThinkingConfig()
    budget = config.thinking_budget
    level = _level_name(config.thinking_level)
    if budget is not None and level is not None:
        raise _reject("You can only set one of thinking budget and thinking level.")
    if not model.thinking:
        if (budget or 0) > 0 or level is not None:
            raise _reject(f"Thinking is not supported by models/{model.model_id}.")
        return Thinking(active=False, include_thoughts=False)
    if level is not None:
        return _resolve_level(level, model, bool(config.include_thoughts))
    if budget is not None:
        _check_budget(budget, model)
        active = budget != 0
        cap = budget if budget > 0 else None
        return Thinking(active, bool(config.include_thoughts) and active, budget=cap)
    active = model.thinks_by_default
    return Thinking(active, bool(config.include_thoughts) and active)


def _level_name(level: types.ThinkingLevel | None) -> str | None:
    if level is None or level == types.ThinkingLevel.THINKING_LEVEL_UNSPECIFIED:
        return None
    return str(level.name)


def _resolve_level(level: str, model: ModelInfo, include_thoughts: bool) -> Thinking:
    if model.thinking_levels is None:
        raise _reject(f"Thinking level is not supported for models/{model.model_id}.")
    if level not in model.thinking_levels:
        supported = ", ".join(sorted(model.thinking_levels))
        raise _reject(
            f"Thinking level {level} is not supported for models/{model.model_id}. "
            f"Supported levels: {supported}."
        )
    # MINIMAL is close to no thinking: Gemini 3 Flash still signs its replies but shows no thoughts.
    active = level != "MINIMAL"
    return Thinking(active, include_thoughts and active, level=level)


def _check_budget(budget: int, model: ModelInfo) -> None:
    limits = model.budget_range
    if limits is None or limits.allows(budget):
        return
    if budget == 0:
        raise _reject("Budget 0 is invalid. This model only works in thinking mode.")
    if not limits.zero_allowed:
        allowed = f"a value between {limits.minimum} and {limits.maximum}"
    elif limits.minimum > 1:
        allowed = f"0 or a value between {limits.minimum} and {limits.maximum}"
    else:
        allowed = f"a value between 0 and {limits.maximum}"
    raise _reject(
        f"The thinking budget {budget} is invalid. Please choose {allowed}, "
        "or -1 for dynamic thinking."
    )


def check_signatures(request: ParsedRequest, model: ModelInfo, issued: Mapping[bytes, str]) -> None:
    """Reject a Gemini 3 request whose current-turn function calls lack valid signatures.

    The current turn starts after the last user content that has parts other than function
    responses. In each model content after it, the first functionCall part must carry a
    signature that this fake issued for the same model, or one of the documented dummy values.
    """
    if not model.requires_signatures or not _declares_functions(request):
        return
    start = _current_turn_start(request.contents)
    for index in range(start, len(request.contents)):
        content = request.contents[index]
        if content.role != "model":
            continue
        call_part = next((part for part in content.parts or [] if part.function_call), None)
        if call_part is None or call_part.function_call is None:
            continue
        signature = call_part.thought_signature
        if signature is None:
            # NOTE: "position" is taken to be the 1-based index of the model content, which
            # matches the "position 2" Google reports for [user, model-with-call] histories.
            name = call_part.function_call.name
            raise _reject(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead "
                "to degraded model performance. Additional data, function call "
                f"`default_api:{name}` , position {index + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )
        _check_signature_value(signature, model, issued)


def _check_signature_value(signature: bytes, model: ModelInfo, issued: Mapping[bytes, str]) -> None:
    if signature in _DUMMY_SIGNATURE_BYTES:
        return
    owner = issued.get(signature)
    if owner is None:
        raise _reject("Invalid thought signature.")
    if owner != model.model_id:
        raise _reject("Corrupted thought signature.")


def _declares_functions(request: ParsedRequest) -> bool:
    return any(tool.function_declarations for tool in request.tools)


def _current_turn_start(contents: list[types.Content]) -> int:
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if content.role == "model":
            continue
        if any(part.function_response is None for part in content.parts or []):
            return index + 1
    return 0
