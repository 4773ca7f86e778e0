"""Incremental decoding of server-sent events from an aiohttp response body."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp

_LINE_END = re.compile(rb"\r\n|\r|\n")


async def iter_sse_data(body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Yield the data of each event as it completes.

    Lines may end in CRLF, LF or CR (Google's front ends send either of the
    first two). Multi-line data is joined with LF, as the SSE standard
    requires, and `event:`, `id:`, `retry:` and comment lines are skipped.
    """
    buffer = bytearray()
    data_lines: list[bytes] = []
    async for chunk in body.iter_any():
        buffer += chunk
        position = 0
        while True:
            match = _LINE_END.search(buffer, position)
            # A CR at the very end may be the first half of a CRLF still in flight.
            if match is None or (match.group() == b"\r" and match.end() == len(buffer)):
                break
            line = bytes(buffer[position : match.start()])
            position = match.end()
            event = _take_line(line, data_lines)
            if event is not None:
                yield event
        del buffer[:position]
    # A final line without its terminator still counts; then the event ends.
    if buffer.rstrip(b"\r"):
        _take_line(bytes(buffer.rstrip(b"\r")), data_lines)
    if data_lines:
        yield b"\n".join(data_lines)


def _take_line(line: bytes, data_lines: list[bytes]) -> bytes | None:
    """Add one line to the event being built; return the event's data when the line ends it."""
    if not line:
        if not data_lines:
            return None
        event = b"\n".join(data_lines)
        data_lines.clear()
        return event
    if line.startswith(b"data:"):
        value = line[5:]
        data_lines.append(value[1:] if value.startswith(b" ") else value)
    return None
