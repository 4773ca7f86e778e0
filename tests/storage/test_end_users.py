from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from teamgate.storage import repository as repo
from teamgate.storage.models import DEFAULT_GROUP, EndUser

CONCURRENT_REQUESTS = 20


async def _app_owner_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions.begin() as session:
        owner = await repo.create_user(session, "open-webui")
        return owner.id


async def test_end_user_created_in_default_group(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    owner_id = await _app_owner_id(sessions)
    async with sessions.begin() as session:
        end_user = await repo.get_or_create_end_user(
            session, owner_id, "u-1", email="li@example.com", name="Li Lei", role="user"
        )
        default = await repo.get_group_by_name(session, DEFAULT_GROUP)

    assert default is not None
    assert end_user.group_id == default.id
    assert end_user.email == "li@example.com"
    assert end_user.name == "Li Lei"
    assert end_user.role == "user"
    assert end_user.status == "active"
    assert end_user.created_at.tzinfo is not None


async def test_end_user_found_again(sessions: async_sessionmaker[AsyncSession]) -> None:
    owner_id = await _app_owner_id(sessions)
    async with sessions.begin() as session:
        first = await repo.get_or_create_end_user(session, owner_id, "u-1", name="Li Lei")
    async with sessions.begin() as session:
        again = await repo.get_or_create_end_user(session, owner_id, "u-1", email="li@example.com")

    assert again.id == first.id
    assert again.name == "Li Lei"
    assert again.email == "li@example.com"


async def test_same_external_id_per_app_owner(sessions: async_sessionmaker[AsyncSession]) -> None:
    owner_id = await _app_owner_id(sessions)
    async with sessions.begin() as session:
        other_owner = await repo.create_user(session, "librechat")
        first = await repo.get_or_create_end_user(session, owner_id, "u-1")
        second = await repo.get_or_create_end_user(session, other_owner.id, "u-1")
        listed = await repo.list_end_users(session, owner_id)

    assert first.id != second.id
    assert [end_user.id for end_user in listed] == [first.id]


async def test_concurrent_first_sight_creates_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    owner_id = await _app_owner_id(sessions)

    async def first_request() -> int:
        async with sessions.begin() as session:
            end_user = await repo.get_or_create_end_user(
                session, owner_id, "new-person", email="new@example.com"
            )
            return end_user.id

    ids = await asyncio.gather(*(first_request() for _ in range(CONCURRENT_REQUESTS)))

    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(EndUser))
    assert rows == 1
    assert len(set(ids)) == 1
