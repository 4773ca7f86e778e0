"""Users and groups, and argon2 password hashes for the admin console."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import DEFAULT_GROUP, Group, Role, User, UserStatus
from teamgate.storage.repository.common import (
    AlreadyExists,
    Limits,
    RecordNotFound,
    check_limit_changes,
    insert_ignoring_duplicates,
)

RowT = TypeVar("RowT", Group, User)

if TYPE_CHECKING:
    from argon2 import PasswordHasher


class LimitChanges(TypedDict, total=False):
    budget_micro_usd: int | None
    budget_period: str
    rpm: int | None
    tpm: int | None
    rpd: int | None
    max_concurrent: int | None


class UserChanges(LimitChanges, total=False):
    name: str
    email: str | None
    role: str
    group_id: int
    status: str


class GroupChanges(LimitChanges, total=False):
    name: str
    price_multiplier: Decimal
    allowed_models: list[str] | None


@cache
def _hasher() -> PasswordHasher:
    # Imported on first use: the gateway's request path never hashes a password.
    from argon2 import PasswordHasher

    return PasswordHasher()


async def hash_password(password: str) -> str:
    """Hash `password` with argon2id in a worker thread, because argon2 is slow by design."""
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(user: User, password: str) -> bool:
    """Return whether `password` matches the user's stored hash; False when there is none."""
    if user.password_hash is None:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return await asyncio.to_thread(_hasher().verify, user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def ensure_default_group(session: AsyncSession) -> Group:
    """Return the `default` group, creating it when the database has none."""
    group = await get_group_by_name(session, DEFAULT_GROUP)
    if group is not None:
        return group
    insert = insert_ignoring_duplicates(session, Group, ["name"])
    await session.execute(insert.values(name=DEFAULT_GROUP))
    group = await get_group_by_name(session, DEFAULT_GROUP)
    if group is None:
        raise RecordNotFound(f"group {DEFAULT_GROUP!r} is missing right after it was created")
    return group


async def create_group(
    session: AsyncSession,
    name: str,
    *,
    price_multiplier: Decimal = Decimal(1),
    allowed_models: Sequence[str] | None = None,
    limits: Limits | None = None,
) -> Group:
    if await get_group_by_name(session, name) is not None:
        raise AlreadyExists(f"a group named {name!r} already exists; choose another name")
    _check_multiplier(price_multiplier)
    group = Group(
        name=name,
        price_multiplier=price_multiplier,
        allowed_models=None if allowed_models is None else list(allowed_models),
    )
    (limits or Limits()).apply_to(group)
    session.add(group)
    await session.flush()
    return group


async def get_group(session: AsyncSession, group_id: int) -> Group | None:
    return await session.get(Group, group_id)


async def get_group_by_name(session: AsyncSession, name: str) -> Group | None:
    result = await session.execute(select(Group).where(Group.name == name))
    return result.scalar_one_or_none()


async def list_groups(session: AsyncSession) -> list[Group]:
    result = await session.execute(select(Group).order_by(Group.name))
    return list(result.scalars())


async def update_group(
    session: AsyncSession, group_id: int, **changes: Unpack[GroupChanges]
) -> Group:
    group = await _require(session, Group, group_id)
    check_limit_changes(dict(changes))
    if "price_multiplier" in changes:
        _check_multiplier(changes["price_multiplier"])
    _assign(group, dict(changes))
    await session.flush()
    return group


async def delete_group(session: AsyncSession, group_id: int) -> None:
    """Delete a group that has no users; the `default` group cannot be deleted."""
    group = await _require(session, Group, group_id)
    if group.name == DEFAULT_GROUP:
        raise ValueError(f"group {DEFAULT_GROUP!r} cannot be deleted; new users join it")
    members = await session.scalar(select(func.count()).where(User.group_id == group_id))
    if members:
        raise ValueError(f"group {group.name!r} still has {members} users; move them first")
    await session.delete(group)
    await session.flush()


async def create_user(
    session: AsyncSession,
    name: str,
    *,
    email: str | None = None,
    role: Role | str = Role.MEMBER,
    group_id: int | None = None,
    password: str | None = None,
    limits: Limits | None = None,
) -> User:
    """Create a user in `group_id`, or in the `default` group when it is None."""
    if await get_user_by_name(session, name) is not None:
        raise AlreadyExists(f"a user named {name!r} already exists; choose another name")
    if group_id is None:
        group_id = (await ensure_default_group(session)).id
    user = User(name=name, email=email, role=Role(role).value, group_id=group_id)
    user.status = UserStatus.ACTIVE.value
    if password is not None:
        user.password_hash = await hash_password(password)
    (limits or Limits()).apply_to(user)
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_name(session: AsyncSession, name: str) -> User | None:
    result = await session.execute(select(User).where(User.name == name))
    return result.scalar_one_or_none()


async def list_users(session: AsyncSession, *, group_id: int | None = None) -> list[User]:
    query = select(User).order_by(User.name)
    if group_id is not None:
        query = query.where(User.group_id == group_id)
    result = await session.execute(query)
    return list(result.scalars())


async def update_user(session: AsyncSession, user_id: int, **changes: Unpack[UserChanges]) -> User:
    user = await _require(session, User, user_id)
    check_limit_changes(dict(changes))
    if "role" in changes:
        changes["role"] = Role(changes["role"]).value
    if "status" in changes:
        changes["status"] = UserStatus(changes["status"]).value
    _assign(user, dict(changes))
    await session.flush()
    return user


async def disable_user(session: AsyncSession, user_id: int) -> User:
    """Disable a user; their keys stop working and their records stay."""
    return await update_user(session, user_id, status=UserStatus.DISABLED.value)


async def set_password(session: AsyncSession, user_id: int, password: str) -> None:
    user = await _require(session, User, user_id)
    user.password_hash = await hash_password(password)
    await session.flush()


async def _require(session: AsyncSession, model: type[RowT], row_id: int) -> RowT:
    row = await session.get(model, row_id)
    if row is None:
        raise RecordNotFound(f"{model.__tablename__} has no row with id {row_id}")
    return row


def _assign(row: Group | User, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(row, name, value)


def _check_multiplier(value: Decimal) -> None:
    if value < 0:
        raise ValueError(f"price_multiplier must be zero or more, got {value}")
