"""End users: people of a trusted app, such as Open WebUI, who have no key of their own."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage.models import EndUser, UserStatus
from teamgate.storage.repository.common import insert_ignoring_duplicates
from teamgate.storage.repository.users import ensure_default_group


async def get_or_create_end_user(
    session: AsyncSession,
    app_owner_user_id: int,
    external_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    role: str | None = None,
) -> EndUser:
    """Return the end user an app identifies as `external_id`, creating them in the default group.

    Concurrent first requests for the same person are safe: the INSERT skips
    a row that another transaction has just created (ON CONFLICT DO NOTHING
    on the unique owner and external id), and the SELECT after it finds that
    row. Email, name and role are updated when the app reports new values.
    """
    end_user = await _find(session, app_owner_user_id, external_id)
    if end_user is None:
        await _insert_if_missing(session, app_owner_user_id, external_id, email, name, role)
        end_user = await _find(session, app_owner_user_id, external_id)
        if end_user is None:
            raise LookupError(
                f"end user {external_id!r} of user {app_owner_user_id} is missing right after "
                "it was created"
            )
    if _refresh_profile(end_user, email, name, role):
        await session.flush()
    return end_user


async def get_end_user(session: AsyncSession, end_user_id: int) -> EndUser | None:
    return await session.get(EndUser, end_user_id)


async def list_end_users(session: AsyncSession, app_owner_user_id: int) -> list[EndUser]:
    query = (
        select(EndUser)
        .where(EndUser.app_owner_user_id == app_owner_user_id)
        .order_by(EndUser.external_id)
    )
    return list((await session.execute(query)).scalars())


async def _find(session: AsyncSession, app_owner_user_id: int, external_id: str) -> EndUser | None:
    query = select(EndUser).where(
        EndUser.app_owner_user_id == app_owner_user_id, EndUser.external_id == external_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _insert_if_missing(
    session: AsyncSession,
    app_owner_user_id: int,
    external_id: str,
    email: str | None,
    name: str | None,
    role: str | None,
) -> None:
    group = await ensure_default_group(session)
    insert = insert_ignoring_duplicates(
        session,
        EndUser,
        ["app_owner_user_id", "external_id"],
    )
    # Core INSERTs fill the columns' Python-side defaults, such as created_at.
    values = {
        "app_owner_user_id": app_owner_user_id,
        "external_id": external_id,
        "email": email,
        "name": name,
        "role": role,
        "group_id": group.id,
        "status": UserStatus.ACTIVE.value,
    }
    await session.execute(insert.values(values))


def _refresh_profile(
    end_user: EndUser, email: str | None, name: str | None, role: str | None
) -> bool:
    changed = False
    for field, value in (("email", email), ("name", name), ("role", role)):
        if value is not None and getattr(end_user, field) != value:
            setattr(end_user, field, value)
            changed = True
    return changed
