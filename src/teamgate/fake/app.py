"""The fake Gemini API (AI Studio surface) as a Starlette ASGI app, with its scripting state."""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from teamgate.fake import errors
from teamgate.fake.catalog import find_model, list_models_page
from teamgate.fake.chunks import InvalidResponseError, encode_json, signatures_in
from teamgate.fake.errors import GoogleApiError, JsonObject
from teamgate.fake.respond import CallContext, delivery_for, reply_chunks
from teamgate.fake.rules import check_request, check_signatures
from teamgate.fake.script import RecordedRequest, Reply
from teamgate.fake.tokens import prompt_tokens
from teamgate.fake.transport import ScriptedResponse
from teamgate.fake.validation import parse_generate_request, parse_json_body

logger = logging.getLogger(__name__)

_GENERATE = "generateContent"
_STREAM = "streamGenerateContent"
_COUNT = "countTokens"
# google-genai 3.6.1 defaults to v1, earlier releases to v1beta. The fake serves both alike.
API_VERSIONS = ("v1beta", "v1")
_JSON_TYPE = "application/json; charset=UTF-8"


class FakeGemini:
    """A loopback fake of the Gemini Developer API that tests can script and inspect.

    Every generate or stream call that passes validation consumes the oldest queued Reply,
    or gets the deterministic default answer when the queue is empty. ``enqueue``, ``reset``
    and reads of the public lists are safe from another thread while the app serves requests.
    """

    def __init__(self, api_keys: set[str] | frozenset[str]) -> None:
        self.api_keys = frozenset(api_keys)
        # Every request to a model or models.list endpoint, oldest first, including rejected ones.
        self.requests: list[RecordedRequest] = []
        # Error messages of generate, stream and countTokens bodies rejected with a 400.
        self.validation_errors: list[str] = []
        # Scripted or built responses that failed the SDK's GenerateContentResponse check.
        self.script_errors: list[str] = []
        # Streams whose client disconnected before the fake sent the last byte.
        self.cancelled_streams = 0
        self._queue: deque[Reply] = deque()
        self._issued_signatures: dict[bytes, str] = {}
        self._response_count = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=self._routes())

    def _routes(self) -> list[Route]:
        routes = [
            Route("/_fake/enqueue", self._control_enqueue, methods=["POST"]),
            Route("/_fake/requests", self._control_requests, methods=["GET"]),
            Route("/_fake/reset", self._control_reset, methods=["POST"]),
        ]
        for version in API_VERSIONS:
            routes += [
                Route(f"/{version}/models", self._list_models, methods=["GET"]),
                Route(f"/{version}/models/{{name}}", self._get_model, methods=["GET"]),
                Route(f"/{version}/models/{{name}}", self._call_model, methods=["POST"]),
            ]
        return routes

    def enqueue(self, reply: Reply) -> None:
        """Queue a reply for a later generate or stream call (first in, first out)."""
        with self._lock:
            self._queue.append(reply)

    def reset(self) -> None:
        """Forget queued replies, recorded requests, errors, counters and issued signatures."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.validation_errors.clear()
            self.script_errors.clear()
            self.cancelled_streams = 0
            self._issued_signatures.clear()

    @property
    def pending_replies(self) -> int:
        """Number of queued replies not yet consumed."""
        with self._lock:
            return len(self._queue)

    async def _list_models(self, request: Request) -> Response:
        await self._record(request, model="", stream=False)
        try:
            self._authenticate(request)
            page = list_models_page(
                request.query_params.get("pageSize"), request.query_params.get("pageToken")
            )
        except GoogleApiError as error:
            return _error_response(error)
        return _json(200, page)

    async def _get_model(self, request: Request) -> Response:
        name = request.path_params["name"]
        await self._record(request, model=name, stream=False)
        try:
            self._authenticate(request)
        except GoogleApiError as error:
            return _error_response(error)
        model = find_model(name)
        if model is None:
            message = f"models/{name} is not found for API version {_api_version(request)}."
            return _json(404, errors.error_body(404, "NOT_FOUND", message))
        return _json(200, model.resource())

    async def _call_model(self, request: Request) -> Response | ScriptedResponse:
        model_id, _, action = request.path_params["name"].partition(":")
        stream = action == _STREAM
        raw = await self._record(request, model=model_id, stream=stream)
        try:
            self._authenticate(request)
            model = find_model(model_id)
            method = "StreamGenerateContent" if stream else (action or "this method")
            version = _api_version(request)
            if action not in (_GENERATE, _STREAM, _COUNT):
                raise GoogleApiError(404, errors.model_not_found(model_id, method, version))
            if model is None or _GENERATE not in model.methods:
                raise GoogleApiError(404, errors.model_not_found(model_id, method, version))
        except GoogleApiError as error:
            logger.info("rejected %s for model %r: %s", action, model_id, error)
            return _error_response(error)
        try:
            if action == _COUNT:
                return _json(200, self._count_tokens(raw))
            context = self._validate_call(raw, model_id, stream, request)
        except GoogleApiError as error:
            logger.info("invalid %s request for model %r: %s", action, model_id, error)
            with self._lock:
                self.validation_errors.append(error.body["error"]["message"])
            return _error_response(error)
        return self._reply(context)

    def _validate_call(
        self, raw: bytes, model_id: str, stream: bool, request: Request
    ) -> CallContext:
        model = find_model(model_id)
        assert model is not None
        parsed = parse_generate_request(parse_json_body(raw))
        thinking = check_request(parsed, model)
        with self._lock:
            issued = dict(self._issued_signatures)
            self._response_count += 1
            response_id = f"tgfake{self._response_count:06d}"
        check_signatures(parsed, model, issued)
        sse = request.query_params.get("alt") == "sse"
        return CallContext(parsed, model, thinking, response_id, stream, sse)

    def _reply(self, context: CallContext) -> Response | ScriptedResponse:
        with self._lock:
            reply = self._queue.popleft() if self._queue else None
        try:
            chunks = reply_chunks(context, reply)
            delivery = delivery_for(context, reply, chunks)
        except InvalidResponseError as error:
            logger.error("fake Gemini built an invalid response: %s", error)
            with self._lock:
                self.script_errors.append(str(error))
            return _json(500, errors.error_body(500, "INTERNAL", f"fake Gemini: {error}"))
        with self._lock:
            for chunk in chunks:
                for signature in signatures_in(chunk):
                    self._issued_signatures[signature] = context.model.model_id
        on_cancel = self._count_cancelled if context.stream else None
        return ScriptedResponse(delivery, on_cancel)

    def _count_cancelled(self) -> None:
        with self._lock:
            self.cancelled_streams += 1

    def _count_tokens(self, raw: bytes) -> JsonObject:
        body = parse_json_body(raw)
        inner = body.get("generateContentRequest", body.get("generate_content_request"))
        if isinstance(inner, dict):
            inner = {key: value for key, value in inner.items() if key != "model"}
        parsed = parse_generate_request(inner if isinstance(inner, dict) else body)
        text, media = prompt_tokens(parsed)
        details = [{"modality": "TEXT", "tokenCount": text}]
        if media:
            details.append({"modality": "IMAGE", "tokenCount": media})
        return {"totalTokens": text + media, "promptTokensDetails": details}

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            raise GoogleApiError(403, errors.permission_denied_no_key())
        if key not in self.api_keys:
            raise GoogleApiError(400, errors.api_key_invalid())

    async def _record(self, request: Request, model: str, stream: bool) -> bytes:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body if isinstance(body, dict) else None,
            model=model,
            stream=stream,
        )
        with self._lock:
            self.requests.append(recorded)
        return raw

    async def _control_enqueue(self, request: Request) -> Response:
        try:
            reply = Reply.from_json(await request.body())
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        self.enqueue(reply)
        return JSONResponse({"queued": self.pending_replies})

    async def _control_requests(self, request: Request) -> Response:
        with self._lock:
            state = {
                "requests": [recorded.to_dict() for recorded in self.requests],
                "validation_errors": list(self.validation_errors),
                "script_errors": list(self.script_errors),
                "cancelled_streams": self.cancelled_streams,
                "pending_replies": len(self._queue),
            }
        return Response(orjson.dumps(state), media_type="application/json")

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})


def _api_version(request: Request) -> str:
    return request.url.path.split("/")[1]


def _json(status: int, body: JsonObject) -> Response:
    return Response(encode_json(body), status_code=status, media_type=_JSON_TYPE)


def _error_response(error: GoogleApiError) -> Response:
    return _json(error.http_status, error.body)
