"""The Gemini (AI Studio) adapter: HTTP calls to generateContent and streamGenerateContent."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager

import aiohttp
import msgspec
import orjson

from teamgate.core import errors
from teamgate.core.messages import ChatRequest, ChatResponse, StreamEvent
from teamgate.providers.base import Target
from teamgate.providers.gemini import wire
from teamgate.providers.gemini.errors import PROVIDER, stream_error, to_gateway_error
from teamgate.providers.gemini.request import build_body
from teamgate.providers.gemini.response import StreamState, chunk_events, to_chat_response
from teamgate.providers.http import HttpClients, client_timeout
from teamgate.providers.sse import iter_sse_data

logger = logging.getLogger(__name__)

API_VERSION = "v1beta"


def model_url(target: Target, method: str) -> str:
    base = target.credential.base_url.removesuffix("/" + API_VERSION)
    return f"{base}/{API_VERSION}/models/{target.upstream_model}:{method}"


class GeminiProvider:
    name = PROVIDER

    def __init__(self, http: HttpClients) -> None:
        self._http = http

    async def complete(self, request: ChatRequest, target: Target) -> ChatResponse:
        body = _encode_body(request, target)
        with _map_api_errors(target):
            async with self._post(target, model_url(target, "generateContent"), body) as response:
                payload = await response.read()
                if response.status != 200:
                    raise to_gateway_error(response.status, payload, _secret(target))
        decoded = _decode_response(payload, "response")
        if decoded.error is not None:
            # Some reverse proxies send Google's error envelope with status 200.
            raise stream_error(decoded.error, _secret(target))
        return to_chat_response(decoded, request.model, int(time.time()))

    async def stream(
        self, request: ChatRequest, target: Target
    ) -> AsyncGenerator[StreamEvent, None]:
        body = _encode_body(request, target)
        url = model_url(target, "streamGenerateContent") + "?alt=sse"
        state = StreamState()
        with _map_api_errors(target):
            async with self._post(target, url, body) as response:
                if response.status != 200:
                    raise to_gateway_error(response.status, await response.read(), _secret(target))
                if response.content_type != "text/event-stream":
                    raise await _not_an_event_stream(response, target)
                async for data in iter_sse_data(response.content):
                    for event in _decode_chunk(data, state, target):
                        yield event
        if not state.finished:
            raise errors.UpstreamError(
                "the Gemini stream ended before the response was finished",
                provider=PROVIDER,
                upstream_status=200,
            )

    def _post(self, target: Target, url: str, body: bytes) -> aiohttp.client._RequestContextManager:
        credential = target.credential
        session = self._http.session(credential.proxy)
        return session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "x-goog-api-key": credential.api_key.get_secret_value(),
            },
            timeout=client_timeout(credential.timeouts),
        )


def _encode_body(request: ChatRequest, target: Target) -> bytes:
    try:
        return orjson.dumps(build_body(request, target))
    except (TypeError, RecursionError) as exc:
        # orjson rejects integers beyond 64 bits and nesting deeper than 254 levels.
        raise errors.InvalidRequest(
            "the request contains an integer larger than 64 bits or JSON nested too deeply"
        ) from exc


async def _not_an_event_stream(
    response: aiohttp.ClientResponse, target: Target
) -> errors.UpstreamError:
    """Build the error for a 200 response that is not SSE (an error envelope or a proxy's page)."""
    payload = await response.read()
    try:
        decoded = wire.response_decoder.decode(payload)
    except msgspec.DecodeError:
        decoded = None
    if decoded is not None and decoded.error is not None:
        return stream_error(decoded.error, _secret(target))
    return errors.UpstreamError(
        f"the Gemini upstream returned {response.content_type or 'no'} "
        "content instead of text/event-stream; check the credential's base_url",
        provider=PROVIDER,
        upstream_status=200,
    )


def _decode_response(data: bytes, what: str) -> wire.GenerateContentResponse:
    try:
        return wire.response_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise errors.UpstreamError(
            f"the Gemini {what} does not match the generateContent response format "
            f"({_short_reason(exc)})",
            provider=PROVIDER,
            upstream_status=200,
        ) from exc


def _short_reason(exc: msgspec.DecodeError) -> str:
    # msgspec names the JSON path but never echoes values, so no secret can leak here.
    return str(exc)[:200]


def _decode_chunk(data: bytes, state: StreamState, target: Target) -> list[StreamEvent]:
    chunk = _decode_response(data, "stream event")
    if chunk.error is not None:
        raise stream_error(chunk.error, _secret(target))
    return chunk_events(chunk, state)


def _secret(target: Target) -> str:
    return target.credential.api_key.get_secret_value()


_PROXY_ERROR_MODULES = ("aiohttp_socks", "python_socks")


def _is_transport_error(exc: Exception) -> bool:
    # The proxy libraries raise their own errors when a proxy is down or refuses.
    # They are matched by module name, so a gateway without proxies never imports them.
    return isinstance(exc, aiohttp.ClientError | OSError) or type(exc).__module__.startswith(
        _PROXY_ERROR_MODULES
    )


@contextmanager
def _map_api_errors(target: Target) -> Iterator[None]:
    """Turn aiohttp and timeout exceptions into gateway errors without echoing their text.

    aiohttp's messages can contain a proxy URL with its password, so only the
    exception class name reaches the client and the log.
    """
    try:
        yield
    except errors.GatewayError:
        raise
    except TimeoutError as exc:
        logger.warning("upstream timed out credential=%s", target.credential.id)
        raise errors.UpstreamTimeout("the Gemini upstream timed out", provider=PROVIDER) from exc
    except aiohttp.ClientConnectorError as exc:
        logger.warning(
            "upstream connection failed credential=%s error=%s",
            target.credential.id,
            type(exc).__name__,
        )
        raise errors.UpstreamError(
            "could not connect to the Gemini upstream", provider=PROVIDER
        ) from exc
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        logger.warning(
            "upstream request failed credential=%s error=%s",
            target.credential.id,
            type(exc).__name__,
        )
        raise errors.UpstreamError(
            f"the connection to the Gemini upstream failed ({type(exc).__name__})",
            provider=PROVIDER,
        ) from exc
