"""The OpenAI Chat Completions request fields teamgate accepts.

These structs are the allow-list: a field that is not declared here is
dropped at decoding and never reaches an upstream.  Clients such as Open
WebUI pass through provider-specific options (`num_ctx`, `top_k`, …), so
unknown fields are ignored rather than rejected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Temperature = Annotated[float, Meta(ge=0, le=2)]
Probability = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
PositiveInt = Annotated[int, Meta(ge=1, le=2**31 - 1)]
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]


class ImageURL(msgspec.Struct):
    url: str
    detail: str | None = None


class InputAudio(msgspec.Struct):
    data: str
    format: str


class FileData(msgspec.Struct):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class ContentPart(msgspec.Struct):
    type: str
    text: str | None = None
    # Some clients send the URL itself instead of {"url": …}.
    image_url: ImageURL | str | None = None
    input_audio: InputAudio | None = None
    file: FileData | None = None
    refusal: str | None = None


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str
    function: FunctionCall
    type: str = "function"
    extra_content: dict[str, Any] | None = None


class ChatMessage(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class JSONSchemaFormat(msgspec.Struct):
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class FunctionDefinition(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    function: FunctionDefinition
    type: str = "function"


class NamedFunction(msgspec.Struct):
    name: str


class NamedToolChoice(msgspec.Struct):
    function: NamedFunction
    type: str = "function"


class ThinkingOption(msgspec.Struct):
    """The `thinking` option in Anthropic's shape, which LiteLLM users send too."""

    type: Literal["enabled", "disabled", "adaptive"] = "enabled"
    budget_tokens: Annotated[int, Meta(ge=-1, le=2**31 - 1)] | None = None


class GoogleThinkingConfig(msgspec.Struct):
    thinking_budget: Annotated[int, Meta(ge=-1, le=2**31 - 1)] | None = None
    thinking_level: str | None = None
    include_thoughts: bool | None = None


class GoogleOptions(msgspec.Struct):
    thinking_config: GoogleThinkingConfig | None = None


class ExtraBody(msgspec.Struct):
    """Google's OpenAI-compatible endpoint takes Gemini options under `extra_body.google`."""

    google: GoogleOptions | None = None


class ChatCompletionRequest(msgspec.Struct):
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stop: str | list[str] | None = None
    n: Annotated[int, Meta(ge=1, le=8)] | None = None
    seed: Int64 | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )
    thinking: ThinkingOption | None = None
    thinking_budget: Annotated[int, Meta(ge=-1, le=2**31 - 1)] | None = None
    include_reasoning: bool | None = None
    reasoning_output: Literal["reasoning_content", "think_tags", "hidden"] | None = None
    extra_body: ExtraBody | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    modalities: list[Literal["text", "image", "audio"]] | None = None
    # A string in OpenAI's API; Open WebUI sends an object to pipeline servers.
    user: str | dict[str, Any] | None = None


request_decoder = msgspec.json.Decoder(ChatCompletionRequest)
