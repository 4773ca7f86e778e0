"""Admission control: model permissions, rate limits and budget reservations per request.

Before a request goes upstream, `Admission.admit` checks the models the
caller may use. It then takes one request from each requests-per-minute and
requests-per-day window, a concurrency slot, and the prompt estimate from the
tokens-per-minute window. Last, it reserves an upper-bound cost estimate
against every budget that applies. Each check is one all-or-nothing `try_add` on the
counters, so concurrent requests never overshoot a budget by more than one
request's estimate. `settle` then replaces the estimates with the true figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from teamgate.accounting.counters import Bucket, Counters, window_key
from teamgate.core.errors import BudgetExceeded, PermissionDenied, RateLimited

Period = Literal["daily", "weekly", "monthly", "total"]
PeriodBounds = Callable[[Period, datetime], tuple[datetime, datetime | None]]
"""Return a period's start and end (None for `total`) around a moment."""

MINUTE = 60
DAY = 86_400
# A concurrency slot outlives a crashed request by at most this long.
SLOT_TTL = 3_600.0
# Counters of a `total` budget never reset; ten years serves as "forever".
TOTAL_TTL = 10 * 365 * DAY


@dataclass(frozen=True, slots=True)
class RateLimits:
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """A spending limit of one subject (`key:42`, `user:7`, `group:1`, `end_user:3`)."""

    subject: str
    limit_micros: int
    period: Period


@dataclass(frozen=True, slots=True)
class Principal:
    """Everything admission needs to know about the caller, resolved from its key."""

    subjects: Sequence[tuple[str, RateLimits]]
    """Rate-limited subjects with their limits, for example the key, its user and end user."""
    budgets: Sequence[Budget] = ()
    allowed_models: frozenset[str] | None = None
    """None allows every model."""


@dataclass(slots=True)
class Ticket:
    """The reservations of one admitted request, released when it settles."""

    budget_buckets: list[Bucket] = field(default_factory=list)
    token_buckets: list[Bucket] = field(default_factory=list)
    slot_buckets: list[Bucket] = field(default_factory=list)
    reserved_micros: int = 0
    reserved_tokens: int = 0
    settled: bool = False


class Admission:
    def __init__(
        self, counters: Counters, bounds: PeriodBounds, clock: Callable[[], float] = time.time
    ) -> None:
        self._counters = counters
        self._bounds = bounds
        self._clock = clock

    async def admit(
        self, principal: Principal, model: str, estimate_micros: int, estimate_tokens: int
    ) -> Ticket:
        """Check and reserve everything for one request, or raise without holding anything."""
        if principal.allowed_models is not None and model not in principal.allowed_models:
            raise PermissionDenied(
                f"this key may not use the model {model!r}", param="model", code="model_not_allowed"
            )
        now = self._clock()
        ticket = Ticket()
        try:
            await self._take_requests(principal, now)
            await self._take_slots(principal, ticket)
            await self._take_tokens(principal, now, estimate_tokens, ticket)
            await self._reserve_budget(principal, now, estimate_micros, ticket)
        except BaseException:
            await self.settle(ticket, 0, 0)
            raise
        return ticket

    async def settle(self, ticket: Ticket, actual_micros: int, actual_tokens: int) -> None:
        """Replace the reservations with the true cost and tokens; release the slots."""
        if ticket.settled:
            return
        ticket.settled = True
        if ticket.budget_buckets and actual_micros != ticket.reserved_micros:
            await self._counters.add(ticket.budget_buckets, actual_micros - ticket.reserved_micros)
        if ticket.token_buckets and actual_tokens != ticket.reserved_tokens:
            await self._counters.add(ticket.token_buckets, actual_tokens - ticket.reserved_tokens)
        if ticket.slot_buckets:
            await self._counters.add(ticket.slot_buckets, -1)

    async def _take_requests(self, principal: Principal, now: float) -> None:
        buckets: list[Bucket] = []
        waits: list[float] = []
        for subject, limits in principal.subjects:
            for prefix, limit, window in (("rpm", limits.rpm, MINUTE), ("rpd", limits.rpd, DAY)):
                if limit is not None:
                    bucket, wait = _window_bucket(prefix, subject, limit, window, now)
                    buckets.append(bucket)
                    waits.append(wait)
        refused = await self._counters.try_add(buckets, 1) if buckets else None
        if refused is not None:
            kind = "requests per minute" if buckets[refused].key.startswith("rpm") else "per day"
            raise RateLimited(
                f"rate limit reached: {buckets[refused].limit} {kind} "
                f"for {_subject_of(buckets[refused].key)}",
                retry_after=waits[refused],
            )

    async def _take_slots(self, principal: Principal, ticket: Ticket) -> None:
        buckets = [
            Bucket(f"concurrent:{subject}", limits.max_concurrent, SLOT_TTL)
            for subject, limits in principal.subjects
            if limits.max_concurrent is not None
        ]
        if not buckets:
            return
        refused = await self._counters.try_add(buckets, 1)
        if refused is not None:
            raise RateLimited(
                f"too many concurrent requests for {_subject_of(buckets[refused].key)} "
                f"(limit {buckets[refused].limit})",
                retry_after=1,
            )
        ticket.slot_buckets = buckets

    async def _take_tokens(
        self, principal: Principal, now: float, estimate: int, ticket: Ticket
    ) -> None:
        buckets: list[Bucket] = []
        waits: list[float] = []
        for subject, limits in principal.subjects:
            if limits.tpm is not None:
                bucket, wait = _window_bucket("tpm", subject, limits.tpm, MINUTE, now)
                buckets.append(bucket)
                waits.append(wait)
        if not buckets:
            return
        refused = await self._counters.try_add(buckets, estimate)
        if refused is not None:
            raise RateLimited(
                f"token rate limit reached: {buckets[refused].limit} tokens per minute "
                f"for {_subject_of(buckets[refused].key)}",
                retry_after=waits[refused],
            )
        ticket.token_buckets = buckets
        ticket.reserved_tokens = estimate

    async def _reserve_budget(
        self, principal: Principal, now: float, estimate: int, ticket: Ticket
    ) -> None:
        moment = datetime.fromtimestamp(now, UTC)
        buckets: list[Bucket] = []
        ends: list[datetime | None] = []
        for budget in principal.budgets:
            start, end = self._bounds(budget.period, moment)
            ttl = (end - moment).total_seconds() + MINUTE if end is not None else TOTAL_TTL
            buckets.append(Bucket(spend_key(budget, start), budget.limit_micros, ttl))
            ends.append(end)
        if not buckets:
            return
        refused = await self._counters.try_add(buckets, estimate)
        if refused is not None:
            raise _budget_error(principal.budgets[refused], ends[refused], moment)
        ticket.budget_buckets = buckets
        ticket.reserved_micros = estimate


def spend_key(budget: Budget, start: datetime) -> str:
    """Return the counter key of `budget` for the period that starts at `start`."""
    return f"spend:{budget.subject}:{budget.period}:{int(start.timestamp())}"


def _window_bucket(
    prefix: str, subject: str, limit: int, window: int, now: float
) -> tuple[Bucket, float]:
    key, remaining = window_key(prefix, subject, window, now)
    return Bucket(key, limit, remaining), remaining


def _subject_of(key: str) -> str:
    # Keys look like "rpm:key:42:29571234"; the subject is the middle part.
    parts = key.split(":")
    return ":".join(parts[1:3])


def _budget_error(budget: Budget, end: datetime | None, now: datetime) -> BudgetExceeded:
    limit = budget.limit_micros / 1_000_000
    if end is None:
        return BudgetExceeded(
            f"the total budget of ${limit:.2f} for {budget.subject} is used up; "
            "ask an admin to raise it"
        )
    return BudgetExceeded(
        f"the {budget.period} budget of ${limit:.2f} for {budget.subject} is used up; "
        f"it resets at {end.isoformat()}",
        retry_after=max(1.0, (end - now).total_seconds()),
    )
