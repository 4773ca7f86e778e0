"""Server-sent event decoding from a real aiohttp StreamReader and from a loopback server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol

from teamgate.providers.sse import iter_sse_data

# Two events with LF line endings. The first has two data lines, so a line break decoded
# twice (a CRLF split across chunks read as CR, then LF) would end it early.
TWO_EVENTS = b'data: {"a":\ndata: 1}\n\n: comment\ndata: {"b": 2}\n\n'
EXPECTED = [b'{"a":\n1}', b'{"b": 2}']

# Enough loop turns for the consumer task to drain what was fed before the next chunk.
_YIELDS_PER_CHUNK = 5


def new_reader() -> aiohttp.StreamReader:
    """Build the StreamReader aiohttp gives a response body, on a protocol marked connected."""
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    # The reader raises "Connection closed." while its protocol has no transport. The limit
    # is far above what the tests buffer, so the placeholder transport is never paused.
    protocol.connection_made(asyncio.Transport())
    return aiohttp.StreamReader(protocol, 2**20, loop=loop)


async def collect(reader: aiohttp.StreamReader, events: list[bytes]) -> None:
    async for event in iter_sse_data(reader):
        events.append(event)


async def feed(reader: aiohttp.StreamReader, chunks: Iterable[bytes]) -> None:
    """Feed each chunk separately, letting the decoder read it before the next one arrives."""
    for chunk in chunks:
        reader.feed_data(chunk)
        for _ in range(_YIELDS_PER_CHUNK):
            await asyncio.sleep(0)
    reader.feed_eof()


async def decode(chunks: Iterable[bytes]) -> list[bytes]:
    reader = new_reader()
    events: list[bytes] = []
    consumer = asyncio.create_task(collect(reader, events))
    await feed(reader, chunks)
    await asyncio.wait_for(consumer, timeout=5)
    return events


def split_at(data: bytes, *positions: int) -> list[bytes]:
    bounds = [0, *positions, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


# Harness check: chunks reach the decoder one at a time


async def test_event_yielded_before_stream_ends() -> None:
    reader = new_reader()
    events: list[bytes] = []
    consumer = asyncio.create_task(collect(reader, events))
    reader.feed_data(b"data: first\n\ndata: sec")
    for _ in range(_YIELDS_PER_CHUNK):
        await asyncio.sleep(0)
    assert events == [b"first"]
    reader.feed_data(b"ond\n\n")
    reader.feed_eof()
    await asyncio.wait_for(consumer, timeout=5)
    assert events == [b"first", b"second"]


# Line endings


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
async def test_line_endings(ending: bytes) -> None:
    data = TWO_EVENTS.replace(b"\n", ending)
    assert await decode([data]) == EXPECTED


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
async def test_one_byte_chunks(ending: bytes) -> None:
    data = TWO_EVENTS.replace(b"\n", ending)
    assert await decode([data[i : i + 1] for i in range(len(data))]) == EXPECTED


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
async def test_split_every_boundary(ending: bytes) -> None:
    data = TWO_EVENTS.replace(b"\n", ending)
    for position in range(1, len(data)):
        assert await decode(split_at(data, position)) == EXPECTED, f"split at byte {position}"


async def test_mixed_line_endings() -> None:
    data = b"data: a\r\n\r\ndata: b\n\ndata: c\r\r"
    assert await decode([data]) == [b"a", b"b", b"c"]


async def test_crlf_split_between_chunks() -> None:
    # A CR ending one chunk and an LF starting the next are one line break, not two.
    chunks = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert await decode(chunks) == [b"a\nb"]


async def test_crlf_split_before_blank_line() -> None:
    chunks = [b"data: a\r\n\r", b"\ndata: b\r\n\r\n"]
    assert await decode(chunks) == [b"a", b"b"]


async def test_lone_cr_then_data() -> None:
    assert await decode([b"data: a\r", b"\r", b"data: b\r\r"]) == [b"a", b"b"]


# Event structure


async def test_multi_line_data_joined() -> None:
    data = b"data: line one\ndata: line two\ndata:\n\n"
    assert await decode([data]) == [b"line one\nline two\n"]


async def test_only_one_space_removed() -> None:
    assert await decode([b"data:no space\n\ndata:  two spaces\n\n"]) == [
        b"no space",
        b" two spaces",
    ]


async def test_comments_and_fields_skipped() -> None:
    data = b": keep-alive comment\nevent: message\nid: 7\nretry: 1000\ndata: payload\n\n"
    assert await decode([data]) == [b"payload"]


async def test_event_without_data_skipped() -> None:
    data = b": ping\n\nevent: noop\n\ndata: real\n\n"
    assert await decode([data]) == [b"real"]


async def test_extra_blank_lines_ignored() -> None:
    assert await decode([b"\n\n\ndata: a\n\n\n\ndata: b\n\n"]) == [b"a", b"b"]


async def test_colon_inside_data_kept() -> None:
    assert await decode([b'data: {"url": "http://x"}\n\n']) == [b'{"url": "http://x"}']


# End of stream


@pytest.mark.parametrize(
    "tail", [b"data: last", b"data: last\n", b"data: last\r", b"data: last\r\n"]
)
async def test_final_event_without_blank_line(tail: bytes) -> None:
    assert await decode([b"data: first\n\n" + tail]) == [b"first", b"last"]


async def test_final_multi_line_without_blank_line() -> None:
    assert await decode([b"data: a\ndata: b"]) == [b"a\nb"]


async def test_empty_stream() -> None:
    assert await decode([]) == []


async def test_comment_only_stream() -> None:
    assert await decode([b": nothing here\n"]) == []


async def test_large_event_split() -> None:
    payload = b"x" * 200_000
    data = b"data: " + payload + b"\r\n\r\n"
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert await decode(chunks) == [payload]


# A real HTTP response body over loopback


async def stream_handler(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for chunk in (b"data: a\r", b"\n\r", b"\ndata: b\r\ndata: c", b"\r\n\r\n", b"data: end"):
        await response.write(chunk)
        await asyncio.sleep(0.01)
    await response.write_eof()
    return response


@pytest.fixture
async def sse_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/stream", stream_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/stream"
    finally:
        await runner.cleanup()


async def test_loopback_response(sse_url: str) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(sse_url) as response,
    ):
        events = [event async for event in iter_sse_data(response.content)]
    assert events == [b"a", b"b\nc", b"end"]
