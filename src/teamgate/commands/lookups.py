"""Find the user, group or API key that a command names, or raise a CommandError saying how."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.commands.common import CommandError
from teamgate.storage.models import ApiKey, Group, User
from teamgate.storage.repository import KEY_PREFIX, get_group_by_name, get_user_by_name, hash_key

# Longer than any stored prefix (12 characters), so such an argument is taken as a whole key.
_WHOLE_KEY_MIN_LENGTH = 20


async def require_user(session: AsyncSession, name: str) -> User:
    user = await get_user_by_name(session, name)
    if user is None:
        raise CommandError(f"unknown user {name!r}; list users with `teamgate user list`")
    return user


async def require_group(session: AsyncSession, name: str) -> Group:
    group = await get_group_by_name(session, name)
    if group is None:
        raise CommandError(
            f"unknown group {name!r}; create it with `teamgate group add {name}` "
            "or list groups with `teamgate group list`"
        )
    return group


async def require_key(session: AsyncSession, reference: str) -> ApiKey:
    """Find a key by id, by the start of its prefix (`sk-tg-` may be left out) or by the whole key.

    A prefix that matches more than one key raises a CommandError listing them.
    """
    reference = reference.strip()
    if not reference:
        raise CommandError(
            "the key reference is empty; give a key prefix such as sk-tg-AbC or an id"
        )
    if reference.isdigit():
        key = await session.get(ApiKey, int(reference))
        if key is None:
            raise CommandError(f"no API key has id {reference}; list keys with `teamgate key list`")
        return key
    if reference.startswith(KEY_PREFIX) and len(reference) >= _WHOLE_KEY_MIN_LENGTH:
        key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(reference)))
        if key is None:
            raise CommandError("no stored API key matches the key given; check it was copied whole")
        return key
    if KEY_PREFIX.startswith(reference):
        raise CommandError(
            f"the prefix {reference!r} matches every key; give the characters after {KEY_PREFIX}"
        )
    if not reference.startswith(KEY_PREFIX):
        reference = KEY_PREFIX + reference
    return await _key_by_prefix(session, reference)


async def _key_by_prefix(session: AsyncSession, reference: str) -> ApiKey:
    query = (
        select(ApiKey, User.name)
        .join(User, User.id == ApiKey.owner_user_id)
        .where(ApiKey.prefix.startswith(reference, autoescape=True))
        .order_by(ApiKey.id)
    )
    matches = [(key, owner) for key, owner in await session.execute(query)]
    if not matches:
        raise CommandError(
            f"no API key has the prefix {reference!r}; list keys with `teamgate key list`"
        )
    if len(matches) > 1:
        listed = ", ".join(
            f"{key.prefix} (id {key.id}, {owner}/{key.name})" for key, owner in matches
        )
        raise CommandError(
            f"the prefix {reference!r} matches {len(matches)} keys: {listed}; "
            "give a longer prefix or the id"
        )
    return matches[0][0]
