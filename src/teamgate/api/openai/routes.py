"""OpenAI-compatible endpoints: `/v1/models` and `/v1/chat/completions`."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from teamgate.accounting.service import AccountService, Caller
from teamgate.api.openai.inbound import decode_request, to_chat_request
from teamgate.api.openai.outbound import DONE, ChunkWriter, error_frame, render_response
from teamgate.api.request_record import RequestRecord
from teamgate.api.state import ClientKey, Gateway, authenticate
from teamgate.api.streaming import EventStreamResponse
from teamgate.core.errors import (
    ClientDisconnected,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    UpstreamError,
)
from teamgate.core.messages import ChatRequest, ReasoningOutput, StreamEvent, TextPart

logger = logging.getLogger("teamgate.request")
T = TypeVar("T")

JSON = "application/json"
REQUEST_ID_KEY = "teamgate.request_id"
# Gemini caps a request's inline data near 20 MB; base64 adds a third on top.
MAX_BODY_BYTES = 32 * 1024 * 1024
_TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"


async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    key = await authenticate(request, gateway)
    allowed = None
    if key.kind == "personal" and gateway.accounts is not None:
        caller = await gateway.accounts.authenticate(key.value, request.headers, None)
        allowed = caller.principal.allowed_models
    return Response(gateway.models_for(allowed), media_type=JSON)


async def get_model(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    await authenticate(request, gateway)
    body = gateway.model_bodies.get(request.path_params["model"])
    if body is None:
        raise NotFound(f"the model {request.path_params['model']!r} does not exist", param="model")
    return Response(body, media_type=JSON)


async def chat_completions(request: Request) -> Response | EventStreamResponse:
    gateway: Gateway = request.app.state.gateway
    accounts = gateway.accounts
    record = RequestRecord(request_id=request_id(request))
    try:
        key = await authenticate(request, gateway)
        chat = to_chat_request(decode_request(await read_body(request)))
        record.model, record.stream = chat.model, chat.stream
        target = gateway.router.resolve(chat.model)
        record.credential, record.upstream_model = target.credential.id, target.upstream_model
        if accounts is not None:
            record.caller = await _caller(accounts, key, request, chat)
        if accounts is not None and record.caller is not None:
            record.ticket = await accounts.admit(
                record.caller, chat, target.upstream_model, target.options.max_output_tokens
            )
        reasoning = _reasoning_output(chat, gateway)
        provider = gateway.providers[target.credential.provider]
        if chat.stream:
            events = provider.stream(chat, target)
            first = await until_disconnect(request, _first_event(events))
            body = _sse_body(chat, reasoning, first, events, record, accounts)
            headers = {
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
                "x-request-id": record.request_id,
            }
            return EventStreamResponse(body, headers)
        response = await until_disconnect(request, provider.complete(chat, target))
        record.usage = response.usage
        body_bytes = gateway.encode(render_response(response, reasoning))
        await record.finish(accounts)
        return Response(body_bytes, media_type=JSON, headers={"x-request-id": record.request_id})
    except GatewayError as exc:
        record.status, record.error = exc.status, type(exc).__name__
        await record.finish(accounts)
        raise


async def read_body(request: Request) -> bytes:
    """Read the request body, rejecting one larger than MAX_BODY_BYTES before buffering it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(_TOO_LARGE)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise PayloadTooLarge(_TOO_LARGE)
    except ClientDisconnect:
        raise ClientDisconnected(
            "the client closed the connection while sending the body"
        ) from None
    return bytes(body)


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it when the client disconnects first.

    After the body is read, the next ASGI message a server sends is
    `http.disconnect`, so waiting for it alongside the upstream call lets a
    dropped client stop a long non-streaming or not-yet-started request.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    # Let the cancelled call finish its cleanup, which closes the upstream connection.
    await asyncio.gather(task, return_exceptions=True)
    raise ClientDisconnected("the client closed the connection before the answer")


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def request_id(request: Request) -> str:
    """Return the client's `x-request-id` when it is short printable ASCII, else a new id.

    The id is kept in the ASGI scope so that the error handler can echo it.
    """
    given = request.headers.get("x-request-id", "")
    value = given if 0 < len(given) <= 128 and given.isascii() and given.isprintable() else ""
    request.scope[REQUEST_ID_KEY] = value = value or secrets.token_hex(12)
    return value


async def _caller(
    accounts: AccountService, key: ClientKey, request: Request, chat: ChatRequest
) -> Caller | None:
    if key.kind == "personal":
        return await accounts.authenticate(key.value, request.headers, chat.user)
    return accounts.config_caller(admin=key.kind == "admin")


def _prompt_chars(chat: ChatRequest) -> int:
    return sum(
        len(part.text)
        for message in chat.messages
        for part in message.parts
        if isinstance(part, TextPart)
    )


def _reasoning_output(chat: ChatRequest, gateway: Gateway) -> ReasoningOutput:
    if chat.reasoning_output is not None:
        return chat.reasoning_output
    entry = gateway.router.entries.get(chat.model)
    return entry.reasoning_output if entry is not None else "reasoning_content"


async def _first_event(events: AsyncIterator[StreamEvent]) -> StreamEvent:
    """Wait for the first event, so a failure before it can still become an HTTP status."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        raise UpstreamError("the upstream closed the stream without sending data") from None


async def _sse_body(
    chat: ChatRequest,
    reasoning: ReasoningOutput,
    first: StreamEvent,
    events: AsyncGenerator[StreamEvent, None],
    record: RequestRecord,
    accounts: AccountService | None,
) -> AsyncGenerator[bytes, None]:
    writer = ChunkWriter(
        f"chatcmpl-{secrets.token_hex(12)}",
        chat.model,
        int(time.time()),
        reasoning,
        chat.include_usage,
    )
    record.first_token = time.perf_counter()
    finished = False
    try:
        frame = writer.frame(first)
        if frame is not None:
            yield frame
        async for event in events:
            frame = writer.frame(event)
            if frame is not None:
                yield frame
        usage_frame = writer.usage_frame()
        if usage_frame is not None:
            yield usage_frame
        yield DONE
        finished = True
    except GatewayError as exc:
        finished = True
        record.status, record.error = exc.status, type(exc).__name__
        yield error_frame(exc)
    except Exception:
        finished = True
        logger.exception("stream failed request_id=%s", record.request_id)
        record.status, record.error = 500, "InternalError"
        yield error_frame(UpstreamError("the stream failed inside the gateway"))
    finally:
        if not finished:
            record.status, record.error = 499, "ClientDisconnected"
        await events.aclose()
        record.usage = writer.usage or writer.estimated_usage(_prompt_chars(chat))
        record.estimated = writer.usage is None
        await record.finish(accounts)
