"""Thinking controls and reasoning output, streaming and not."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from teamgate.fake import FakeGemini, Reply

THOUGHT_CHUNKS: list[dict[str, Any]] = [
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Planning.", "thought": True}]}}
        ],
        "usageMetadata": {"promptTokenCount": 4, "thoughtsTokenCount": 20, "totalTokenCount": 24},
    },
    {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "The answer"}]},
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "thoughtsTokenCount": 20,
            "candidatesTokenCount": 2,
            "totalTokenCount": 26,
        },
    },
    {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": " is 4."}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "thoughtsTokenCount": 20,
            "candidatesTokenCount": 4,
            "totalTokenCount": 28,
        },
    },
]


def thinking_config(fake: FakeGemini) -> dict[str, Any] | None:
    body = fake.requests[-1].body
    assert body is not None
    config: dict[str, Any] | None = body.get("generationConfig", {}).get("thinkingConfig")
    return config


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        # 2.5 Pro cannot turn thinking off: the lowest budget it accepts is used.
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128, "includeThoughts": True}),
        ("gemini-2.5-flash-lite", "minimal", {"thinkingBudget": 512, "includeThoughts": True}),
        (
            "gemini-3-flash-preview",
            "minimal",
            {"thinkingLevel": "MINIMAL", "includeThoughts": True},
        ),
        ("gemini-3-flash-preview", "none", {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
        ("gemini-3.1-pro-preview", "minimal", {"thinkingLevel": "LOW", "includeThoughts": True}),
        ("gemini-3.1-pro-preview", "medium", {"thinkingLevel": "MEDIUM", "includeThoughts": True}),
        ("gemini-3.1-pro-preview", "high", {"thinkingLevel": "HIGH", "includeThoughts": True}),
    ],
)
def test_reasoning_effort_mapping(
    client: openai.OpenAI, fake: FakeGemini, model: str, effort: Any, expected: dict[str, Any]
) -> None:
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], reasoning_effort=effort
    )
    assert thinking_config(fake) == expected


def test_direct_budget_options(client: openai.OpenAI, fake: FakeGemini) -> None:
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 3000}},
    )
    assert thinking_config(fake) == {"thinkingBudget": 3000, "includeThoughts": True}
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={
            "extra_body": {
                "google": {"thinking_config": {"thinking_budget": 600, "include_thoughts": False}}
            }
        },
    )
    assert thinking_config(fake) == {"thinkingBudget": 600}
    client.chat.completions.create(
        model="gemini-3-flash-preview",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"thinking_budget": 0},
    )
    assert thinking_config(fake) == {"thinkingLevel": "MINIMAL", "includeThoughts": True}


def test_effort_and_budget_together_is_400(client: openai.OpenAI, fake: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Hi"}],
            reasoning_effort="low",
            extra_body={"thinking_budget": 100},
        )
    assert fake.requests == []


def test_image_model_gets_no_thinking_config(client: openai.OpenAI, fake: FakeGemini) -> None:
    client.chat.completions.create(
        model="gemini-2.5-flash-image",
        messages=[{"role": "user", "content": "Draw"}],
        reasoning_effort="high",
    )
    assert thinking_config(fake) is None


def test_reasoning_content_non_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=THOUGHT_CHUNKS))
    result = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "2+2?"}]
    )
    message = result.choices[0].message
    assert message.content == "The answer is 4."
    assert message.model_extra is not None
    assert message.model_extra["reasoning_content"] == "Planning."
    assert result.usage is not None
    assert result.usage.completion_tokens == 24
    assert result.usage.completion_tokens_details is not None
    assert result.usage.completion_tokens_details.reasoning_tokens == 20


def test_reasoning_content_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=THOUGHT_CHUNKS))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "2+2?"}],
        stream=True,
    )
    reasoning, content = [], []
    for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            if choice.delta.content:
                content.append(choice.delta.content)
    assert reasoning == ["Planning."]
    assert "".join(content) == "The answer is 4."


def test_think_tags_non_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=THOUGHT_CHUNKS))
    result = client.chat.completions.create(
        model="flash-tags", messages=[{"role": "user", "content": "2+2?"}]
    )
    assert result.choices[0].message.content == "<think>\nPlanning.\n</think>\n\nThe answer is 4."
    assert thinking_config(fake) == {"thinkingBudget": 1024, "includeThoughts": True}


def test_think_tags_stream_per_request(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=THOUGHT_CHUNKS))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "2+2?"}],
        stream=True,
        extra_body={"reasoning_output": "think_tags"},
    )
    text = "".join(choice.delta.content or "" for chunk in stream for choice in chunk.choices)
    assert text == "<think>\nPlanning.\n</think>\n\nThe answer is 4."


def test_hidden_reasoning_asks_for_no_thoughts(client: openai.OpenAI, fake: FakeGemini) -> None:
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Hi"}],
        reasoning_effort="low",
        extra_body={"reasoning_output": "hidden"},
    )
    assert thinking_config(fake) == {"thinkingBudget": 1024}


@pytest.mark.parametrize(
    "extra",
    [
        {"thinking_budget": -5},
        {"thinking": {"type": "enabled", "budget_tokens": -2}},
        {"extra_body": {"google": {"thinking_config": {"thinking_budget": -3}}}},
    ],
)
def test_negative_budget_is_400(
    client: openai.OpenAI, fake: FakeGemini, extra: dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi"}], extra_body=extra
        )
    assert fake.requests == []
