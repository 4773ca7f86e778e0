"""Tests of the fake Gemini API, driven by the official google-genai SDK and by raw HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from teamgate.fake import (
    FakeGemini,
    Reply,
    RunningServer,
    resource_exhausted,
    run_in_thread,
    unavailable,
)

KEY = "AIza-test-key"
JsonObject = dict[str, Any]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_in_thread(FakeGemini(api_keys={KEY})) as running:
        yield running


@pytest.fixture
def fake(server: RunningServer) -> Iterator[FakeGemini]:
    server.fake.reset()
    yield server.fake
    assert server.fake.script_errors == []
    assert server.fake.pending_replies == 0


@pytest.fixture
def client(server: RunningServer, fake: FakeGemini) -> genai.Client:
    options = types.HttpOptions(base_url=server.base_url, api_version="v1beta")
    return genai.Client(api_key=KEY, http_options=options)


def post(
    server: RunningServer,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """POST JSON with http.client and read the whole response until the server ends it."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    sent = {"content-type": "application/json", "x-goog-api-key": KEY, **(headers or {})}
    connection.request("POST", path, body=json.dumps(body), headers=sent)
    response = connection.getresponse()
    data = response.read()
    found = {name.lower(): value for name, value in response.getheaders()}
    connection.close()
    return response.status, found, data


def user_text(text: str) -> JsonObject:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def text_chunk(text: str, finish: str | None = None, candidates_tokens: int = 1) -> JsonObject:
    candidate: JsonObject = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    usage = {
        "promptTokenCount": 2,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": 2 + candidates_tokens,
    }
    return {"candidates": [candidate], "usageMetadata": usage}


def sse_events(data: bytes, separator: bytes = b"\n\n") -> list[JsonObject]:
    events = [event for event in data.split(separator) if event]
    for event in events:
        assert event.startswith(b"data: "), event
    return [json.loads(event[len(b"data: ") :]) for event in events]


# --- google-genai SDK -------------------------------------------------------------------


def test_generate_text_mentions_prompt(client: genai.Client, fake: FakeGemini) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash-lite",
        contents="What is a gateway?",
        config=types.GenerateContentConfig(system_instruction="Be terse.", temperature=0.2),
    )

    assert response.text is not None
    assert "What is a gateway?" in response.text
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert usage.thoughts_token_count is None
    assert usage.total_token_count == (usage.prompt_token_count or 0) + (
        usage.candidates_token_count or 0
    )
    recorded = fake.requests[-1]
    assert recorded.path == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert recorded.headers["x-goog-api-key"] == KEY
    assert recorded.stream is False
    assert recorded.body is not None
    assert recorded.body["contents"] == [
        {"role": "user", "parts": [{"text": "What is a gateway?"}]}
    ]
    assert recorded.body["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert recorded.body["generationConfig"] == {"temperature": 0.2}
    assert fake.validation_errors == []


def test_sdk_default_api_version_served(server: RunningServer, fake: FakeGemini) -> None:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.base_url))

    response = client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    assert response.text is not None
    assert fake.requests[-1].path.endswith("/models/gemini-2.5-flash:generateContent")


def test_stream_matches_non_stream(client: genai.Client, fake: FakeGemini) -> None:
    prompt = "Tell me about streaming replies in several chunks"
    whole = client.models.generate_content(model="gemini-2.5-flash", contents=prompt)
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt))

    assert len(chunks) >= 3
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    assert len({chunk.response_id for chunk in chunks}) == 1
    assert {chunk.model_version for chunk in chunks} == {"gemini-2.5-flash"}
    running = [
        (chunk.usage_metadata.candidates_token_count or 0)
        for chunk in chunks
        if chunk.usage_metadata
    ]
    assert len(running) == len(chunks)
    assert running == sorted(running)
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[0].candidates is not None
    assert chunks[0].candidates[0].finish_reason is None
    assert whole.usage_metadata is not None
    final_usage = chunks[-1].usage_metadata
    assert final_usage is not None
    assert final_usage.candidates_token_count == whole.usage_metadata.candidates_token_count
    assert final_usage.total_token_count == whole.usage_metadata.total_token_count
    recorded = fake.requests[-1]
    assert recorded.stream is True
    assert recorded.query["alt"] == "sse"


def test_models_list_pages(client: genai.Client, fake: FakeGemini) -> None:
    models = list(client.models.list(config={"page_size": 3}))

    names = [model.name for model in models]
    for expected in (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.5-flash-image",
        "gemini-3-flash-preview",
        "gemini-3.1-pro-preview",
        "gemini-embedding-001",
    ):
        assert f"models/{expected}" in names
    by_name = {model.name: model for model in models}
    assert by_name["models/gemini-2.5-flash"].thinking is True
    assert by_name["models/gemini-2.5-flash-image"].thinking is None
    assert by_name["models/gemini-embedding-001"].output_token_limit == 1
    list_calls = [request for request in fake.requests if request.path == "/v1beta/models"]
    assert len(list_calls) == 3
    assert "pageToken" not in list_calls[0].query
    assert "pageToken" in list_calls[1].query


def test_models_get(client: genai.Client) -> None:
    model = client.models.get(model="gemini-2.5-pro")

    assert model.name == "models/gemini-2.5-pro"
    assert model.display_name == "Gemini 2.5 Pro"
    assert model.input_token_limit == 1_048_576


def test_thinking_summaries_first(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Think about it", config=config
    )

    assert response.candidates is not None
    content = response.candidates[0].content
    assert content is not None and content.parts is not None
    assert content.parts[0].thought is True
    assert content.parts[-1].thought is None
    assert "Think about it" in (content.parts[-1].text or "")
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.thoughts_token_count or 0) > 0
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0)
        + (usage.candidates_token_count or 0)
        + (usage.thoughts_token_count or 0)
    )


def test_thinking_off_flash(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=0)
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="No thinking", config=config
    )

    assert response.usage_metadata is not None
    assert response.usage_metadata.thoughts_token_count is None
    assert response.candidates is not None
    parts = response.candidates[0].content.parts if response.candidates[0].content else None
    assert parts is not None
    assert all(not part.thought for part in parts)


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        ("gemini-2.5-pro", types.ThinkingConfig(thinking_budget=0), "only works in thinking mode"),
        ("gemini-2.5-pro", types.ThinkingConfig(thinking_budget=64), "between 128 and 32768"),
        ("gemini-2.5-flash", types.ThinkingConfig(thinking_budget=30000), "between 0 and 24576"),
        ("gemini-2.5-flash-lite", types.ThinkingConfig(thinking_budget=100), "0 or a value"),
        ("gemini-2.5-flash", types.ThinkingConfig(thinking_level="LOW"), "level is not supported"),
        (
            "gemini-3-flash-preview",
            types.ThinkingConfig(thinking_level="LOW", thinking_budget=512),
            "only set one",
        ),
        ("gemini-3-pro-preview", types.ThinkingConfig(thinking_level="MINIMAL"), "MINIMAL"),
    ],
)
def test_thinking_config_rejected(
    client: genai.Client,
    fake: FakeGemini,
    model: str,
    thinking: types.ThinkingConfig,
    message: str,
) -> None:
    config = types.GenerateContentConfig(thinking_config=thinking)

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=model, contents="hi", config=config)

    assert raised.value.code == 400
    assert raised.value.status == "INVALID_ARGUMENT"
    assert message in (raised.value.message or "")
    assert len(fake.validation_errors) == 1


def test_image_output_png(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
    response = client.models.generate_content(
        model="gemini-2.5-flash-image", contents="Draw a cat", config=config
    )

    assert response.candidates is not None
    content = response.candidates[0].content
    assert content is not None and content.parts is not None
    images = [part.inline_data for part in content.parts if part.inline_data]
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    assert (images[0].data or b"").startswith(b"\x89PNG\r\n\x1a\n")
    usage = response.usage_metadata
    assert usage is not None and usage.candidates_tokens_details is not None
    modalities = {detail.modality for detail in usage.candidates_tokens_details}
    assert types.MediaModality.IMAGE in modalities


def test_image_modality_rejected_on_text_model(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_modalities=["IMAGE"])

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="x", config=config)

    assert raised.value.code == 400


def test_json_mode_follows_schema(client: genai.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=schema
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Plan a trip", config=config
    )

    value = json.loads(response.text or "")
    assert set(value) == {"city", "days"}
    assert isinstance(value["city"], str)
    assert isinstance(value["days"], int)


def test_function_call_signature_rules(client: genai.Client, fake: FakeGemini) -> None:
    declaration = types.FunctionDeclaration(
        name="lookup",
        description="Look a word up.",
        parameters_json_schema={
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    model = "gemini-3-flash-preview"
    question = types.Content(role="user", parts=[types.Part(text="Please call lookup on cats")])

    first = client.models.generate_content(model=model, contents=[question], config=config)

    assert first.candidates is not None and first.candidates[0].content is not None
    model_turn = first.candidates[0].content
    assert model_turn.parts is not None
    call_part = model_turn.parts[0]
    assert call_part.function_call is not None
    assert call_part.function_call.name == "lookup"
    assert call_part.function_call.args == {"q": "example"}
    assert call_part.thought_signature is not None
    answer = types.Content(
        role="user",
        parts=[types.Part.from_function_response(name="lookup", response={"output": "felines"})],
    )

    replayed = client.models.generate_content(
        model=model, contents=[question, model_turn, answer], config=config
    )
    assert "felines" in (replayed.text or "")

    unsigned = types.Content(
        role="model", parts=[types.Part(function_call=call_part.function_call)]
    )
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(
            model=model, contents=[question, unsigned, answer], config=config
        )
    assert raised.value.code == 400
    assert "missing a thought_signature" in (raised.value.message or "")
    assert "`default_api:lookup` , position 2" in (raised.value.message or "")

    dummy = types.Content(
        role="model",
        parts=[
            types.Part(
                function_call=call_part.function_call,
                thought_signature=b"skip_thought_signature_validator",
            )
        ],
    )
    accepted = client.models.generate_content(
        model=model, contents=[question, dummy, answer], config=config
    )
    assert accepted.text is not None
    assert len(fake.validation_errors) == 1


def test_scripted_quota_error(client: genai.Client, fake: FakeGemini) -> None:
    fake.enqueue(Reply(error=(429, resource_exhausted(retry_delay="26s"))))

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    assert raised.value.code == 429
    assert raised.value.status == "RESOURCE_EXHAUSTED"
    details = raised.value.details["error"]["details"]
    retry = [item for item in details if item["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]


def test_bad_key_rejected(server: RunningServer, fake: FakeGemini) -> None:
    options = types.HttpOptions(base_url=server.base_url, api_version="v1beta")
    client = genai.Client(api_key="AIza-wrong", http_options=options)

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    assert raised.value.code == 400
    assert raised.value.message == "API key not valid. Please pass a valid API key."
    reasons = [item.get("reason") for item in raised.value.details["error"]["details"]]
    assert "API_KEY_INVALID" in reasons


def test_count_tokens(client: genai.Client) -> None:
    result = client.models.count_tokens(model="gemini-2.5-flash", contents="abcdefgh")

    assert result.total_tokens == 2


def test_max_tokens_finish(client: genai.Client) -> None:
    short = client.models.generate_content(
        model="gemini-2.5-flash-lite",
        contents="hello",
        config=types.GenerateContentConfig(max_output_tokens=3),
    )
    assert short.candidates is not None
    assert short.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert short.usage_metadata is not None
    assert short.usage_metadata.candidates_token_count == 3

    eaten = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="hello",
        config=types.GenerateContentConfig(max_output_tokens=4),
    )
    assert eaten.candidates is not None
    assert eaten.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert eaten.candidates[0].content is not None
    assert eaten.candidates[0].content.parts is None


def test_rich_sdk_request_validates(client: genai.Client, fake: FakeGemini) -> None:
    config = types.GenerateContentConfig(
        system_instruction="You are terse.",
        temperature=1.0,
        top_p=0.95,
        top_k=40,
        max_output_tokens=2048,
        stop_sequences=["END"],
        seed=7,
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            )
        ],
        tools=[
            types.Tool(function_declarations=[types.FunctionDeclaration(name="noop")]),
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.AUTO
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    image = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n", mime_type="image/png")

    response = client.models.generate_content(
        model="gemini-2.5-pro", contents=[image, "Describe it"], config=config
    )

    assert response.text is not None
    assert fake.validation_errors == []
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_tokens_details is not None
    recorded = fake.requests[-1].body
    assert recorded is not None
    # The SDK writes the fields inside inlineData in snake_case; the API accepts both forms.
    assert recorded["contents"][0]["parts"][0]["inlineData"]["mime_type"] == "image/png"


# --- raw HTTP ---------------------------------------------------------------------------


def test_unknown_field_rejected(server: RunningServer, fake: FakeGemini) -> None:
    body = {**user_text("hi"), "generationConfig": {"temprature": 0.5}}

    status, _, data = post(server, "/v1beta/models/gemini-2.5-flash:generateContent", body)

    assert status == 400
    error = json.loads(data)["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    expected = (
        "Invalid JSON payload received. Unknown name \"temprature\" at 'generation_config': "
        "Cannot find field."
    )
    assert error["message"] == expected
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert error["details"][0]["fieldViolations"][0]["field"] == "generation_config"
    assert fake.validation_errors == [expected]
    assert fake.requests[-1].body == body


def test_unknown_top_level_field(server: RunningServer, fake: FakeGemini) -> None:
    status, _, data = post(
        server, "/v1beta/models/gemini-2.5-flash:generateContent", {**user_text("x"), "foo": 1}
    )

    assert status == 400
    message = json.loads(data)["error"]["message"]
    assert message == 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'


def test_snake_case_fields_accepted(server: RunningServer, fake: FakeGemini) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "snake"}]}],
        "system_instruction": {"parts": [{"text": "Be kind."}]},
        "generation_config": {"max_output_tokens": 100, "thinking_config": {"thinking_budget": 0}},
    }

    status, _, data = post(server, "/v1beta/models/gemini-2.5-flash:generateContent", body)

    assert status == 200, data
    assert "thoughtsTokenCount" not in json.loads(data)["usageMetadata"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "required oneof field"),
        ({**user_text("x"), "generationConfig": {"stopSequences": list("abcdef")}}, "at most 5"),
        (
            {
                **user_text("x"),
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT"},
                    "responseJsonSchema": {"type": "object"},
                },
            },
            "cannot both be set",
        ),
        ({**user_text("x"), "safetySettings": [{"category": "HARM_CATEGORY_FOO"}]}, "HarmCategory"),
        ({**user_text("x"), "safetySettings": [{"method": "SEVERITY"}]}, 'Unknown name "method"'),
    ],
)
@pytest.mark.filterwarnings("ignore:HARM_CATEGORY_FOO is not a valid HarmCategory")
def test_request_rules(
    server: RunningServer, fake: FakeGemini, body: JsonObject, message: str
) -> None:
    status, _, data = post(server, "/v1beta/models/gemini-2.5-flash:generateContent", body)

    assert status == 400
    assert message in json.loads(data)["error"]["message"]
    assert len(fake.validation_errors) == 1


def test_missing_key_forbidden(server: RunningServer, fake: FakeGemini) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("GET", "/v1beta/models")
    response = connection.getresponse()
    error = json.loads(response.read())["error"]
    connection.close()

    assert response.status == 403
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")


def test_key_in_query_accepted(server: RunningServer, fake: FakeGemini) -> None:
    status, _, _ = post(
        server,
        f"/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}",
        user_text("hi"),
        headers={"x-goog-api-key": ""},
    )

    assert status == 200


def test_unknown_model_not_found(server: RunningServer, fake: FakeGemini) -> None:
    status, _, data = post(server, "/v1beta/models/gemini-9:generateContent", user_text("hi"))

    assert status == 404
    error = json.loads(data)["error"]
    assert error["status"] == "NOT_FOUND"
    assert error["message"].startswith(
        "models/gemini-9 is not found for API version v1beta, or is not supported for "
        "generateContent."
    )


def test_sse_framing_crlf(server: RunningServer, fake: FakeGemini) -> None:
    fake.enqueue(
        Reply(
            chunks=[text_chunk("Hel"), text_chunk("lo", finish="STOP", candidates_tokens=2)],
            line_ending="\r\n",
        )
    )

    status, headers, data = post(
        server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", user_text("hi")
    )

    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert data.endswith(b"\r\n\r\n")
    assert b"[DONE]" not in data
    events = sse_events(data, b"\r\n\r\n")
    assert len(events) == 2
    assert [event["candidates"][0]["content"]["parts"][0]["text"] for event in events] == [
        "Hel",
        "lo",
    ]
    assert {event["modelVersion"] for event in events} == {"gemini-2.5-flash"}
    assert len({event["responseId"] for event in events}) == 1


def test_mid_stream_error_event(server: RunningServer, fake: FakeGemini) -> None:
    fake.enqueue(
        Reply(
            chunks=[text_chunk("one"), text_chunk("two"), text_chunk("three")],
            mid_stream_error=unavailable(),
            mid_stream_error_after=1,
        )
    )

    status, _, data = post(
        server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", user_text("hi")
    )

    assert status == 200
    events = sse_events(data)
    assert len(events) == 2
    assert events[0]["candidates"][0]["content"]["parts"][0]["text"] == "one"
    assert events[1] == {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }


async def test_drop_after_breaks_body(server: RunningServer, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[text_chunk("one"), text_chunk("two")], drop_after=1))
    url = f"{server.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    received = b""

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=user_text("hi"), headers={"x-goog-api-key": KEY}) as reply,
    ):
        assert reply.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for data in reply.content.iter_any():
                received += data

    assert sse_events(received)[0]["candidates"][0]["content"]["parts"][0]["text"] == "one"


def test_json_array_stream(server: RunningServer, fake: FakeGemini) -> None:
    status, headers, data = post(
        server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", user_text("array form")
    )

    assert status == 200
    assert headers["content-type"].startswith("application/json")
    elements = json.loads(data)
    assert isinstance(elements, list)
    assert len(elements) >= 2
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"
    assert fake.requests[-1].stream is True


def test_non_stream_merges_chunks(server: RunningServer, fake: FakeGemini) -> None:
    thought: JsonObject = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "hmm", "thought": True}]}, "index": 0}
        ]
    }
    fake.enqueue(
        Reply(
            chunks=[
                thought,
                text_chunk("Hel"),
                text_chunk("lo", finish="STOP", candidates_tokens=2),
            ]
        )
    )

    status, _, data = post(
        server, "/v1beta/models/gemini-2.5-flash:generateContent", user_text("hi")
    )

    assert status == 200
    body = json.loads(data)
    candidate = body["candidates"][0]
    assert candidate["content"]["parts"] == [{"text": "hmm", "thought": True}, {"text": "Hello"}]
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"]["candidatesTokenCount"] == 2
    assert body["modelVersion"] == "gemini-2.5-flash"


def test_invalid_script_fails_loudly(server: RunningServer, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[{"candidates": [{"bogus": 1}]}]))

    status, _, data = post(
        server, "/v1beta/models/gemini-2.5-flash:generateContent", user_text("hi")
    )

    assert status == 500
    assert "GenerateContentResponse" in json.loads(data)["error"]["message"]
    assert len(fake.script_errors) == 1
    fake.script_errors.clear()


def test_client_disconnect_counted(server: RunningServer, fake: FakeGemini) -> None:
    chunks = [text_chunk(f"piece {number}") for number in range(20)]
    fake.enqueue(Reply(chunks=chunks, delay_between=0.2))
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request(
        "POST",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        body=json.dumps(user_text("hi")),
        headers={"x-goog-api-key": KEY, "content-type": "application/json"},
    )
    response = connection.getresponse()
    assert response.readline().startswith(b"data: ")
    connection.close()

    deadline = time.monotonic() + 10
    while fake.cancelled_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert fake.cancelled_streams == 1


def test_control_endpoints(server: RunningServer, fake: FakeGemini) -> None:
    scripted = Reply(chunks=[text_chunk("from control", finish="STOP")])
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("POST", "/_fake/enqueue", body=scripted.to_json())
    enqueue = connection.getresponse()
    enqueue.read()
    assert enqueue.status == 200

    status, _, data = post(
        server, "/v1beta/models/gemini-2.5-flash:generateContent", user_text("hi")
    )
    assert status == 200
    assert json.loads(data)["candidates"][0]["content"]["parts"][0]["text"] == "from control"

    connection.request("GET", "/_fake/requests")
    state = json.loads(connection.getresponse().read())
    assert state["requests"][-1]["body"] == user_text("hi")
    assert state["requests"][-1]["model"] == "gemini-2.5-flash"
    assert state["cancelled_streams"] == 0

    connection.request("POST", "/_fake/reset")
    connection.getresponse().read()
    connection.close()
    assert fake.requests == []


def test_enqueue_rejects_bad_reply(server: RunningServer, fake: FakeGemini) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("POST", "/_fake/enqueue", body=json.dumps({"line_ending": "\t"}))
    response = connection.getresponse()
    message = json.loads(response.read())["error"]
    connection.close()

    assert response.status == 400
    assert "line_ending" in message
    assert fake.pending_replies == 0


def test_module_entry_point_serves() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "teamgate.fake",
            "--port",
            "0",
            "--key",
            KEY,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake Gemini listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "GET", "/v1beta/models/gemini-2.5-flash", headers={"x-goog-api-key": KEY}
        )
        response = connection.getresponse()
        model = json.loads(response.read())
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert response.status == 200
    assert model["name"] == "models/gemini-2.5-flash"
    assert model["thinking"] is True


def test_gemini3_text_signed_on_last_part(server: RunningServer, fake: FakeGemini) -> None:
    status, _, data = post(
        server, "/v1beta/models/gemini-3.1-pro-preview:generateContent", user_text("sign me")
    )

    assert status == 200
    parts = json.loads(data)["candidates"][0]["content"]["parts"]
    assert "thoughtSignature" not in parts[0] or len(parts) == 1
    signature = base64.b64decode(parts[-1]["thoughtSignature"])
    assert signature.startswith(b"teamgate-fake-signature:gemini-3.1-pro-preview:")
