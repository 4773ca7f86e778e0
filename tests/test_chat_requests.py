"""OpenAI SDK requests through the gateway: what the fake Gemini received and the client saw."""

from __future__ import annotations

import base64
import http.client
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from teamgate.fake import FakeGemini, Reply
from tests.support import CLIENT_KEY, UPSTREAM_KEY

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d6a7"
        "ee0000000049454e44ae426082"
    )
).decode()


# Thinking models show their thoughts unless the model or the request turns them off.
SHOW_THOUGHTS = {"thinkingConfig": {"includeThoughts": True}}


def answer(text: str, **extra: Any) -> dict[str, Any]:
    """A one-candidate Gemini response with `text` and a small usage block."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
        **extra,
    }


def last_body(fake: FakeGemini) -> dict[str, Any]:
    body = fake.requests[-1].body
    assert body is not None
    return body


def test_text_request_and_response(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("Hi there")))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello"}]
    )
    recorded = fake.requests[-1]
    assert recorded.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert recorded.headers["x-goog-api-key"] == UPSTREAM_KEY
    assert "key" not in recorded.query
    assert recorded.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": SHOW_THOUGHTS,
    }
    assert result.choices[0].message.content == "Hi there"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "gemini-2.5-flash"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 3)
    assert result.usage.total_tokens == 10


def test_system_and_developer_become_system_instruction(
    client: openai.OpenAI, fake: FakeGemini
) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "Hi"},
        ],
    )
    body = last_body(fake)
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be terse."}, {"text": "Answer in English."}]
    }
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_multi_turn_roles(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("4")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 2+3?"},
        ],
    )
    assert last_body(fake)["contents"] == [
        {"role": "user", "parts": [{"text": "2+2?"}]},
        {"role": "model", "parts": [{"text": "4"}]},
        {"role": "user", "parts": [{"text": "And 2+3?"}]},
    ]


def test_image_data_url_becomes_inline_data(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("a dot")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                ],
            }
        ],
    )
    assert last_body(fake)["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}},
    ]


def test_remote_image_url_is_rejected(client: openai.OpenAI, fake: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert "data: URL" in str(caught.value)
    assert fake.requests == []


def test_json_object_mode(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer('{"a": 1}')))
    result = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_object"},
    )
    assert last_body(fake)["generationConfig"] == {
        "responseMimeType": "application/json",
        **SHOW_THOUGHTS,
    }
    assert result.choices[0].message.content == '{"a": 1}'


def test_json_schema_mode(client: openai.OpenAI, fake: FakeGemini) -> None:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    fake.enqueue(Reply(response=answer('{"city": "Paris"}')))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Where?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": schema, "strict": True},
        },
    )
    config = last_body(fake)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }


def test_sampling_parameters_are_mapped(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=321,
        stop=["END", "STOP"],
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="alice",
    )
    assert last_body(fake)["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 321,
        "stopSequences": ["END", "STOP"],
        "seed": 42,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        **SHOW_THOUGHTS,
    }


def test_max_tokens_and_string_stop(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=50,
        stop="END",
    )
    assert last_body(fake)["generationConfig"] == {
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        **SHOW_THOUGHTS,
    }


def test_n_becomes_candidate_count(client: openai.OpenAI, fake: FakeGemini) -> None:
    response = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "A"}]}, "finishReason": "STOP"},
            {
                "content": {"role": "model", "parts": [{"text": "B"}]},
                "finishReason": "STOP",
                "index": 1,
            },
        ],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4},
    }
    fake.enqueue(Reply(response=response))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], n=2
    )
    assert last_body(fake)["generationConfig"] == {"candidateCount": 2, **SHOW_THOUGHTS}
    assert [(c.index, c.message.content) for c in result.choices] == [(0, "A"), (1, "B")]


def test_model_defaults_apply(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="flash-tuned", messages=[{"role": "user", "content": "Hi"}]
    )
    body = last_body(fake)
    assert fake.requests[-1].model == "gemini-2.5-flash"
    assert body["generationConfig"] == {
        "maxOutputTokens": 777,
        "thinkingConfig": {"thinkingBudget": 2048},
    }
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]


def test_empty_and_null_turns_stay_valid(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "user", "content": ""},
            {"role": "assistant", "content": None},
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second"},
        ],
    )
    contents = last_body(fake)["contents"]
    assert [content["role"] for content in contents] == ["user", "model", "user"]
    assert all(part.get("text") for content in contents for part in content["parts"])
    assert contents[2]["parts"] == [{"text": "first"}, {"text": "second"}]


def test_think_tags_in_history_are_stripped(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nHello!"},
            {"role": "user", "content": "Again"},
        ],
    )
    assert last_body(fake)["contents"][1] == {"role": "model", "parts": [{"text": "Hello!"}]}


def test_unknown_fields_are_not_forwarded(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"num_ctx": 4096, "api_base": "http://127.0.0.1:1/", "top_k": 3},
    )
    assert last_body(fake) == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": SHOW_THOUGHTS,
    }


def test_unknown_model_is_404(client: openai.OpenAI, fake: FakeGemini) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.code == "model_not_found"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": []}, "messages"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
    ],
)
def test_invalid_request_is_400(
    client: openai.OpenAI, fake: FakeGemini, extra: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/chat/completions", body=body, cast_to=object)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert fake.requests == []


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert "gemini-2.5-flash" in ids
    assert "flash-tags" in ids
    assert client.models.retrieve("gemini-2.5-pro").id == "gemini-2.5-pro"


def test_wrong_client_key_is_401(gateway_url: str, fake: FakeGemini) -> None:
    bad = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
        )
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert fake.requests == []


def test_oversized_body_is_413(client: openai.OpenAI, fake: FakeGemini) -> None:
    huge = "x" * (33 * 1024 * 1024)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": huge}]
        )
    assert caught.value.status_code == 413
    assert fake.requests == []


def test_request_id_is_echoed(client: openai.OpenAI, fake: FakeGemini) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"x-request-id": "trace-123"},
    )
    assert raw.headers["x-request-id"] == "trace-123"
    generated = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
    )
    assert len(generated.headers["x-request-id"]) == 24


def test_unclosed_think_in_history_is_stripped(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=answer("ok")))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "<think>\nStill reasoning when stopped"},
            {"role": "user", "content": "Again"},
        ],
    )
    assert last_body(fake)["contents"][1]["parts"] == [{"text": "(empty)"}]


def deep(levels: int) -> dict[str, Any]:
    """A JSON schema nested `levels` objects deep."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    "extra",
    [
        {"seed": 2**64},
        {"max_tokens": 2**40},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": deep(300)}}]},
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object", "default": 2**70}},
            }
        },
    ],
    ids=["big-seed", "big-max-tokens", "deep-tool-schema", "big-int-in-schema"],
)
def test_hostile_numbers_are_400(
    client: openai.OpenAI, fake: FakeGemini, extra: dict[str, Any]
) -> None:
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }
    with pytest.raises(openai.BadRequestError):
        client.post("/chat/completions", body=body, cast_to=object)
    assert fake.requests == []


def test_deeply_nested_body_is_400(gateway_url: str, fake: FakeGemini) -> None:
    nested = b"[" * 2000 + b"]" * 2000
    body = b'{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}],"x":'
    response = httpx_post(gateway_url, body + nested + b"}")
    assert response[0] == 400


def httpx_post(gateway_url: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"}
    connection.request("POST", "/v1/chat/completions/", body=body, headers=headers)
    slash = connection.getresponse()
    slash_status = slash.status
    slash.read()
    connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    assert slash_status == 404
    return response.status, data


def test_unknown_route_is_404_not_found(gateway_url: str) -> None:
    parts = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.request("POST", "/v1/embeddings", body=b"{}", headers={"Host": "evil.example"})
    response = connection.getresponse()
    error = orjson.loads(response.read())["error"]
    connection.close()
    assert response.status == 404
    assert error["code"] == "not_found"


def test_basic_auth_gets_a_clear_message(gateway_url: str, fake: FakeGemini) -> None:
    client = openai.OpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        max_retries=0,
        default_headers={"Authorization": f"Basic {CLIENT_KEY}"},
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert "Bearer" in caught.value.message
