from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage import repository as repo
from teamgate.storage.models import ApiKey, KeyStatus, User

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def _owner(session: AsyncSession, name: str = "owner") -> User:
    return await repo.create_user(session, name)


async def test_key_stored_only_as_hash(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, key = await repo.create_key(session, owner.id, "laptop")
    await session.commit()

    assert plaintext.startswith("sk-tg-")
    assert len(plaintext) == len("sk-tg-") + 43  # 32 bytes in unpadded base64url
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert key.prefix == plaintext[:12]
    stored = (await session.execute(select(ApiKey.__table__))).one()._asdict()
    assert plaintext not in [str(value) for value in stored.values()]


async def test_keys_are_unique(session: AsyncSession) -> None:
    owner = await _owner(session)
    first, _ = await repo.create_key(session, owner.id, "one")
    second, _ = await repo.create_key(session, owner.id, "two")
    assert first != second


async def test_find_key_by_plaintext(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, key = await repo.create_key(session, owner.id, "ci")
    await session.commit()

    lookup = await repo.find_key(session, plaintext, now=NOW)
    assert lookup.state is repo.KeyState.ACTIVE
    assert lookup.usable
    assert lookup.key is not None
    assert lookup.key.id == key.id
    assert lookup.owner is not None
    assert lookup.owner.id == owner.id


async def test_find_unknown_key(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, _ = await repo.create_key(session, owner.id, "ci")

    lookup = await repo.find_key(session, plaintext[:-1] + "x", now=NOW)
    assert lookup.state is repo.KeyState.NOT_FOUND
    assert lookup.key is None
    assert not lookup.usable


async def test_revoked_key_reported(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, key = await repo.create_key(session, owner.id, "old")
    await repo.revoke_key(session, key.id, now=NOW)
    await session.commit()

    lookup = await repo.find_key(session, plaintext, now=NOW)
    assert lookup.state is repo.KeyState.REVOKED
    assert lookup.key is not None
    assert lookup.key.revoked_at == NOW
    with pytest.raises(ValueError, match="is revoked; create a new key"):
        await repo.set_key_enabled(session, key.id, True)


async def test_disabled_key_reported_and_enabled_again(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, key = await repo.create_key(session, owner.id, "paused")
    await repo.set_key_enabled(session, key.id, False)
    assert (await repo.find_key(session, plaintext, now=NOW)).state is repo.KeyState.DISABLED

    await repo.set_key_enabled(session, key.id, True)
    assert (await repo.find_key(session, plaintext, now=NOW)).state is repo.KeyState.ACTIVE


async def test_expired_key_reported(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, _ = await repo.create_key(session, owner.id, "trial", expires_at=NOW)
    await session.commit()
    session.expunge_all()

    before = await repo.find_key(session, plaintext, now=NOW - timedelta(seconds=1))
    at_expiry = await repo.find_key(session, plaintext, now=NOW)
    assert before.state is repo.KeyState.ACTIVE
    assert at_expiry.state is repo.KeyState.EXPIRED


async def test_disabled_owner_reported(session: AsyncSession) -> None:
    owner = await _owner(session)
    plaintext, _ = await repo.create_key(session, owner.id, "ci")
    await repo.disable_user(session, owner.id)

    assert (await repo.find_key(session, plaintext, now=NOW)).state is repo.KeyState.OWNER_DISABLED


async def test_list_keys_without_hashes(session: AsyncSession) -> None:
    alice = await _owner(session, "alice")
    bob = await _owner(session, "bob")
    _, alice_key = await repo.create_key(
        session, alice.id, "app", trusted_app=True, allowed_models=["gemini-2.5-pro"]
    )
    await repo.create_key(session, bob.id, "cli", limits=repo.Limits(tpm=1000))
    await session.commit()

    everyone = await repo.list_keys(session)
    alices = await repo.list_keys(session, owner_user_id=alice.id)
    assert {info.name for info in everyone} == {"app", "cli"}
    assert [info.id for info in alices] == [alice_key.id]
    assert alices[0].prefix == alice_key.prefix
    assert alices[0].trusted_app
    assert alices[0].allowed_models == ["gemini-2.5-pro"]
    assert alices[0].status is KeyStatus.ACTIVE
    assert not hasattr(alices[0], "key_hash")
    assert alice_key.key_hash not in repr(alices[0])


async def test_update_key_limits(session: AsyncSession) -> None:
    owner = await _owner(session)
    _, key = await repo.create_key(session, owner.id, "ci")
    await repo.update_key(session, key.id, budget_micro_usd=2_000_000, budget_period="daily")
    assert key.budget_micro_usd == 2_000_000
    assert key.budget_period == "daily"
    with pytest.raises(ValueError, match="'yearly' is not a valid BudgetPeriod"):
        await repo.update_key(session, key.id, budget_period="yearly")


async def test_key_for_unknown_owner_rejected(session: AsyncSession) -> None:
    with pytest.raises(repo.RecordNotFound, match="users has no row with id 4242"):
        await repo.create_key(session, 4242, "ghost")


async def test_touch_last_used_keeps_newest(session: AsyncSession) -> None:
    owner = await _owner(session)
    _, first = await repo.create_key(session, owner.id, "one")
    _, second = await repo.create_key(session, owner.id, "two")
    await session.commit()

    await repo.touch_key_last_used(session, {first.id: NOW, second.id: NOW})
    await repo.touch_key_last_used(session, {first.id: NOW - timedelta(hours=1)})
    await repo.touch_key_last_used(session, {second.id: NOW + timedelta(minutes=5)})
    await repo.touch_key_last_used(session, {})
    await session.commit()
    session.expunge_all()

    used = {info.id: info.last_used_at for info in await repo.list_keys(session)}
    assert used[first.id] == NOW
    assert used[second.id] == NOW + timedelta(minutes=5)
