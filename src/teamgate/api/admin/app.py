"""Assemble the admin FastAPI app: routers, the admin check on every route and the schema."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from teamgate import __version__
from teamgate.api.admin import MOUNT_PATH, keys, people, reports
from teamgate.api.admin.auth import require_admin
from teamgate.api.admin.errors import ERROR_RESPONSES, install_error_handlers
from teamgate.api.state import Gateway

ROUTERS = (people.router, keys.router, reports.router)


def build_admin_app(gateway: Gateway) -> FastAPI:
    """Build the app; mount it at MOUNT_PATH inside the gateway's Starlette app.

    Swagger UI is off (`docs_url=None`) because it loads its scripts from a
    CDN, which a gateway without internet access cannot reach. The schema is
    served at `/openapi.json` to admins only, like every other route.
    """
    app = FastAPI(
        title="teamgate admin API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        servers=[{"url": MOUNT_PATH}],
        # A redirect to the slash-less path would be built from the Host header.
        redirect_slashes=False,
        dependencies=[Depends(require_admin)],
        responses=ERROR_RESPONSES,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_schema() -> dict[str, Any]:
        return app.openapi()

    return app
