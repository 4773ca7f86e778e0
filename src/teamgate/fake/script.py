"""Scripted replies and recorded requests, with their JSON forms for the control endpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

JsonObject = dict[str, Any]
LINE_ENDINGS = ("\n", "\r\n", "\r")


@dataclass
class Reply:
    """One scripted reply, consumed by the next generateContent or streamGenerateContent call.

    ``chunks`` are raw GenerateContentResponse dicts. A stream sends them one per event; a
    non-stream call merges them into one response. ``response``, when set, is the whole
    non-stream response and a stream sends it as its only chunk. Chunks without
    ``modelVersion`` or ``responseId`` get the fake's values, and every other field is sent
    exactly as given.

    ``error`` is (HTTP status, Google error body), returned instead of any chunk.
    ``mid_stream_error`` is an ``{"error": {...}}`` body sent as an SSE event after
    ``mid_stream_error_after`` chunks (None means after all chunks), after which the stream
    closes. A non-stream call returns it as an ordinary error with its ``code`` as HTTP status.
    ``drop_after`` = N closes the connection abruptly after N chunks, without ending the HTTP
    body cleanly. ``delay_before`` and ``delay_between`` are in seconds. ``line_ending`` is the
    SSE line terminator: "\\n", "\\r\\n" or "\\r".
    """

    chunks: list[JsonObject] = field(default_factory=list)
    response: JsonObject | None = None
    error: tuple[int, JsonObject] | None = None
    mid_stream_error: JsonObject | None = None
    mid_stream_error_after: int | None = None
    drop_after: int | None = None
    delay_before: float = 0.0
    delay_between: float = 0.0
    line_ending: str = "\n"

    def __post_init__(self) -> None:
        if self.line_ending not in LINE_ENDINGS:
            raise ValueError(
                f"line_ending must be one of {LINE_ENDINGS!r}, got {self.line_ending!r}"
            )
        if self.chunks and self.response is not None:
            raise ValueError("set either chunks or response, not both")
        if self.mid_stream_error is not None and "error" not in self.mid_stream_error:
            raise ValueError('mid_stream_error must be a Google error body {"error": {...}}')

    def to_json(self) -> bytes:
        """Encode this reply for ``POST /_fake/enqueue``."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> Reply:
        """Decode a reply sent to ``POST /_fake/enqueue``; raises ValueError when invalid."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.ValidationError as error:
            raise ValueError(f"invalid reply: {error}") from None
        except msgspec.DecodeError as error:
            raise ValueError(f"reply is not valid JSON: {error}") from None

    def stream_chunks(self) -> list[JsonObject]:
        """Return the chunks a stream sends for this reply."""
        return [self.response] if self.response is not None else list(self.chunks)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received on ``/v1beta``; ``body`` is the decoded JSON or None."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: JsonObject | None
    model: str
    stream: bool

    def to_dict(self) -> JsonObject:
        return asdict(self)
