"""Usage arithmetic and finish reasons, in streams and whole responses."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from teamgate.fake import FakeGemini, Reply

# promptTokenCount 199 + toolUsePromptTokenCount 248 = 447 prompt tokens;
# candidatesTokenCount 29 + thoughtsTokenCount 140 = 169 completion tokens.
USAGE_CASE = {
    "promptTokenCount": 199,
    "candidatesTokenCount": 29,
    "thoughtsTokenCount": 140,
    "toolUsePromptTokenCount": 248,
    "cachedContentTokenCount": 64,
    "totalTokenCount": 616,
}


def candidate(text: str | None, finish: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if text is not None:
        content["parts"] = [{"text": text}]
    result: dict[str, Any] = {"content": content}
    if finish:
        result["finishReason"] = finish
    return result


def two_chunks(finish: str, usage: dict[str, Any]) -> list[dict[str, Any]]:
    early = dict(usage, candidatesTokenCount=1)
    return [
        {"candidates": [candidate("Part one, ", None)], "usageMetadata": early},
        {"candidates": [candidate("part two.", finish)], "usageMetadata": usage},
    ]


def assert_usage_case(usage: Any) -> None:
    assert usage.prompt_tokens == 447
    assert usage.completion_tokens == 169
    assert usage.total_tokens == 616
    assert usage.completion_tokens_details.reasoning_tokens == 140
    assert usage.prompt_tokens_details.cached_tokens == 64


def test_usage_non_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=two_chunks("STOP", USAGE_CASE)))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
    )
    assert result.choices[0].message.content == "Part one, part two."
    assert_usage_case(result.usage)


def test_usage_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=two_chunks("STOP", USAGE_CASE)))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage_chunks = [chunk for chunk in chunks if chunk.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    assert usage_chunks[0].choices == []
    assert_usage_case(usage_chunks[0].usage)


def test_stream_without_include_usage_has_no_usage(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=two_chunks("STOP", USAGE_CASE)))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert all(chunk.usage is None for chunk in stream)


FINISH_CASES = [
    ("STOP", "stop"),
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"),
    ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"),
]


@pytest.mark.parametrize(("native", "expected"), FINISH_CASES)
def test_finish_reason_non_stream(
    client: openai.OpenAI, fake: FakeGemini, native: str, expected: str
) -> None:
    fake.enqueue(Reply(chunks=two_chunks(native, USAGE_CASE)))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
    )
    assert len(result.choices) == 1
    assert result.choices[0].finish_reason == expected


@pytest.mark.parametrize(("native", "expected"), FINISH_CASES)
def test_finish_reason_stream(
    client: openai.OpenAI, fake: FakeGemini, native: str, expected: str
) -> None:
    fake.enqueue(Reply(chunks=two_chunks(native, USAGE_CASE)))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    finishes = [c.finish_reason for chunk in stream for c in chunk.choices if c.finish_reason]
    assert finishes == [expected]


def test_candidate_without_parts_yields_one_empty_choice(
    client: openai.OpenAI, fake: FakeGemini
) -> None:
    # A thinking model that spends its whole budget on thoughts ends like this.
    response = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}],
        "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 50, "totalTokenCount": 55},
    }
    fake.enqueue(Reply(response=response))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
    )
    assert len(result.choices) == 1
    assert result.choices[0].message.content == ""
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None
    assert result.usage.completion_tokens == 50


def test_candidate_without_parts_in_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    chunk = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}],
        "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 50, "totalTokenCount": 55},
    }
    fake.enqueue(Reply(chunks=[chunk]))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    choices = [choice for chunk in stream for choice in chunk.choices]
    assert [choice.finish_reason for choice in choices] == ["length"]
    assert choices[0].delta.role == "assistant"


BLOCKED = {
    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
}


def test_blocked_prompt_is_400_content_policy(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(response=BLOCKED))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.code == "content_policy_violation"
    assert "PROHIBITED_CONTENT" in caught.value.message
    assert len(fake.requests) == 1


def test_blocked_prompt_in_stream_is_400(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[BLOCKED]))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    assert caught.value.code == "content_policy_violation"


def test_tool_call_turn_finishes_with_tool_calls(client: openai.OpenAI, fake: FakeGemini) -> None:
    call = {"functionCall": {"name": "lookup", "args": {"q": "cats"}}, "thoughtSignature": "c2ln"}
    response = {
        "candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10},
    }
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    fake.enqueue(Reply(response=response))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Find cats"}], tools=tools
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    tool_call: Any = choice.message.tool_calls[0]
    assert tool_call.function.name == "lookup"
    assert tool_call.function.arguments == '{"q":"cats"}'
    assert tool_call.model_extra["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    body = fake.requests[-1].body
    assert body is not None
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "lookup",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}},
                    },
                }
            ]
        }
    ]
    # The result goes back as a functionResponse with the call's name and signature kept.
    fake.enqueue(Reply(response={**response, "candidates": [candidate("3 cats", "STOP")]}))
    history: Any = [
        {"role": "user", "content": "Find cats"},
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tool_call.id, "content": "3 results"},
    ]
    client.chat.completions.create(model="gemini-2.5-flash", messages=history, tools=tools)
    body = fake.requests[-1].body
    assert body is not None
    assert body["contents"][1] == {"role": "model", "parts": [call]}
    assert body["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "lookup", "response": {"output": "3 results"}}}],
    }
