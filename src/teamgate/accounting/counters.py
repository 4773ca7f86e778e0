"""Counters for rate limits, concurrency slots and budget reservations.

One interface, `Counters`, with two implementations: `MemoryCounters` for a single
process and `RedisCounters` for several workers that must enforce one shared total.

Callers build a `Bucket` per limit and call `try_add`, which adds an amount to every
bucket or to none of them:

- requests per minute or day: amount 1 on a fixed-window key from `window_key`;
- concurrent requests: amount 1 on a key without a window, released with `add(..., -1)`;
- tokens per minute: the estimate at admission, then `add` of actual minus estimate;
- budgets: the cost estimate in micro-USD on the period's spend key, then `add` of
  actual minus estimate.

Fixed windows are exact at their boundary. With a limit of N, the first N adds in a window
are accepted and the next one is rejected. The known cost of fixed windows is the burst at
the edge. A client can send N requests at the end of one window and N more at the start of
the next, so up to 2N requests can arrive within one window length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

DEFAULT_PREFIX = "teamgate:"

# Socket timeouts, in seconds, of a client that RedisCounters builds from a URL. The
# URL's own `socket_timeout` and `socket_connect_timeout` query parameters override them.
DEFAULT_REDIS_TIMEOUT = 5.0

# MemoryCounters checks _SWEEP_BATCH stored keys for expiry after every _SWEEP_INTERVAL
# bucket updates. An update creates at most one key, so the sweep checks keys twice as fast
# as updates can create them.
_SWEEP_INTERVAL = 256
_SWEEP_BATCH = 512


class CountersUnavailable(Exception):
    """Connection failure or timeout of the counter store, meant to become HTTP 503."""


def _check_amount(amount: int) -> None:
    if amount < 0:
        raise ValueError(f"try_add amount must be >= 0, got {amount}. Use add() to subtract.")


def _check_ttl(key: str, ttl: float) -> None:
    if not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError(f"counter {key!r}: ttl must be a positive finite number, got {ttl}")


def _check_seed(key: str, value: int, ttl: float) -> None:
    _check_ttl(key, ttl)
    if value < 0:
        raise ValueError(f"counter {key!r}: seed value must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One counter of a `try_add` or `add` call.

    `key` names the counter, and a fixed-window caller puts the window number in it.
    `limit` is the maximum total after an add, or None to count without a limit.
    `ttl` is the number of seconds after the last add when the counter may be forgotten.
    """

    key: str
    limit: int | None
    ttl: float

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"bucket {self.key!r}: limit must be >= 0 or None, got {self.limit}")
        _check_ttl(self.key, self.ttl)


class Counters(Protocol):
    """Shared integer counters with all-or-nothing limited adds."""

    async def try_add(self, buckets: Sequence[Bucket], amount: int) -> int | None:
        """Add `amount` to every bucket if each stays within its limit, else add nothing.

        Returns None when the amount was added, or the index of the first bucket whose
        total would exceed its limit. Each bucket key must appear once. `amount` must be
        >= 0, and an amount of 0 only checks that no bucket is already over its limit.
        """
        ...

    async def add(self, buckets: Sequence[Bucket], amount: int) -> None:
        """Add `amount` to every bucket without checking limits, clamping totals at zero.

        A negative amount releases a concurrency slot or returns the unused part of a
        reservation.
        """
        ...

    async def get(self, key: str) -> int:
        """Return the counter's total, or 0 when it does not exist or has expired."""
        ...

    async def set_if_absent(self, key: str, value: int, ttl: float) -> bool:
        """Seed a counter that does not exist yet and return whether it was set.

        An example is a budget period's spend, recomputed from the ledger at start.
        """
        ...

    async def close(self) -> None:
        """Release the connections or memory that the counters hold."""
        ...


def window_key(prefix: str, subject: str, window_seconds: int, now: float) -> tuple[str, float]:
    """Build the key of the fixed window that contains `now`, and the seconds left in it.

    `now` is Unix time (`time.time()`), so every worker picks the same window. Windows are
    aligned to the epoch, so a 60 s window starts on the minute and an 86,400 s window at
    00:00 UTC. The seconds left serve as the bucket's ttl and, through
    `retry_after_seconds`, as the Retry-After of a rejected request.
    """
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be a positive integer, got {window_seconds}")
    number = int(now // window_seconds)
    return f"{prefix}:{subject}:{number}", (number + 1) * window_seconds - now


def retry_after_seconds(seconds: float) -> int:
    """Round a wait up to the whole seconds of an HTTP Retry-After header, at least 1."""
    return max(1, math.ceil(seconds))


class _Entry:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: int, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


class MemoryCounters:
    """Counters in a dict of this process.

    No method awaits between reading and writing the dict, so each call is atomic with
    respect to other tasks on the same event loop. The counters are not thread-safe and
    are not shared between processes. Expired entries are removed when a call reads them
    and by a bounded sweep that runs every few hundred updates.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Use `clock`, in seconds, for expiry times. Tests pass a fake clock."""
        self._entries: dict[str, _Entry] = {}
        self._clock = clock
        self._updates_since_sweep = 0
        self._sweep_keys: list[str] = []

    def __len__(self) -> int:
        """Return the number of stored counters, including expired ones not yet removed."""
        return len(self._entries)

    async def try_add(self, buckets: Sequence[Bucket], amount: int) -> int | None:
        _check_amount(amount)
        now = self._clock()
        entries = self._entries
        for index, bucket in enumerate(buckets):
            limit = bucket.limit
            if limit is None:
                continue
            entry = entries.get(bucket.key)
            current = entry.value if entry is not None and entry.expires_at > now else 0
            if current + amount > limit:
                return index
        self._add_now(buckets, amount, now)
        return None

    async def add(self, buckets: Sequence[Bucket], amount: int) -> None:
        self._add_now(buckets, amount, self._clock())

    async def get(self, key: str) -> int:
        entry = self._entries.get(key)
        if entry is None:
            return 0
        if entry.expires_at <= self._clock():
            del self._entries[key]
            return 0
        return entry.value

    async def set_if_absent(self, key: str, value: int, ttl: float) -> bool:
        _check_seed(key, value, ttl)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            return False
        self._entries[key] = _Entry(value, now + ttl)
        return True

    async def close(self) -> None:
        self._entries.clear()
        self._sweep_keys.clear()

    def _add_now(self, buckets: Sequence[Bucket], amount: int, now: float) -> None:
        entries = self._entries
        for bucket in buckets:
            entry = entries.get(bucket.key)
            if entry is None:
                entries[bucket.key] = _Entry(amount if amount > 0 else 0, now + bucket.ttl)
                continue
            total = amount + (entry.value if entry.expires_at > now else 0)
            entry.value = total if total > 0 else 0
            entry.expires_at = now + bucket.ttl
        self._updates_since_sweep += len(buckets)
        if self._updates_since_sweep >= _SWEEP_INTERVAL:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Remove the expired entries among the next _SWEEP_BATCH keys of a key snapshot."""
        self._updates_since_sweep = 0
        if not self._sweep_keys:
            self._sweep_keys = list(self._entries)
        batch = self._sweep_keys[-_SWEEP_BATCH:]
        del self._sweep_keys[-_SWEEP_BATCH:]
        entries = self._entries
        for key in batch:
            entry = entries.get(key)
            if entry is not None and entry.expires_at <= now:
                del entries[key]
