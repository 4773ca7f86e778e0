"""Blocking HTTP/1.1 client for timing single requests on loopback.

The client keeps one connection alive, parses responses with httptools (so chunked
responses work) and takes its timestamps with `time.perf_counter_ns`. It adds far less
time per request than an asyncio client, and it adds the same time to a gateway request
as to a direct upstream request.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import httptools

# A predicate over the response body received so far. It returns True once the body
# contains the first event with generated text.
ContentCheck = Callable[[bytes | bytearray], bool]


@dataclass(frozen=True)
class Exchange:
    """One request and its response, with times measured from just before the send."""

    status: int
    body: bytes
    elapsed_ns: int
    first_content_ns: int | None


class _ResponseState:
    """Callbacks for httptools.HttpResponseParser."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.keep_alive = False
        self.complete = False

    def on_headers_complete(self) -> None:
        # httptools returns False from should_keep_alive once a response is complete, so
        # the value is read here.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.complete = True


def build_request(
    method: str, port: int, path: str, headers: Mapping[str, str], body: bytes | None = None
) -> bytes:
    """Build the bytes of one HTTP/1.1 request to 127.0.0.1:`port`."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + (body or b"")


class HttpConnection:
    """A keep-alive connection to one port on 127.0.0.1, opened on first use."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._port = port
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self.connections_opened = 0

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def connect(self) -> None:
        """Open the connection now, so that the first timed request does not include it."""
        if self._sock is None:
            sock = socket.create_connection(("127.0.0.1", self._port), timeout=self._timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.connections_opened += 1

    def send(self, request: bytes, content_check: ContentCheck | None = None) -> Exchange:
        """Send `request` and read the whole response.

        When the server closed the kept-alive connection before responding, the request is
        sent once more on a new connection.
        """
        reused = self._sock is not None
        try:
            return self._send_once(request, content_check)
        except ConnectionError:
            self.close()
            if not reused:
                raise
        return self._send_once(request, content_check)

    def _send_once(self, request: bytes, content_check: ContentCheck | None) -> Exchange:
        self.connect()
        sock = self._sock
        assert sock is not None
        state = _ResponseState()
        parser = state.parser
        first_content_ns: int | None = None

        started = time.perf_counter_ns()
        sock.sendall(request)
        while not state.complete:
            data = sock.recv(65536)
            received = time.perf_counter_ns()
            if not data:
                raise ConnectionResetError("server closed the connection before the response ended")
            parser.feed_data(data)
            if first_content_ns is None and content_check is not None and content_check(state.body):
                first_content_ns = received - started
        finished = time.perf_counter_ns()

        if not state.keep_alive:
            self.close()
        return Exchange(
            parser.get_status_code(), bytes(state.body), finished - started, first_content_ns
        )


def sse_payloads(body: bytes | bytearray) -> Iterator[bytes | bytearray]:
    """Yield the `data:` payload of each complete server-sent event in `body`."""
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n")[:-1]:
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                yield line[5:].strip()


def openai_stream_has_content(body: bytes | bytearray) -> bool:
    """Return True once an OpenAI chat-completion chunk with non-empty delta content arrived."""
    for payload in sse_payloads(body):
        if payload == b"[DONE]":
            continue
        for choice in json.loads(payload).get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                return True
    return False


def gemini_stream_has_content(body: bytes | bytearray) -> bool:
    """Return True once a Gemini stream event with non-empty part text arrived."""
    for payload in sse_payloads(body):
        for candidate in json.loads(payload).get("candidates") or []:
            parts = (candidate.get("content") or {}).get("parts") or []
            if any(part.get("text") for part in parts):
                return True
    return False
