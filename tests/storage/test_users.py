from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage import repository as repo
from teamgate.storage.models import DEFAULT_GROUP, BudgetPeriod, Role, UserStatus


async def test_user_joins_default_group(session: AsyncSession) -> None:
    user = await repo.create_user(session, "alice", email="alice@example.com")
    await session.commit()

    default = await repo.get_group_by_name(session, DEFAULT_GROUP)
    assert default is not None
    assert user.group_id == default.id
    assert user.role == Role.MEMBER
    assert user.status == UserStatus.ACTIVE
    assert user.created_at.tzinfo is not None


async def test_user_fields_round_trip(session: AsyncSession) -> None:
    group = await repo.create_group(session, "research", price_multiplier=Decimal("1.5"))
    limits = repo.Limits(
        budget_micro_usd=5_000_000, budget_period=BudgetPeriod.WEEKLY, rpm=10, max_concurrent=2
    )
    created = await repo.create_user(session, "bob", role="admin", group_id=group.id, limits=limits)
    await session.commit()
    session.expunge_all()

    loaded = await repo.get_user(session, created.id)
    assert loaded is not None
    assert loaded.role == "admin"
    assert loaded.group_id == group.id
    assert repo.Limits.of(loaded) == limits


async def test_duplicate_user_name_rejected(session: AsyncSession) -> None:
    await repo.create_user(session, "carol")
    with pytest.raises(repo.AlreadyExists, match="'carol' already exists"):
        await repo.create_user(session, "carol")


async def test_password_hash_is_argon2(session: AsyncSession) -> None:
    user = await repo.create_user(session, "dave", password="correct horse battery")
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert await repo.verify_password(user, "correct horse battery")
    assert not await repo.verify_password(user, "wrong password")


async def test_user_without_password_never_verifies(session: AsyncSession) -> None:
    user = await repo.create_user(session, "erin")
    assert not await repo.verify_password(user, "")


async def test_set_password_replaces_hash(session: AsyncSession) -> None:
    user = await repo.create_user(session, "frank", password="first password")
    await repo.set_password(session, user.id, "second password")
    assert await repo.verify_password(user, "second password")
    assert not await repo.verify_password(user, "first password")


async def test_update_and_disable_user(session: AsyncSession) -> None:
    user = await repo.create_user(session, "grace")
    await repo.update_user(session, user.id, email="grace@example.com", rpm=30, role="admin")
    await repo.disable_user(session, user.id)
    await session.commit()
    session.expunge_all()

    loaded = await repo.get_user(session, user.id)
    assert loaded is not None
    assert loaded.email == "grace@example.com"
    assert loaded.rpm == 30
    assert loaded.role == Role.ADMIN
    assert loaded.status == UserStatus.DISABLED


async def test_update_user_rejects_bad_values(session: AsyncSession) -> None:
    user = await repo.create_user(session, "heidi")
    with pytest.raises(ValueError, match="'owner' is not a valid Role"):
        await repo.update_user(session, user.id, role="owner")
    with pytest.raises(ValueError, match="rpm must be zero or more"):
        await repo.update_user(session, user.id, rpm=-1)
    with pytest.raises(repo.RecordNotFound, match="users has no row with id 9999"):
        await repo.update_user(session, 9999, rpm=1)


async def test_list_users_by_group(session: AsyncSession) -> None:
    group = await repo.create_group(session, "ops")
    await repo.create_user(session, "ivan", group_id=group.id)
    await repo.create_user(session, "judy")

    assert [user.name for user in await repo.list_users(session)] == ["ivan", "judy"]
    assert [user.name for user in await repo.list_users(session, group_id=group.id)] == ["ivan"]


async def test_group_crud(session: AsyncSession) -> None:
    group = await repo.create_group(
        session, "interns", allowed_models=["gemini-2.5-flash"], limits=repo.Limits(rpd=100)
    )
    await repo.update_group(session, group.id, price_multiplier=Decimal("0.5"), tpm=20_000)
    await session.commit()
    session.expunge_all()

    loaded = await repo.get_group(session, group.id)
    assert loaded is not None
    assert loaded.price_multiplier == Decimal("0.5")
    assert loaded.allowed_models == ["gemini-2.5-flash"]
    assert loaded.rpd == 100
    assert loaded.tpm == 20_000
    names = [group.name for group in await repo.list_groups(session)]
    assert names == [DEFAULT_GROUP, "interns"]

    await repo.delete_group(session, group.id)
    assert await repo.get_group(session, group.id) is None


async def test_group_with_members_not_deleted(session: AsyncSession) -> None:
    group = await repo.create_group(session, "sales")
    await repo.create_user(session, "kim", group_id=group.id)
    with pytest.raises(ValueError, match="still has 1 users"):
        await repo.delete_group(session, group.id)


async def test_default_group_not_deleted(session: AsyncSession) -> None:
    default = await repo.ensure_default_group(session)
    with pytest.raises(ValueError, match="cannot be deleted"):
        await repo.delete_group(session, default.id)


async def test_negative_multiplier_rejected(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="price_multiplier must be zero or more"):
        await repo.create_group(session, "broken", price_multiplier=Decimal("-1"))
