"""API keys: created once in plaintext, then stored and found only by their SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Unpack, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import ApiKey, KeyStatus, User, UserStatus, utc_now
from teamgate.storage.repository.common import Limits, RecordNotFound, check_limit_changes
from teamgate.storage.repository.users import LimitChanges

KEY_PREFIX = "sk-tg-"
# Characters kept in `ApiKey.prefix`: "sk-tg-" and six random ones, enough to
# tell a team's keys apart in a listing while revealing 36 bits of 256.
LISTED_PREFIX_LENGTH = 12


class KeyState(StrEnum):
    """Outcome of a key lookup. Only ACTIVE keys may call the API."""

    ACTIVE = "active"
    NOT_FOUND = "not_found"
    DISABLED = "disabled"
    REVOKED = "revoked"
    EXPIRED = "expired"
    OWNER_DISABLED = "owner_disabled"


@dataclass(frozen=True)
class KeyLookup:
    state: KeyState
    key: ApiKey | None = None
    owner: User | None = None

    @property
    def usable(self) -> bool:
        return self.state is KeyState.ACTIVE


@dataclass(frozen=True)
class KeyInfo:
    """A key as listings show it: everything except the digest."""

    id: int
    owner_user_id: int
    name: str
    prefix: str
    status: KeyStatus
    trusted_app: bool
    allowed_models: list[str] | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    limits: Limits


class KeyChanges(LimitChanges, total=False):
    name: str
    trusted_app: bool
    allowed_models: list[str] | None
    expires_at: datetime | None


def hash_key(plaintext: str) -> str:
    """Return the SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


async def create_key(
    session: AsyncSession,
    owner_user_id: int,
    name: str,
    *,
    expires_at: datetime | None = None,
    allowed_models: Sequence[str] | None = None,
    trusted_app: bool = False,
    limits: Limits | None = None,
) -> tuple[str, ApiKey]:
    """Create a key for a user and return its plaintext, which is not stored anywhere.

    Show the plaintext to the user once; later only its digest and prefix exist.
    """
    if await session.get(User, owner_user_id) is None:
        raise RecordNotFound(f"users has no row with id {owner_user_id}")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        key_hash=hash_key(plaintext),
        prefix=plaintext[:LISTED_PREFIX_LENGTH],
        owner_user_id=owner_user_id,
        name=name,
        status=KeyStatus.ACTIVE.value,
        trusted_app=trusted_app,
        allowed_models=None if allowed_models is None else list(allowed_models),
        expires_at=expires_at,
    )
    (limits or Limits()).apply_to(key)
    session.add(key)
    await session.flush()
    return plaintext, key


async def find_key(
    session: AsyncSession, plaintext: str, *, now: datetime | None = None
) -> KeyLookup:
    """Look a key up by its digest and report whether it may be used at `now`.

    Only the digest reaches the database, so the plaintext is never compared
    and the lookup time does not depend on how much of a guessed key matches.
    """
    query = (
        select(ApiKey, User)
        .join(User, User.id == ApiKey.owner_user_id)
        .where(ApiKey.key_hash == hash_key(plaintext))
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return KeyLookup(KeyState.NOT_FOUND)
    key, owner = row
    return KeyLookup(_key_state(key, owner, now or utc_now()), key, owner)


def _key_state(key: ApiKey, owner: User, now: datetime) -> KeyState:
    if key.status == KeyStatus.REVOKED:
        return KeyState.REVOKED
    if key.status == KeyStatus.DISABLED:
        return KeyState.DISABLED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyState.EXPIRED
    if owner.status != UserStatus.ACTIVE:
        return KeyState.OWNER_DISABLED
    return KeyState.ACTIVE


async def revoke_key(session: AsyncSession, key_id: int, *, now: datetime | None = None) -> ApiKey:
    """Revoke a key for good; unlike a disabled key, it cannot be enabled again."""
    key = await _require_key(session, key_id)
    if key.status != KeyStatus.REVOKED:
        key.status = KeyStatus.REVOKED.value
        key.revoked_at = now or utc_now()
        await session.flush()
    return key


async def set_key_enabled(session: AsyncSession, key_id: int, enabled: bool) -> ApiKey:
    key = await _require_key(session, key_id)
    if key.status == KeyStatus.REVOKED:
        raise ValueError(f"key {key_id} ({key.prefix}…) is revoked; create a new key instead")
    key.status = (KeyStatus.ACTIVE if enabled else KeyStatus.DISABLED).value
    await session.flush()
    return key


async def update_key(session: AsyncSession, key_id: int, **changes: Unpack[KeyChanges]) -> ApiKey:
    key = await _require_key(session, key_id)
    check_limit_changes(dict(changes))
    for name, value in changes.items():
        setattr(key, name, value)
    await session.flush()
    return key


async def list_keys(session: AsyncSession, owner_user_id: int | None = None) -> list[KeyInfo]:
    """List keys, optionally of one user, newest first, without their digests."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if owner_user_id is not None:
        query = query.where(ApiKey.owner_user_id == owner_user_id)
    return [_info(key) for key in (await session.execute(query)).scalars()]


async def touch_key_last_used(session: AsyncSession, used_at: Mapping[int, datetime]) -> None:
    """Record when keys were last used, given key id → time, in one statement.

    A time older than the stored one leaves the stored one in place, so batches
    may arrive out of order.
    """
    if not used_at:
        return
    table = cast(Table, ApiKey.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("key_id"))
        .where(or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("used_at")))
        .values(last_used_at=bindparam("used_at"))
    )
    rows = [{"key_id": key_id, "used_at": moment} for key_id, moment in used_at.items()]
    connection = await session.connection()
    await connection.execute(statement, rows)


async def _require_key(session: AsyncSession, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise RecordNotFound(f"api_keys has no row with id {key_id}")
    return key


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        owner_user_id=key.owner_user_id,
        name=key.name,
        prefix=key.prefix,
        status=KeyStatus(key.status),
        trusted_app=key.trusted_app,
        allowed_models=key.allowed_models,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        created_at=key.created_at,
        limits=Limits.of(key),
    )
