"""ASGI responses that can wait, stream, stop with an error event, or drop the connection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from starlette.types import Receive, Scope, Send

_JSON = b"application/json; charset=UTF-8"
_EVENT_STREAM = b"text/event-stream"


class ConnectionDropped(Exception):
    """Raised on purpose so the ASGI server closes the connection mid-body."""


class DroppedConnectionFilter(logging.Filter):
    """Hide the traceback uvicorn logs when a scripted reply drops the connection on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and isinstance(info[1], ConnectionDropped))


@dataclass
class Delivery:
    """The bytes of one response and how to send them.

    ``events`` are sent as separate body writes. When ``drop_after`` is set, the connection
    closes abruptly after that many events; otherwise ``trailer`` ends the body.
    """

    status: int
    content_type: bytes
    events: list[bytes]
    trailer: bytes = b""
    drop_after: int | None = None
    delay_before: float = 0.0
    delay_between: float = 0.0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, body: bytes, delay_before: float = 0.0) -> Delivery:
        return cls(status, _JSON, [body], delay_before=delay_before)

    @classmethod
    def event_stream(cls, events: list[bytes]) -> Delivery:
        return cls(200, _EVENT_STREAM, events)

    @classmethod
    def json_array(cls, elements: list[bytes]) -> Delivery:
        # Google's array stream writes "[" then elements separated by ",\r\n", then "]".
        events = [(b"[" if index == 0 else b",\r\n") + item for index, item in enumerate(elements)]
        return cls(200, _JSON, events or [b"["], trailer=b"]")


class ScriptedResponse:
    """An ASGI response for one Delivery that reports a client disconnect to ``on_cancel``."""

    def __init__(self, delivery: Delivery, on_cancel: Callable[[], None] | None = None) -> None:
        self.delivery = delivery
        self.on_cancel = on_cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"finished": False, "disconnected": False, "dropped": False}
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        if not state["finished"]:
                            state["disconnected"] = True
                            group.cancel_scope.cancel()
                        return

            group.start_soon(watch_disconnect)
            state["dropped"] = await self._send_all(send)
            state["finished"] = True
            group.cancel_scope.cancel()
        if state["disconnected"] and self.on_cancel is not None:
            self.on_cancel()
        if state["dropped"]:
            raise ConnectionDropped("scripted reply dropped the connection")

    async def _send_all(self, send: Send) -> bool:
        """Send the delivery and return True when the connection must now be dropped."""
        delivery = self.delivery
        if delivery.delay_before > 0:
            await anyio.sleep(delivery.delay_before)
        headers = [(b"content-type", delivery.content_type), *delivery.headers]
        events = delivery.events
        if delivery.drop_after is None and len(events) == 1 and not delivery.trailer:
            headers.append((b"content-length", str(len(events[0])).encode()))
        await send({"type": "http.response.start", "status": delivery.status, "headers": headers})
        for index, event in enumerate(events):
            if delivery.drop_after is not None and index >= delivery.drop_after:
                return True
            if index > 0 and delivery.delay_between > 0:
                await anyio.sleep(delivery.delay_between)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if delivery.drop_after is not None:
            return True
        await send({"type": "http.response.body", "body": delivery.trailer, "more_body": False})
        return False
