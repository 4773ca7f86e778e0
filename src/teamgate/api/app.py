"""Build the ASGI application: routes, error rendering and lifecycle."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from teamgate import __version__
from teamgate.accounting.counters import CountersUnavailable
from teamgate.accounting.setup import open_accounts
from teamgate.api.admin import MOUNT_PATH, create_admin_app
from teamgate.api.openai import routes as openai_routes
from teamgate.api.openai.outbound import error_body
from teamgate.api.state import Gateway
from teamgate.config.keys import KeyRing
from teamgate.config.schema import Accounting, Settings
from teamgate.core import errors
from teamgate.providers.base import Provider
from teamgate.providers.gemini.client import GeminiProvider
from teamgate.providers.http import HttpClients
from teamgate.routing import ModelRouter
from teamgate.storage import StorageUnavailable

logger = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
_HTTP_ERRORS: dict[int, type[errors.GatewayError]] = {
    401: errors.AuthenticationFailed,
    403: errors.PermissionDenied,
    404: errors.NotFound,
}


def models_payload(router: ModelRouter, owner: str, label: str) -> dict[str, Any]:
    created = int(time.time())
    data = []
    for name in router.entries:
        item: dict[str, Any] = {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": owner,
        }
        if label:
            item["name"] = f"{name} {label}"
        data.append(item)
    return {"object": "list", "data": data}


def build_gateway(settings: Settings, keyring: KeyRing, *, demo: bool = False) -> Gateway:
    router = ModelRouter(settings)
    http = HttpClients()
    providers: dict[str, Provider] = {"gemini": GeminiProvider(http)}
    owner, label = ("teamgate-demo", "(simulated)") if demo else ("teamgate", "")
    payload = models_payload(router, owner, label)
    return Gateway(
        settings=settings,
        keyring=keyring,
        router=router,
        http=http,
        providers=providers,
        models_body=orjson.dumps(payload),
        model_bodies={item["id"]: orjson.dumps(item) for item in payload["data"]},
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.GatewayError)
    headers = {}
    request_id = request.scope.get(openai_routes.REQUEST_ID_KEY)
    if request_id:
        headers["x-request-id"] = request_id
    if exc.retry_after is not None:
        # Retry-After takes whole seconds; rounding down would invite a too-early retry.
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    return Response(
        orjson.dumps(error_body(exc)),
        status_code=exc.status,
        headers=headers,
        media_type="application/json",
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    cls = _HTTP_ERRORS.get(exc.status_code, errors.InvalidRequest)
    code = _HTTP_CODES.get(exc.status_code)
    error = cls(f"{request.method} {request.url.path}: {exc.detail}", code=code)
    body = error_body(error)
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type="application/json")


async def _backend_down(request: Request, exc: Exception) -> Response:
    """Return 503 when the database or the Redis counters cannot be reached."""
    what = "database" if isinstance(exc, StorageUnavailable) else "Redis counter store"
    logger.error("the %s is unavailable: %s", what, type(exc.__cause__ or exc).__name__)
    error = errors.ServiceUnavailable(
        f"teamgate's {what} is unavailable; try again shortly", code="service_unavailable"
    )
    return await _gateway_error(request, error)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    error = errors.GatewayError("internal error in the gateway; see its log")
    return Response(orjson.dumps(error_body(error)), status_code=500, media_type="application/json")


async def health_live(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def _api_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    # Served with and without /v1: Cherry Studio and others drop the prefix.
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/models", openai_routes.list_models, methods=["GET"]),
            Route(f"{prefix}/models/{{model:path}}", openai_routes.get_model, methods=["GET"]),
            Route(f"{prefix}/chat/completions", openai_routes.chat_completions, methods=["POST"]),
        ]
    return routes


def create_app(
    gateway: Gateway,
    *,
    extra_mounts: dict[str, ASGIApp] | None = None,
    accounting: tuple[Accounting, Path] | None = None,
) -> Starlette:
    """Create the Starlette app serving `gateway`.

    `extra_mounts` adds sub-apps (the demo upstream). With `accounting` (its
    settings and the data directory), start-up migrates the database and
    personal keys, budgets, rate limits and the usage ledger are on.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        accounts = await open_accounts(*accounting) if accounting is not None else None
        gateway.accounts = accounts.service if accounts is not None else None
        logger.info("teamgate %s ready models=%d", __version__, len(gateway.router.entries))
        try:
            yield
        finally:
            await gateway.http.close()
            if accounts is not None:
                # Stores every queued ledger record before the process exits.
                await accounts.close()

    routes: list[BaseRoute] = [Route("/health/live", health_live, methods=["GET"])]
    routes += [Mount(path, app=app) for path, app in (extra_mounts or {}).items()]
    routes.append(Mount(MOUNT_PATH, app=create_admin_app(gateway)))
    routes += _api_routes()
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            errors.GatewayError: _gateway_error,
            StorageUnavailable: _backend_down,
            CountersUnavailable: _backend_down,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    # A redirect to the slash-less path would be built from the client's Host
    # header, so unknown paths get a plain 404 instead.
    app.router.redirect_slashes = False
    app.state.gateway = gateway
    return app
