"""Admin routes for groups, users and the caller itself."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.api.admin.auth import Accounts, Caller, Reading, Sessions
from teamgate.api.admin.errors import Conflict, not_found
from teamgate.api.admin.schemas import GroupCreate, GroupPatch, UserCreate, UserPatch
from teamgate.api.admin.views import CallerView, GroupView, UserView, group_view, user_view
from teamgate.core.errors import PermissionDenied
from teamgate.storage.models import User, UserStatus
from teamgate.storage.repository import (
    create_group,
    create_user,
    get_group,
    get_user,
    list_groups,
    list_users,
    update_group,
    update_user,
)

router = APIRouter()


@router.get("/groups", tags=["groups"])
async def groups_list(caller: Caller, session: Reading) -> list[GroupView]:
    return [group_view(group) for group in await list_groups(session)]


@router.post("/groups", status_code=201, tags=["groups"])
async def groups_create(body: GroupCreate, caller: Caller, sessions: Sessions) -> GroupView:
    async with sessions.begin() as session:
        group = await create_group(
            session,
            body.name,
            price_multiplier=body.multiplier(),
            allowed_models=body.allowed_models,
            limits=body.limits(),
        )
        return group_view(group)


@router.get("/groups/{group_id}", tags=["groups"])
async def groups_get(group_id: int, caller: Caller, session: Reading) -> GroupView:
    group = await get_group(session, group_id)
    if group is None:
        raise not_found("group", group_id)
    return group_view(group)


@router.patch("/groups/{group_id}", tags=["groups"])
async def groups_update(
    group_id: int, body: GroupPatch, caller: Caller, sessions: Sessions, accounts: Accounts
) -> GroupView:
    """Change a group; keys of its members see the new limits on their next request."""
    async with sessions.begin() as session:
        if await get_group(session, group_id) is None:
            raise not_found("group", group_id)
        view = group_view(await update_group(session, group_id, **body.changes()))
    accounts.forget_keys()
    return view


@router.get("/users", tags=["users"])
async def users_list(
    caller: Caller, session: Reading, group_id: int | None = None
) -> list[UserView]:
    return [user_view(user) for user in await list_users(session, group_id=group_id)]


@router.post("/users", status_code=201, tags=["users"])
async def users_create(body: UserCreate, caller: Caller, sessions: Sessions) -> UserView:
    async with sessions.begin() as session:
        await _check_group(session, body.group_id)
        await _check_email_free(session, body.email, None)
        user = await create_user(
            session,
            body.name.strip(),
            email=body.email,
            role=body.role,
            group_id=body.group_id,
            password=body.password,
            limits=body.limits(),
        )
        return user_view(user)


@router.get("/users/{user_id}", tags=["users"])
async def users_get(user_id: int, caller: Caller, session: Reading) -> UserView:
    return user_view(await _require_user(session, user_id))


@router.patch("/users/{user_id}", tags=["users"])
async def users_update(
    user_id: int, body: UserPatch, caller: Caller, sessions: Sessions, accounts: Accounts
) -> UserView:
    """Change a user. A caller cannot change their own role, whatever it is."""
    changes = body.changes()
    async with sessions.begin() as session:
        user = await _require_user(session, user_id)
        if "role" in changes and user.id == caller.user_id and changes["role"] != user.role:
            raise PermissionDenied(
                "you cannot change your own role; ask another admin", code="own_role"
            )
        if "group_id" in changes:
            await _check_group(session, changes["group_id"])
        if "email" in changes:
            await _check_email_free(session, changes["email"], user.id)
        view = user_view(await update_user(session, user_id, **changes))
    accounts.forget_keys()
    return view


@router.post("/users/{user_id}/disable", tags=["users"])
async def users_disable(
    user_id: int, caller: Caller, sessions: Sessions, accounts: Accounts
) -> UserView:
    """Disable a user; their keys stop working and their usage records stay."""
    async with sessions.begin() as session:
        await _require_user(session, user_id)
        view = user_view(await update_user(session, user_id, status=UserStatus.DISABLED.value))
    accounts.forget_keys()
    return view


@router.get("/me", tags=["me"])
async def me(caller: Caller, session: Reading) -> CallerView:
    """Return who the caller is: the configuration's admin key, or an admin's personal key."""
    if caller.user_id is None:
        return CallerView(kind="config_admin_key", user=None, key_id=None, key_prefix=None)
    user = await _require_user(session, caller.user_id)
    return CallerView(
        kind="personal_key",
        user=user_view(user),
        key_id=caller.key_id,
        key_prefix=caller.key_prefix,
    )


async def _require_user(session: AsyncSession, user_id: int) -> User:
    user = await get_user(session, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


async def _check_group(session: AsyncSession, group_id: int | None) -> None:
    if group_id is not None and await get_group(session, group_id) is None:
        raise not_found("group", group_id)


async def _check_email_free(session: AsyncSession, email: str | None, user_id: int | None) -> None:
    if email is None:
        return
    holder = await session.scalar(select(User).where(User.email == email))
    if holder is not None and holder.id != user_id:
        raise Conflict(f"the email {email!r} already belongs to user {holder.name!r}")
