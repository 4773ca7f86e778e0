"""Error responses of the admin API, in teamgate's JSON envelope `{"error": {...}}`."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from teamgate.api.openai.outbound import error_body
from teamgate.core import errors
from teamgate.storage import StorageUnavailable
from teamgate.storage.repository import AlreadyExists, RecordNotFound

logger = logging.getLogger(__name__)


class Conflict(errors.GatewayError):
    status = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class Unprocessable(errors.InvalidRequest):
    """A body or query parameter failed validation; FastAPI's schema declares 422 for this."""

    status = 422
    default_code = "validation_error"


class MethodNotAllowed(errors.InvalidRequest):
    status = 405
    default_code = "method_not_allowed"


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "Missing, invalid, revoked or expired key"),
        (403, "The key is valid but its owner is not an admin"),
        (422, "Invalid body or query parameter"),
    )
}


def not_found(what: str, row_id: int) -> errors.NotFound:
    return errors.NotFound(f"no {what} has id {row_id}", code="not_found")


def render(error: errors.GatewayError) -> Response:
    body = orjson.dumps(error_body(error))
    return Response(body, status_code=error.status, media_type="application/json")


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.GatewayError)
    return render(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    if first.get("type") == "extra_forbidden":
        message = f"unknown field {param!r}; see the request schema in /admin/api/openapi.json"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problems)"
    return render(Unprocessable(message, param=param or None))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    if exc.status_code == 404:
        return render(errors.NotFound(message, code="not_found"))
    if exc.status_code == 405:
        return render(MethodNotAllowed(message))
    return render(errors.InvalidRequest(message))


async def _row_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, AlreadyExists):
        return render(Conflict(str(exc)))
    if isinstance(exc, IntegrityError):
        return render(Conflict(f"the database rejected the change: {exc.orig}"))
    return render(errors.NotFound(str(exc), code="not_found"))


async def _backend_down(request: Request, exc: Exception) -> Response:
    logger.error("admin API: the database is unavailable: %s", type(exc.__cause__ or exc).__name__)
    return render(
        errors.ServiceUnavailable("teamgate's database is unavailable; try again shortly")
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("admin API: unhandled error on %s %s", request.method, request.url.path)
    return render(errors.GatewayError("internal error in the gateway; see its log"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(AlreadyExists, _row_error)
    app.add_exception_handler(RecordNotFound, _row_error)
    app.add_exception_handler(IntegrityError, _row_error)
    app.add_exception_handler(StorageUnavailable, _backend_down)
    app.add_exception_handler(Exception, _unexpected_error)
