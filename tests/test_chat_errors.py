"""Upstream errors before and during a stream, dropped connections and client disconnects."""

from __future__ import annotations

import http.client
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from teamgate.fake import (
    FakeGemini,
    Reply,
    api_key_invalid,
    deadline_exceeded,
    error_body,
    internal_error,
    invalid_argument,
    model_not_found,
    resource_exhausted,
    unavailable,
)
from tests.support import CLIENT_KEY, HELLO_CHUNK, UPSTREAM_KEY, WORLD_CHUNK

ERROR_CASES: list[tuple[int, Callable[[], dict[str, Any]], type[openai.APIStatusError], int]] = [
    (400, lambda: invalid_argument("Invalid value at 'x'"), openai.BadRequestError, 400),
    (400, api_key_invalid, openai.AuthenticationError, 401),
    (
        403,
        lambda: error_body(403, "PERMISSION_DENIED", "The caller does not have permission"),
        openai.PermissionDeniedError,
        403,
    ),
    (404, lambda: model_not_found("gemini-9"), openai.NotFoundError, 404),
    (429, resource_exhausted, openai.RateLimitError, 429),
    (500, internal_error, openai.InternalServerError, 500),
    (503, unavailable, openai.InternalServerError, 503),
    (504, deadline_exceeded, openai.InternalServerError, 504),
]

CHUNK, LAST_CHUNK = HELLO_CHUNK, WORLD_CHUNK
MESSAGES: Any = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("upstream", "body", "error_class", "status"), ERROR_CASES)
def test_upstream_error_status(
    client: openai.OpenAI,
    fake: FakeGemini,
    upstream: int,
    body: Callable[[], dict[str, Any]],
    error_class: type[openai.APIStatusError],
    status: int,
    stream: bool,
) -> None:
    fake.enqueue(Reply(error=(upstream, body())))
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=stream)
    assert fake.requests[-1].stream is stream
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert UPSTREAM_KEY not in caught.value.response.text
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "26"


def test_retry_delay_with_fraction_rounds_up(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(error=(429, resource_exhausted(retry_delay="28.32s"))))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "29"


def test_error_event_during_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(
        Reply(chunks=[CHUNK, LAST_CHUNK], mid_stream_error=unavailable(), mid_stream_error_after=1)
    )
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            seen.extend(choice.delta.content for choice in chunk.choices if choice.delta.content)
    assert seen == ["Hello "]
    assert "overloaded" in caught.value.message


def test_dropped_connection_during_stream(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK], drop_after=1))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass


def raw_stream(gateway_url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    parts = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=orjson.dumps(body),
        headers={"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_error_during_stream_ends_cleanly(gateway_url: str, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[CHUNK], mid_stream_error=internal_error()))
    status, data = raw_stream(
        gateway_url, {"model": "gemini-2.5-flash", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    frames = [frame for frame in data.split(b"\n\n") if frame]
    last = orjson.loads(frames[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "server_error"
    assert b"[DONE]" not in data


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_stream_framing(gateway_url: str, fake: FakeGemini, line_ending: str) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK], line_ending=line_ending))
    status, data = raw_stream(
        gateway_url,
        {
            "model": "gemini-2.5-flash",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert status == 200
    frames = data.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""]
    chunks = [orjson.loads(frame.removeprefix(b"data: ")) for frame in frames[:-2]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    text = "".join(c["delta"].get("content", "") for chunk in chunks for c in chunk["choices"])
    assert text == "Hello world"
    assert chunks[-1]["usage"]["total_tokens"] == 5


def test_client_disconnect_cancels_upstream(gateway_url: str, fake: FakeGemini) -> None:
    many = [CHUNK] * 30 + [LAST_CHUNK]
    fake.enqueue(Reply(chunks=many, delay_between=0.2))
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=CLIENT_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.content == "Hello "
    stream.close()
    deadline = time.monotonic() + 5
    while fake.cancelled_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled_streams == 1


async def test_async_client_stream_and_whole(aclient: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK]))
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK]))
    whole = await aclient.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert whole.choices[0].message.content == "Hello world"
    stream = await aclient.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True
    )
    pieces = [c.delta.content async for chunk in stream for c in chunk.choices if c.delta.content]
    assert pieces == ["Hello ", "world"]


def test_upstream_key_never_leaks(
    client: openai.OpenAI, fake: FakeGemini, caplog: pytest.LogCaptureFixture
) -> None:
    # The fake echoes nothing of the key, so make the upstream message contain it.
    leaky = invalid_argument(f"bad request for key {UPSTREAM_KEY}")
    fake.enqueue(Reply(error=(400, leaky)))
    fake.enqueue(Reply(chunks=[CHUNK], mid_stream_error=invalid_argument(f"key {UPSTREAM_KEY}")))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
        assert UPSTREAM_KEY not in caught.value.response.text
        stream = client.chat.completions.create(
            model="gemini-2.5-flash", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIError) as in_stream:
            for _chunk in stream:
                pass
        assert UPSTREAM_KEY not in str(in_stream.value.body)
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert UPSTREAM_KEY not in caplog.text
    assert "request_id=" in caplog.text


def send_and_hang_up(gateway_url: str, body: dict[str, Any], wait: float) -> None:
    """Send a chat request over a raw socket and close it after `wait` seconds."""
    parts = urlsplit(gateway_url)
    payload = orjson.dumps(body)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5) as sock:
        sock.sendall(head + payload)
        time.sleep(wait)


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_disconnect_before_first_chunk_cancels(gateway_url: str, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK], delay_before=8))
    body = {"model": "gemini-2.5-flash", "messages": MESSAGES, "stream": True}
    send_and_hang_up(gateway_url, body, wait=0.5)
    assert wait_for(lambda: fake.cancelled_streams == 1)


def test_disconnect_during_whole_request_cancels(
    gateway_url: str, fake: FakeGemini, caplog: pytest.LogCaptureFixture
) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK], delay_before=8))
    with caplog.at_level(logging.INFO, logger="teamgate.request"):
        send_and_hang_up(gateway_url, {"model": "gemini-2.5-flash", "messages": MESSAGES}, 0.5)
        assert wait_for(lambda: "status=499" in caplog.text, seconds=3)
    assert "error=ClientDisconnected" in caplog.text


def test_stream_carries_request_id(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.enqueue(Reply(chunks=[CHUNK, LAST_CHUNK]))
    with client.chat.completions.with_streaming_response.create(
        model="gemini-2.5-flash",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-request-id": "stream-77"},
    ) as response:
        assert response.headers["x-request-id"] == "stream-77"
        assert list(response.iter_lines())
