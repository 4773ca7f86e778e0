"""The admin check: the configuration's admin key or a personal key of an admin user.

The check runs as a FastAPI dependency of every route, after routing, so it
judges the route that was matched. It reads only the key headers, never the
Host header or the URL.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from teamgate.accounting.service import AccountService
from teamgate.api.state import Gateway, bearer_key
from teamgate.config.keys import digest
from teamgate.core.errors import AuthenticationFailed, PermissionDenied, ServiceUnavailable
from teamgate.storage.models import ApiKey, Role, User
from teamgate.storage.repository import KeyState, find_key

_KEY_ERRORS = {
    KeyState.NOT_FOUND: "invalid API key",
    KeyState.DISABLED: "this API key is disabled",
    KeyState.REVOKED: "this API key was revoked",
    KeyState.EXPIRED: "this API key has expired",
    KeyState.OWNER_DISABLED: "the owner of this API key is disabled",
}


@dataclass(frozen=True, slots=True)
class Admin:
    """The caller of an admin route: the configuration's admin key, or an admin user's key."""

    user_id: int | None = None
    """None for the configuration's admin key, which belongs to no user."""
    user_name: str | None = None
    key_id: int | None = None
    key_prefix: str | None = None
    role: Role = Role.ADMIN

    @property
    def is_config_key(self) -> bool:
        return self.user_id is None


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def account_service(request: Request) -> AccountService:
    """Return the account service, or raise 503 while it is not open."""
    accounts = gateway_of(request).accounts
    if accounts is None:
        raise ServiceUnavailable("teamgate's account database is not open; try again shortly")
    return accounts


async def require_admin(request: Request) -> Admin:
    """Authenticate the caller; raise 401 for a missing or unusable key, 403 for a non-admin."""
    key = bearer_key(request)
    if key is None:
        raise AuthenticationFailed(
            "missing API key; send an admin key as 'Authorization: Bearer <key>'",
            code="missing_api_key",
        )
    keyring = gateway_of(request).keyring
    if hmac.compare_digest(digest(key), keyring.admin_digest):
        return Admin()
    if keyring.accepts(key):
        raise PermissionDenied(
            "keys from the configuration's api_keys cannot use the admin API; use the admin key",
            code="admin_required",
        )
    return await _personal_admin(account_service(request), key)


async def _personal_admin(accounts: AccountService, key: str) -> Admin:
    # Read from the database on every call rather than the gateway's key cache,
    # so a revoked key or a demoted owner loses admin rights at once.
    async with accounts.sessions() as session:
        lookup = await find_key(session, key)
    if not lookup.usable or lookup.key is None or lookup.owner is None:
        raise AuthenticationFailed(_KEY_ERRORS.get(lookup.state, "invalid API key"))
    owner: User = lookup.owner
    if owner.role != Role.ADMIN:
        raise PermissionDenied(
            f"user {owner.name!r} has the role {owner.role!r}; the admin API needs role 'admin'",
            code="admin_required",
        )
    if _restricted(lookup.key):
        # A key with its own model list, budget or limits could otherwise create
        # or edit keys with more rights than itself.
        raise PermissionDenied(
            f"the key {lookup.key.prefix} has its own model list, budget or rate limits, so it "
            "cannot manage teamgate; use an admin key without restrictions",
            code="restricted_key",
        )
    return Admin(owner.id, owner.name, lookup.key.id, lookup.key.prefix)


def _restricted(key: ApiKey) -> bool:
    limits = (key.budget_micro_usd, key.rpm, key.tpm, key.rpd, key.max_concurrent)
    return key.allowed_models is not None or any(value is not None for value in limits)


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with account_service(request).sessions() as session:
        yield session


def session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    """Return the session factory; routes that write open `sessions.begin()` themselves.

    The transaction then commits before the route drops cached keys and
    returns, so no request can cache the state from before the change.
    """
    return account_service(request).sessions


Caller = Annotated[Admin, Depends(require_admin)]
Reading = Annotated[AsyncSession, Depends(read_session)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session_factory)]
Accounts = Annotated[AccountService, Depends(account_service)]
