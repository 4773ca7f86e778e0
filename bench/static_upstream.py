"""Static Gemini API upstream for the gateway benchmark.

The server returns the same prebuilt JSON body for every `generateContent` request and
the same prebuilt SSE stream for every `streamGenerateContent?alt=sse` request, so the
benchmark measures the gateway and not the upstream. It runs on uvloop with a raw
asyncio Protocol and the httptools parser, which handles keep-alive, pipelining and
chunked request bodies.

A stream sends its first event at once and the remaining events after `--stream-pause-ms`,
so a client can tell the first token from the end of the response.

`GET /_bench/stats` returns request counts per path, the number of accepted connections
and the last request body of each kind, which show what a gateway sends and whether it
reuses its upstream connections.

Usage: python bench/static_upstream.py --port 18000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import uvloop

MODEL_VERSION = "gemini-2.5-flash"
RESPONSE_ID = "bench5xQmZ2pLq8RkVw3AaBbCc"

# About 60 words, the length of a short model reply.
REPLY_TEXT = (
    "A gateway sits between clients and model providers. It checks each key, picks the "
    "upstream credential, translates the request into the provider's format and sends the "
    "answer back in the format the client expects. Keeping that path short matters, because "
    "every millisecond it adds is paid on each request by every member of the team."
)
PROMPT_TOKENS = 14
REPLY_TOKENS = 61

# The stream splits the reply into this many events.
STREAM_EVENTS = 4


def _usage(candidates_tokens: int) -> dict[str, Any]:
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": PROMPT_TOKENS + candidates_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
    }


def build_generate_body() -> bytes:
    """Build the `generateContent` response body."""
    body = {
        "candidates": [
            {
                "content": {"parts": [{"text": REPLY_TEXT}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage(REPLY_TOKENS),
        "modelVersion": MODEL_VERSION,
        "responseId": RESPONSE_ID,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def build_stream_events() -> list[bytes]:
    """Build the `streamGenerateContent?alt=sse` events, each one `data: {json}\\r\\n\\r\\n`.

    Gemini sends no `[DONE]` marker: the last event carries `finishReason` and the final
    usage, and the response ends after it.
    """
    words = REPLY_TEXT.split(" ")
    size = -(-len(words) // STREAM_EVENTS)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    pieces = [piece + " " for piece in pieces[:-1]] + pieces[-1:]

    events: list[bytes] = []
    sent_tokens = 0
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        sent_tokens = REPLY_TOKENS if last else sent_tokens + REPLY_TOKENS // len(pieces)
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        }
        if last:
            candidate["finishReason"] = "STOP"
        event = {
            "candidates": [candidate],
            "usageMetadata": _usage(sent_tokens),
            "modelVersion": MODEL_VERSION,
            "responseId": RESPONSE_ID,
        }
        events.append(b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\r\n\r\n")
    return events


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _head(status: str, content_type: bytes, length: int | None, keep_alive: bool) -> bytes:
    lines = [b"HTTP/1.1 " + status.encode(), b"Content-Type: " + content_type]
    if length is None:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % length)
    lines.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass(frozen=True)
class Response:
    """Bytes of one HTTP response: `first` goes out at once, `rest` after the stream pause."""

    first: bytes
    rest: bytes | None = None
    keep_alive: bool = True


@dataclass
class Stats:
    """Request counts per path, accepted connections and the last request body per kind."""

    paths: collections.Counter[str] = field(default_factory=collections.Counter)
    connections: int = 0
    missing_key: int = 0
    last_bodies: dict[str, str] = field(default_factory=dict)


class Responses:
    """Prebuilt responses, one set for keep-alive and one for closing connections."""

    def __init__(self) -> None:
        generate_body = build_generate_body()
        events = build_stream_events()
        json_type = b"application/json; charset=UTF-8"
        sse_type = b"text/event-stream"
        self.generate: dict[bool, Response] = {}
        self.stream: dict[bool, Response] = {}
        for keep_alive in (True, False):
            self.generate[keep_alive] = Response(
                _head("200 OK", json_type, len(generate_body), keep_alive) + generate_body,
                keep_alive=keep_alive,
            )
            self.stream[keep_alive] = Response(
                _head("200 OK", sse_type, None, keep_alive) + _chunk(events[0]),
                b"".join(_chunk(event) for event in events[1:]) + b"0\r\n\r\n",
                keep_alive,
            )

    @staticmethod
    def json(status: str, payload: object, keep_alive: bool) -> Response:
        body = json.dumps(payload).encode()
        head = _head(status, b"application/json; charset=UTF-8", len(body), keep_alive)
        return Response(head + body, keep_alive=keep_alive)


class UpstreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection.

    Responses go out in request order. While a stream waits for its pause, responses to
    pipelined requests that follow it wait in `_backlog`.
    """

    def __init__(self, responses: Responses, stats: Stats, stream_pause: float) -> None:
        self._responses = responses
        self._stats = stats
        self._stream_pause = stream_pause
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._has_key = False
        self._keep_alive = True
        self._stream_pending = False
        self._backlog: collections.deque[Response] = collections.deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport class implements asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._send(Responses.json("400 Bad Request", {"error": "upgrade"}, False))
        except httptools.HttpParserError as error:
            self._send(Responses.json("400 Bad Request", {"error": str(error)}, False))

    # httptools parser callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._has_key = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-goog-api-key" and value:
            self._has_key = True

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = self._route(self._parser.get_method(), self._url)
        if self._stream_pending:
            self._backlog.append(response)
        else:
            self._send(response)

    def _route(self, method: bytes, url: bytes) -> Response:
        keep_alive = self._keep_alive
        path, _, query = url.partition(b"?")
        self._stats.paths[path.decode("latin-1")] += 1
        if method == b"POST" and path.endswith(b":generateContent"):
            self._record_request("generateContent", query)
            return self._responses.generate[keep_alive]
        if method == b"POST" and path.endswith(b":streamGenerateContent"):
            self._record_request("streamGenerateContent", query)
            return self._responses.stream[keep_alive]
        if method == b"GET" and path == b"/_bench/stats":
            payload = {
                "paths": dict(self._stats.paths),
                "connections": self._stats.connections,
                "missing_key": self._stats.missing_key,
                "last_bodies": self._stats.last_bodies,
            }
            return Responses.json("200 OK", payload, keep_alive)
        message = f"no route for {method.decode()} {path.decode('latin-1')}"
        return Responses.json(
            "404 Not Found", {"error": {"code": 404, "message": message}}, keep_alive
        )

    def _record_request(self, kind: str, query: bytes) -> None:
        if not self._has_key and b"key=" not in query:
            self._stats.missing_key += 1
        self._stats.last_bodies[kind] = b"".join(self._body).decode("utf-8", "replace")

    def _send(self, response: Response) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(response.first)
        if response.rest is not None:
            self._stream_pending = True
            asyncio.get_running_loop().call_later(self._stream_pause, self._finish_stream, response)
        elif not response.keep_alive:
            transport.close()

    def _finish_stream(self, response: Response) -> None:
        self._stream_pending = False
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        assert response.rest is not None
        transport.write(response.rest)
        if not response.keep_alive:
            transport.close()
            return
        while self._backlog and not self._stream_pending:
            self._send(self._backlog.popleft())


async def serve(host: str, port: int, stream_pause: float) -> None:
    """Serve until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    responses = Responses()
    stats = Stats()
    server = await loop.create_server(
        lambda: UpstreamProtocol(responses, stats, stream_pause), host, port, backlog=1024
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"static upstream listening on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument(
        "--stream-pause-ms",
        type=float,
        default=20.0,
        help="milliseconds between the first stream event and the rest (default 20)",
    )
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.stream_pause_ms / 1000.0))


if __name__ == "__main__":
    main()
