"""A streaming response that stops producing as soon as the client disconnects."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

import anyio
from starlette.types import Receive, Scope, Send


class EventStreamResponse:
    """Send `body` as `text/event-stream`, cancelling it when the client goes away.

    Starlette's StreamingResponse only notices a disconnect when a write
    fails, which can be minutes later while a model is thinking.  Listening for
    `http.disconnect` alongside closes the upstream request at once.
    """

    def __init__(self, body: AsyncGenerator[bytes, None], headers: Mapping[str, str]) -> None:
        self._body = body
        self._headers = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def produce() -> None:
                try:
                    await self._send_body(send)
                except OSError:
                    pass
                finally:
                    # Close the generator now, so the upstream connection is
                    # released even when this task was cancelled mid-stream.
                    with anyio.CancelScope(shield=True):
                        await self._body.aclose()
                group.cancel_scope.cancel()

            group.start_soon(produce)
            await self._wait_for_disconnect(receive)
            group.cancel_scope.cancel()

    async def _send_body(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        async for chunk in self._body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _wait_for_disconnect(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
