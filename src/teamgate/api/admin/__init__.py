"""The admin REST API under `/admin/api`: groups, users, keys, end users, usage and credits.

FastAPI is imported when `create_admin_app` runs, not when this package is
imported, so code that only imports `teamgate.api.app` does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from teamgate.api.state import Gateway

MOUNT_PATH = "/admin/api"


def create_admin_app(gateway: Gateway) -> ASGIApp:
    """Build the FastAPI app to mount at MOUNT_PATH; every route requires an admin key."""
    from teamgate.api.admin.app import build_admin_app

    return build_admin_app(gateway)
