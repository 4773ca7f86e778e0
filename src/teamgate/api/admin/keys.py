"""Admin routes for API keys and the end users of trusted-app keys.

A key's plaintext appears once, in the response to its creation; listings
show the prefix. Only an admin can reach these routes, and only an admin
(or the configuration's admin key) may give a key `trusted_app`, because such
a key can bill requests to end users it names itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.api.admin.auth import Accounts, Admin, Caller, Reading, Sessions
from teamgate.api.admin.errors import Conflict, Unprocessable, not_found
from teamgate.api.admin.schemas import KeyCreate, KeyPatch
from teamgate.api.admin.views import CreatedKey, EndUserView, KeyView, end_user_view, key_view
from teamgate.core.errors import PermissionDenied
from teamgate.storage.models import ApiKey, KeyStatus, Role, utc_now
from teamgate.storage.repository import (
    create_key,
    get_user,
    list_end_users,
    list_keys,
    revoke_key,
    set_key_enabled,
    update_key,
)
from teamgate.storage.repository.keys import KeyChanges

router = APIRouter()


@router.get("/keys", tags=["keys"])
async def keys_list(caller: Caller, session: Reading, user_id: int | None = None) -> list[KeyView]:
    """List keys by prefix, newest first; neither the key nor its digest is returned."""
    return [key_view(key) for key in await list_keys(session, user_id)]


@router.post("/keys", status_code=201, tags=["keys"])
async def keys_create(body: KeyCreate, caller: Caller, sessions: Sessions) -> CreatedKey:
    """Create a key and return it whole, once; teamgate stores only its SHA-256 digest."""
    _check_grants(caller, body.trusted_app)
    _check_future(body.expires_at)
    async with sessions.begin() as session:
        if await get_user(session, body.user_id) is None:
            raise not_found("user", body.user_id)
        plaintext, key = await create_key(
            session,
            body.user_id,
            body.name,
            expires_at=body.expires_at,
            allowed_models=body.allowed_models,
            trusted_app=body.trusted_app,
            limits=body.limits(),
        )
        view = key_view(key)
    return CreatedKey(key=plaintext, **view.model_dump())


@router.patch("/keys/{key_id}", tags=["keys"])
async def keys_update(
    key_id: int, body: KeyPatch, caller: Caller, sessions: Sessions, accounts: Accounts
) -> KeyView:
    """Change a key; `enabled` false disables it until it is enabled again."""
    changes = body.changes()
    enabled = changes.pop("enabled", None)
    _check_grants(caller, changes.get("trusted_app", False))
    async with sessions.begin() as session:
        key = await _require_key(session, key_id)
        if enabled is not None:
            _check_not_revoked(key)
            await set_key_enabled(session, key_id, enabled)
        view = key_view(await update_key(session, key_id, **cast(KeyChanges, changes)))
    accounts.forget_keys()
    return view


@router.post("/keys/{key_id}/revoke", tags=["keys"])
async def keys_revoke(
    key_id: int, caller: Caller, sessions: Sessions, accounts: Accounts
) -> KeyView:
    """Revoke a key for good; requests with it get 401 from now on."""
    async with sessions.begin() as session:
        await _require_key(session, key_id)
        view = key_view(await revoke_key(session, key_id))
    accounts.forget_keys()
    return view


@router.get("/end-users", tags=["end users"])
async def end_users_list(
    caller: Caller,
    session: Reading,
    app_owner_user_id: int = Query(description="Owner of the trusted-app key"),
) -> list[EndUserView]:
    """List the people a user's trusted-app keys have forwarded."""
    return [end_user_view(person) for person in await list_end_users(session, app_owner_user_id)]


def _check_grants(caller: Admin, trusted_app: bool | None) -> None:
    """Reject `trusted_app` unless the caller is an admin, so no key gets more than its creator.

    Only admins reach the admin routes today, so this is already true. The check
    sits at the field so that a caller with fewer rights added later (such as a
    member's console session) cannot grant it.
    """
    if trusted_app and caller.role is not Role.ADMIN:
        raise PermissionDenied(
            "only an admin can create or mark a trusted-app key", code="admin_required"
        )


def _check_future(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= utc_now():
        raise Unprocessable(
            f"expires_at {expires_at.isoformat()} is in the past; give a later time",
            param="expires_at",
        )


def _check_not_revoked(key: ApiKey) -> None:
    if key.status == KeyStatus.REVOKED:
        raise Conflict(f"key {key.id} ({key.prefix}) is revoked and cannot be enabled or disabled")


async def _require_key(session: AsyncSession, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise not_found("API key", key_id)
    return key
