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
from teamgate.core.messages import ChatRequest, ChatResponse, StreamEvent, UsageEvent
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
        body = orjson.dumps(build_body(request, target))
        with _map_api_errors(target):
            async with self._post(target, model_url(target, "generateContent"), body) as response:
                payload = await response.read()
                if response.status != 200:
                    raise to_gateway_error(response.status, payload, _secret(target))
        try:
            decoded = wire.response_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            raise errors.UpstreamError(
                "the Gemini response was not valid JSON", provider=PROVIDER, upstream_status=200
            ) from exc
        return to_chat_response(decoded, request.model, int(time.time()))

    async def stream(
        self, request: ChatRequest, target: Target
    ) -> AsyncGenerator[StreamEvent, None]:
        body = orjson.dumps(build_body(request, target))
        url = model_url(target, "streamGenerateContent") + "?alt=sse"
        state = StreamState()
        with _map_api_errors(target):
            async with self._post(target, url, body) as response:
                if response.status != 200:
                    raise to_gateway_error(response.status, await response.read(), _secret(target))
                async for data in iter_sse_data(response.content):
                    for event in _decode_chunk(data, state, target):
                        yield event
        if not state.finished:
            raise errors.UpstreamError(
                "the Gemini stream ended before the response was finished",
                provider=PROVIDER,
                upstream_status=200,
            )
        if state.usage is not None:
            yield UsageEvent(usage=state.usage)

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


def _decode_chunk(data: bytes, state: StreamState, target: Target) -> list[StreamEvent]:
    try:
        chunk = wire.response_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise errors.UpstreamError(
            "the Gemini stream sent an event that is not valid JSON",
            provider=PROVIDER,
            upstream_status=200,
        ) from exc
    if chunk.error is not None:
        raise stream_error(chunk.error, _secret(target))
    return chunk_events(chunk, state)


def _secret(target: Target) -> str:
    return target.credential.api_key.get_secret_value()


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
    except aiohttp.ClientError as exc:
        logger.warning(
            "upstream request failed credential=%s error=%s",
            target.credential.id,
            type(exc).__name__,
        )
        raise errors.UpstreamError(
            f"the connection to the Gemini upstream failed ({type(exc).__name__})",
            provider=PROVIDER,
        ) from exc
