"""Accounts on the request path: who is calling, may they, and what did it cost.

`AccountService.authenticate` turns a personal key into a `Caller`, and on a
trusted app key also the app's forwarded user headers. `admit` reserves the
request's limits and budgets. `finish` settles them with the true cost and
queues the ledger record. Key lookups are cached briefly, so the database is
not read on every request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from teamgate.accounting.admission import (
    Admission,
    Budget,
    Period,
    Principal,
    RateLimits,
    Ticket,
    spend_key,
)
from teamgate.accounting.counters import Counters, CountersUnavailable
from teamgate.accounting.ledger import LedgerWriter
from teamgate.accounting.prices import (
    ModelPrice,
    TokenCounts,
    cost_micros,
    estimate_max_cost_micros,
    estimate_prompt_tokens,
    find_price,
)
from teamgate.core.errors import AuthenticationFailed, PermissionDenied, ServiceUnavailable
from teamgate.core.messages import ChatRequest, MediaPart, TextPart, Usage
from teamgate.storage import StorageUnavailable
from teamgate.storage.models import ApiKey, EndUser, Group, UsageRecord, User
from teamgate.storage.periods import period_end, period_start
from teamgate.storage.repository import keys as key_repo
from teamgate.storage.repository.end_users import get_or_create_end_user
from teamgate.storage.repository.ledger import UsageEntry, insert_usage_records, spend_since
from teamgate.storage.repository.users import get_group

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 5.0
# Unknown, revoked and expired keys are refused from memory for this long.
REFUSED_CACHE_SECONDS = 2.0
MAX_REFUSED_KEYS = 10_000
# Open WebUI's forwarded identity headers (ENABLE_FORWARD_USER_INFO_HEADERS).
USER_ID_HEADER = "x-openwebui-user-id"
USER_EMAIL_HEADER = "x-openwebui-user-email"
USER_NAME_HEADER = "x-openwebui-user-name"
USER_ROLE_HEADER = "x-openwebui-user-role"
MAX_EXTERNAL_ID = 255

_KEY_ERRORS = {
    key_repo.KeyState.NOT_FOUND: "invalid API key",
    key_repo.KeyState.DISABLED: "this API key is disabled",
    key_repo.KeyState.REVOKED: "this API key was revoked",
    key_repo.KeyState.EXPIRED: "this API key has expired",
    key_repo.KeyState.OWNER_DISABLED: "the owner of this API key is disabled",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The person a request is billed to, and the limits that apply to it."""

    key_id: int | None
    user_id: int | None
    group_id: int | None
    end_user_id: int | None
    principal: Principal
    multiplier: Decimal


@dataclass(slots=True)
class _KeyEntry:
    key: ApiKey
    owner: User
    group: Group
    expires: float
    callers: dict[int | None, Caller] = field(default_factory=dict)
    """Callers built from this entry, by end-user id (None for the key's own owner)."""


@dataclass
class AccountService:
    sessions: async_sessionmaker[AsyncSession]
    counters: Counters
    prices: Mapping[str, ModelPrice]
    timezone: str = "UTC"
    default_max_output_tokens: int = 8192
    cny_per_usd: Decimal | None = None
    config_budget: Budget | None = None
    """The budget shared by the configuration's keys, None when they may not spend."""
    clock: Any = time.time
    _keys: dict[str, _KeyEntry] = field(default_factory=dict)
    _end_users: dict[tuple[int, str], EndUser] = field(default_factory=dict)
    _seeded: set[str] = field(default_factory=set)
    _periods: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)
    _refused: dict[str, tuple[float, str]] = field(default_factory=dict)
    _price_cache: dict[str, ModelPrice | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.timezone)
        self.admission = Admission(self.counters, self._bounds, self.clock)
        self.ledger = LedgerWriter(self._store)

    def _bounds(self, period: Period, moment: datetime) -> tuple[datetime, datetime | None]:
        # Every request needs the same few periods, so each result is kept until its
        # period ends, because the time-zone arithmetic costs several microseconds.
        cached = self._periods.get(period)
        if cached is not None and cached[0] <= moment and (cached[1] is None or moment < cached[1]):
            return cached
        bounds = period_start(period, moment, self._zone), period_end(period, moment, self._zone)
        self._periods[period] = bounds
        return bounds

    async def start(self) -> None:
        self.ledger.start()

    async def close(self) -> None:
        await self.ledger.close()

    async def authenticate(
        self, plaintext: str, headers: Mapping[str, str], body_user: str | None
    ) -> Caller:
        """Resolve a personal key to its caller; raise AuthenticationFailed when it may not call."""
        with _backend_errors():
            entry = await self._key_entry(plaintext)
            end_user = None
            if entry.key.trusted_app:
                end_user = await self._end_user(entry, headers, body_user)
            end_user_id = end_user.id if end_user is not None else None
            caller = entry.callers.get(end_user_id)
            if caller is None:
                group = await self._end_user_group(end_user, entry)
                caller = entry.callers[end_user_id] = _caller(entry, end_user, group)
            return caller

    def config_caller(self, admin: bool) -> Caller | None:
        """Return the caller for a key from the configuration file.

        The admin key may call models only when a budget is configured for the
        configuration's keys; `api_keys` without such a budget are not limited.
        """
        if self.config_budget is None:
            if admin:
                raise PermissionDenied(
                    "the admin key manages teamgate and has no budget for model traffic; "
                    "create a personal key with 'teamgate key create --user NAME', "
                    "or set accounting.admin_budget_usd",
                    code="admin_key_not_for_models",
                )
            return None
        principal = Principal(subjects=[], budgets=[self.config_budget])
        return Caller(None, None, None, None, principal, Decimal(1))

    def forget_keys(self) -> None:
        """Drop the cached key lookups, so the next request reads its key, owner and group again.

        Only this process's cache is dropped; other processes serving the same
        database keep theirs for up to KEY_CACHE_SECONDS.
        """
        self._keys.clear()
        self._refused.clear()

    async def check_key(self, plaintext: str) -> None:
        """Raise AuthenticationFailed unless `plaintext` is a usable personal key."""
        with _backend_errors():
            await self._key_entry(plaintext)

    async def _key_entry(self, plaintext: str) -> _KeyEntry:
        digest = key_repo.hash_key(plaintext)
        now = self.clock()
        entry = self._keys.get(digest)
        if entry is not None and entry.expires > now:
            return entry
        refused = self._refused.get(digest)
        if refused is not None and refused[0] > now:
            raise AuthenticationFailed(refused[1])
        async with self.sessions() as session:
            lookup = await key_repo.find_key(session, plaintext)
            if not lookup.usable or lookup.key is None or lookup.owner is None:
                self._keys.pop(digest, None)
                message = _KEY_ERRORS.get(lookup.state, "invalid API key")
                self._remember_refusal(digest, message, now)
                raise AuthenticationFailed(message)
            group = await get_group(session, lookup.owner.group_id)
        assert group is not None, "users.group_id is a foreign key"
        entry = _KeyEntry(lookup.key, lookup.owner, group, now + KEY_CACHE_SECONDS)
        self._keys[digest] = entry
        return entry

    def _remember_refusal(self, digest: str, message: str, now: float) -> None:
        # A flood of wrong keys would otherwise cost one database query each.
        if len(self._refused) >= MAX_REFUSED_KEYS:
            self._refused.clear()
        self._refused[digest] = (now + REFUSED_CACHE_SECONDS, message)

    async def _end_user(
        self, entry: _KeyEntry, headers: Mapping[str, str], body_user: str | None
    ) -> EndUser | None:
        external = headers.get(USER_ID_HEADER) or body_user
        if not external:
            return None
        external = _fit_external_id(external)
        cache_key = (entry.owner.id, external)
        cached = self._end_users.get(cache_key)
        if cached is not None:
            return cached
        async with self.sessions() as session:
            end_user = await get_or_create_end_user(
                session,
                entry.owner.id,
                external,
                email=_clip(headers.get(USER_EMAIL_HEADER), 320),
                name=_clip(headers.get(USER_NAME_HEADER), 255),
                role=_clip(headers.get(USER_ROLE_HEADER), 64),
            )
            await session.commit()
        self._end_users[cache_key] = end_user
        return end_user

    async def _end_user_group(self, end_user: EndUser | None, entry: _KeyEntry) -> Group:
        if end_user is None or end_user.group_id == entry.group.id:
            return entry.group
        async with self.sessions() as session:
            group = await get_group(session, end_user.group_id)
        return group or entry.group

    async def admit(
        self, caller: Caller, chat: ChatRequest, upstream_model: str, model_cap: int | None
    ) -> Ticket:
        """Check the caller's limits and reserve an upper-bound cost for `chat`.

        A request under a budget that sets no output cap (nor does its model) gets
        `default_max_output_tokens` as its cap, written into `chat`, so that the
        reservation is a true upper bound of what the upstream can return.
        """
        prompt_tokens = _prompt_estimate(chat)
        price = self._price(upstream_model)
        if chat.max_output_tokens is None and model_cap is None and caller.principal.budgets:
            chat.max_output_tokens = self.default_max_output_tokens
        estimate = 0
        if price is not None:
            max_output = chat.max_output_tokens or model_cap or self.default_max_output_tokens
            estimate = estimate_max_cost_micros(price, prompt_tokens, max_output, caller.multiplier)
        with _backend_errors():
            await self._seed_budgets(caller)
            return await self.admission.admit(caller.principal, chat.model, estimate, prompt_tokens)

    async def _seed_budgets(self, caller: Caller) -> None:
        """Load each budget's spend for the current period from the ledger, once per period."""
        moment = datetime.fromtimestamp(self.clock(), UTC)
        for budget in caller.principal.budgets:
            start, end = self._bounds(budget.period, moment)
            key = spend_key(budget, start)
            if key in self._seeded:
                continue
            await self.ledger.flush()
            async with self.sessions() as session:
                spent = await _spend(session, budget.subject, start)
            ttl = (end - moment).total_seconds() + 60 if end is not None else 10 * 365 * 86_400
            await self.counters.set_if_absent(key, spent, ttl)
            self._seeded.add(key)

    def _price(self, upstream_model: str) -> ModelPrice | None:
        # The prefix search runs once per model id; the table does not change at run time.
        if upstream_model not in self._price_cache:
            self._price_cache[upstream_model] = find_price(self.prices, upstream_model)
        return self._price_cache[upstream_model]

    def cost(self, multiplier: Decimal, upstream_model: str, usage: Usage) -> int:
        """Price `usage` in micro-USD; a model missing from the price table costs nothing."""
        price = self._price(upstream_model)
        if price is None:
            return 0
        return cost_micros(price, TokenCounts.from_usage(usage), multiplier)

    async def finish(self, ticket: Ticket | None, entry: UsageEntry) -> None:
        """Settle the reservations with the recorded cost and queue the ledger entry."""
        self.ledger.append(entry)
        if ticket is None:
            return
        try:
            await self.admission.settle(ticket, entry.cost_micro_usd, _tokens(entry))
        except CountersUnavailable as exc:
            # The ledger still has the record; the counters catch up when their
            # period key is seeded again from it.
            logger.warning(
                "accounts: settling request %s failed (%s)",
                entry.request_id,
                type(exc.__cause__).__name__,
            )

    async def _store(self, records: Any) -> None:
        async with self.sessions() as session:
            await insert_usage_records(session, records, count_new=False)
            used = {
                record.api_key_id: record.created_at
                for record in records
                if record.api_key_id is not None
            }
            if used:
                await key_repo.touch_key_last_used(session, used)
            await session.commit()


CONFIG_SUBJECT = "config:keys"


async def _spend(session: AsyncSession, subject: str, start: datetime) -> int:
    if subject == CONFIG_SUBJECT:
        # Requests on the configuration's keys are stored with no user and no key.
        query = select(func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0)).where(
            UsageRecord.user_id.is_(None),
            UsageRecord.api_key_id.is_(None),
            UsageRecord.created_at >= start,
        )
        return int(await session.scalar(query) or 0)
    kind, _, subject_id = subject.partition(":")
    return await spend_since(session, kind, int(subject_id), start)


@contextmanager
def _backend_errors() -> Iterator[None]:
    """Turn an unreachable database or Redis into a 503 for the client."""
    try:
        yield
    except StorageUnavailable as exc:
        logger.error("accounts: the database is unavailable (%s)", type(exc.__cause__).__name__)
        raise ServiceUnavailable("teamgate's database is unavailable; try again shortly") from exc
    except CountersUnavailable as exc:
        logger.error("accounts: Redis is unavailable (%s)", type(exc.__cause__).__name__)
        raise ServiceUnavailable("teamgate's Redis counter store is unavailable") from exc


def _fit_external_id(external: str) -> str:
    """Return an id that fits its column; a longer one keeps a digest of the whole value.

    Clipping alone would let two long ids that share a prefix share one end user.
    """
    if len(external) <= MAX_EXTERNAL_ID:
        return external
    return external[:190] + "#" + hashlib.sha256(external.encode()).hexdigest()


def _clip(value: str | None, length: int) -> str | None:
    # Column lengths of end_users: a longer profile value is cut, never rejected.
    return value[:length] if value is not None else None


def _tokens(entry: UsageEntry) -> int:
    return entry.input_tokens + entry.output_tokens


def _prompt_estimate(chat: ChatRequest) -> int:
    lengths = [
        len(part.text)
        for message in chat.messages
        for part in message.parts
        if isinstance(part, TextPart)
    ]
    images = sum(
        1 for message in chat.messages for part in message.parts if isinstance(part, MediaPart)
    )
    return estimate_prompt_tokens(lengths, images)


def _limits(*rows: Any) -> RateLimits:
    """Take each limit from the first row that sets it (own row first, then group defaults)."""

    def first(name: str) -> int | None:
        return next((getattr(row, name) for row in rows if getattr(row, name) is not None), None)

    return RateLimits(
        rpm=first("rpm"), tpm=first("tpm"), rpd=first("rpd"), max_concurrent=first("max_concurrent")
    )


def _budget(subject: str, *rows: Any) -> Budget | None:
    for row in rows:
        if row.budget_micro_usd is not None:
            return Budget(subject, row.budget_micro_usd, row.budget_period)
    return None


def _caller(entry: _KeyEntry, end_user: EndUser | None, group: Group) -> Caller:
    key, owner = entry.key, entry.owner
    subjects: list[tuple[str, RateLimits]] = [
        (f"key:{key.id}", _limits(key)),
        (f"user:{owner.id}", _limits(owner, entry.group)),
    ]
    budgets = [_budget(f"key:{key.id}", key), _budget(f"user:{owner.id}", owner, entry.group)]
    if end_user is not None:
        subjects.append((f"end_user:{end_user.id}", _limits(end_user, group)))
        budgets.append(_budget(f"end_user:{end_user.id}", end_user, group))
    allowed = _allowed_models(key.allowed_models, group.allowed_models)
    return Caller(
        key_id=key.id,
        user_id=owner.id,
        group_id=group.id,
        end_user_id=end_user.id if end_user is not None else None,
        principal=Principal(
            subjects=subjects,
            budgets=[budget for budget in budgets if budget is not None],
            allowed_models=allowed,
        ),
        multiplier=Decimal(group.price_multiplier),
    )


def _allowed_models(*lists: list[str] | None) -> frozenset[str] | None:
    allowed: frozenset[str] | None = None
    for models in lists:
        if models is not None:
            allowed = frozenset(models) if allowed is None else allowed & frozenset(models)
    return allowed
