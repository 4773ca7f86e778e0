"""Behaviour of the rate-limit and budget counters, in process and in Redis.

The Redis cases run against the server in TEAMGATE_TEST_REDIS_URL and are skipped when it
is unset. Each Redis test writes under its own key prefix and deletes those keys afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from teamgate.accounting.counters import (
    Bucket,
    Counters,
    CountersUnavailable,
    MemoryCounters,
    retry_after_seconds,
    window_key,
)
from teamgate.accounting.redis_counters import RedisCounters

REDIS_URL = os.environ.get("TEAMGATE_TEST_REDIS_URL")
REDIS_SKIP_REASON = "TEAMGATE_TEST_REDIS_URL is not set, so the Redis counter tests cannot run"

BUDGET_LIMIT = 1_000_000
BUDGET_SPENT = 950_000
ESTIMATE = 30_000
ACTUAL = 25_000
CONCURRENT_REQUESTS = 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Store:
    """Counters under test, plus what a test needs to open more of them or to wait."""

    kind: str
    counters: Counters
    open_another: Callable[[], Counters]
    expire: Callable[[float], Awaitable[None]]


async def _delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        clock = FakeClock()
        memory = MemoryCounters(clock=clock)

        async def advance(seconds: float) -> None:
            clock.now += seconds

        yield Store("memory", memory, lambda: memory, advance)
        return

    if REDIS_URL is None:
        pytest.skip(REDIS_SKIP_REASON)
    prefix = f"teamgate-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    opened: list[RedisCounters] = []

    def open_another() -> Counters:
        counters = RedisCounters(REDIS_URL, prefix=prefix)
        opened.append(counters)
        return counters

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    try:
        yield Store("redis", RedisCounters(client, prefix=prefix), open_another, sleep)
    finally:
        for counters in opened:
            await counters.close()
        await _delete_prefix(client, prefix)
        await client.aclose()


def minute_bucket(window: int, limit: int | None) -> Bucket:
    key, remaining = window_key("rpm", "key:42", 60, window * 60.0 + 1.0)
    return Bucket(key, limit, remaining)


# Pure helpers


def test_window_key_names_window() -> None:
    key, remaining = window_key("rpm", "key:42", 60, 1_774_274_430.25)
    assert key == "rpm:key:42:29571240"
    assert remaining == pytest.approx(29.75)


def test_window_key_changes_at_boundary() -> None:
    before, remaining_before = window_key("rpd", "user:7", 86_400, 2 * 86_400 - 0.001)
    at, remaining_at = window_key("rpd", "user:7", 86_400, 2 * 86_400)
    assert before == "rpd:user:7:1"
    assert at == "rpd:user:7:2"
    assert remaining_before == pytest.approx(0.001)
    assert remaining_at == 86_400


def test_window_key_rejects_zero_window() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        window_key("rpm", "key:1", 0, 100.0)


def test_retry_after_rounds_up() -> None:
    assert retry_after_seconds(0.001) == 1
    assert retry_after_seconds(0.0) == 1
    assert retry_after_seconds(29.2) == 30
    assert retry_after_seconds(30.0) == 30


def test_bucket_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="limit"):
        Bucket("k", -1, 1.0)
    for ttl in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="ttl"):
            Bucket("k", 1, ttl)


# Both implementations


async def test_limit_exact_at_boundary(store: Store) -> None:
    counters = store.counters
    first = minute_bucket(window=100, limit=5)
    for _ in range(5):
        assert await counters.try_add([first], 1) is None
    assert await counters.try_add([first], 1) == 0
    assert await counters.get(first.key) == 5

    next_window = minute_bucket(window=101, limit=5)
    assert next_window.key != first.key
    assert await counters.try_add([next_window], 1) is None
    assert await counters.get(next_window.key) == 1


async def test_amount_filling_limit_exactly(store: Store) -> None:
    bucket = Bucket("tpm:key:1:7", 1000, 60.0)
    assert await store.counters.try_add([bucket], 400) is None
    assert await store.counters.try_add([bucket], 601) == 0
    assert await store.counters.try_add([bucket], 600) is None
    assert await store.counters.get(bucket.key) == 1000


async def test_try_add_all_or_nothing(store: Store) -> None:
    counters = store.counters
    buckets = [
        Bucket("rpm:key:1:9", 10, 60.0),
        Bucket("rpm:user:1:9", 10, 60.0),
        Bucket("rpd:user:1:0", 3, 86_400.0),
    ]
    assert await counters.set_if_absent("rpd:user:1:0", 3, 86_400.0)

    assert await counters.try_add(buckets, 1) == 2

    assert await counters.get("rpm:key:1:9") == 0
    assert await counters.get("rpm:user:1:9") == 0
    assert await counters.get("rpd:user:1:0") == 3


async def test_try_add_reports_first_full_bucket(store: Store) -> None:
    buckets = [Bucket("a", 10, 60.0), Bucket("b", 0, 60.0), Bucket("c", 0, 60.0)]
    assert await store.counters.try_add(buckets, 1) == 1


async def test_no_limit_only_counts(store: Store) -> None:
    bucket = Bucket("tokens:user:3", None, 60.0)
    for _ in range(3):
        assert await store.counters.try_add([bucket], 1_000_000_000) is None
    assert await store.counters.get(bucket.key) == 3_000_000_000


async def test_try_add_rejects_negative_amount(store: Store) -> None:
    with pytest.raises(ValueError, match="add\\(\\)"):
        await store.counters.try_add([Bucket("a", 1, 1.0)], -1)


async def test_add_clamps_at_zero(store: Store) -> None:
    counters = store.counters
    bucket = Bucket("spend:user:5:0", None, 60.0)
    await counters.add([bucket], 7)
    await counters.add([bucket], -3)
    assert await counters.get(bucket.key) == 4

    await counters.add([bucket], -10)
    assert await counters.get(bucket.key) == 0

    missing = Bucket("spend:user:6:0", None, 60.0)
    await counters.add([missing], -5)
    assert await counters.get(missing.key) == 0
    await counters.add([missing], 2)
    assert await counters.get(missing.key) == 2


async def test_add_ignores_limits(store: Store) -> None:
    bucket = Bucket("tpm:key:2:7", 100, 60.0)
    assert await store.counters.try_add([bucket], 90) is None
    await store.counters.add([bucket], 50)
    assert await store.counters.get(bucket.key) == 140
    assert await store.counters.try_add([bucket], 0) == 0


async def test_counter_expires_after_ttl(store: Store) -> None:
    counters = store.counters
    bucket = Bucket("rpm:key:8:1", 2, 0.2)
    assert await counters.try_add([bucket], 2) is None
    assert await counters.try_add([bucket], 1) == 0

    await store.expire(0.25)
    for _ in range(40):
        if await counters.get(bucket.key) == 0:
            break
        await store.expire(0.05)
    assert await counters.get(bucket.key) == 0
    assert await counters.try_add([bucket], 2) is None


async def test_add_renews_ttl(store: Store) -> None:
    counters = store.counters
    bucket = Bucket("concurrent:key:8", None, 3600.0)
    await counters.add([Bucket(bucket.key, None, 0.2)], 1)
    await counters.add([bucket], 1)
    await store.expire(0.4)
    assert await counters.get(bucket.key) == 2


async def test_set_if_absent_seeds_once(store: Store) -> None:
    counters = store.counters
    assert await counters.set_if_absent("spend:group:1:0", 950_000, 3600.0)
    assert not await counters.set_if_absent("spend:group:1:0", 10, 3600.0)
    assert await counters.get("spend:group:1:0") == 950_000

    await counters.add([Bucket("spend:group:2:0", None, 3600.0)], 5)
    assert not await counters.set_if_absent("spend:group:2:0", 10, 3600.0)
    assert await counters.get("spend:group:2:0") == 5


async def test_set_if_absent_after_expiry(store: Store) -> None:
    counters = store.counters
    assert await counters.set_if_absent("spend:key:3:0", 10, 0.2)
    await store.expire(0.25)
    for _ in range(40):
        if await counters.get("spend:key:3:0") == 0:
            break
        await store.expire(0.05)
    assert await counters.set_if_absent("spend:key:3:0", 20, 0.2)
    assert await counters.get("spend:key:3:0") == 20


async def test_set_if_absent_rejects_negative(store: Store) -> None:
    with pytest.raises(ValueError, match="seed value"):
        await store.counters.set_if_absent("spend:key:4:0", -1, 1.0)


async def test_get_missing_is_zero(store: Store) -> None:
    assert await store.counters.get("never-written") == 0


async def test_concurrency_slots(store: Store) -> None:
    counters = store.counters
    slot = Bucket("concurrent:key:9", 2, 3600.0)
    assert await counters.try_add([slot], 1) is None
    assert await counters.try_add([slot], 1) is None
    assert await counters.try_add([slot], 1) == 0

    await counters.add([slot], -1)
    assert await counters.try_add([slot], 1) is None
    assert await counters.get(slot.key) == 2

    await counters.add([slot], -1)
    await counters.add([slot], -1)
    await counters.add([slot], -1)
    assert await counters.get(slot.key) == 0


async def _reserve_and_settle(counters: Counters, budget: Bucket) -> bool:
    """Reserve ESTIMATE against the budget and, when admitted, settle ACTUAL."""
    if await counters.try_add([budget], ESTIMATE) is not None:
        return False
    # Yield to the event loop as the upstream call would, so the other requests reserve now.
    await asyncio.sleep(0)
    await counters.add([budget], ACTUAL - ESTIMATE)
    return True


async def _run_budget_race(store: Store, clients: list[Counters]) -> None:
    budget = Bucket("spend:user:77:20600", BUDGET_LIMIT, 3600.0)
    assert await store.counters.set_if_absent(budget.key, BUDGET_SPENT, 3600.0)
    # Open every connection first, so that connection setup does not serialize the race.
    await asyncio.gather(*(c.get("warm-up") for c in clients))

    admitted = await asyncio.gather(*(_reserve_and_settle(c, budget) for c in clients))

    # 950,000 + 30,000 fits under 1,000,000 and a second reservation does not.
    assert admitted.count(True) == 1
    final = await store.counters.get(budget.key)
    assert final == BUDGET_SPENT + ACTUAL
    assert final <= BUDGET_LIMIT + ESTIMATE


async def test_budget_race_shared_client(store: Store) -> None:
    await _run_budget_race(store, [store.counters] * CONCURRENT_REQUESTS)


async def test_budget_race_separate_connections(store: Store) -> None:
    clients = [store.open_another() for _ in range(CONCURRENT_REQUESTS)]
    await _run_budget_race(store, clients)


async def test_rate_limit_race_admits_exactly_limit(store: Store) -> None:
    bucket = Bucket("rpm:key:5:3", 7, 60.0)

    async def one_request() -> bool:
        return await store.counters.try_add([bucket], 1) is None

    await asyncio.gather(*(store.counters.get("warm-up") for _ in range(50)))
    admitted = await asyncio.gather(*(one_request() for _ in range(50)))
    assert admitted.count(True) == 7
    assert await store.counters.get(bucket.key) == 7


async def test_empty_bucket_list(store: Store) -> None:
    assert await store.counters.try_add([], 5) is None
    await store.counters.add([], 5)


# Implementation-specific


async def test_memory_sweep_removes_expired() -> None:
    clock = FakeClock()
    counters = MemoryCounters(clock=clock)
    for index in range(2000):
        await counters.add([Bucket(f"old:{index}", None, 1.0)], 1)
    clock.now += 2.0

    live = Bucket("live", None, 60.0)
    for _ in range(2000):
        await counters.add([live], 1)

    assert len(counters) == 1
    assert await counters.get("live") == 2000


async def test_memory_get_drops_expired_entry() -> None:
    clock = FakeClock()
    counters = MemoryCounters(clock=clock)
    await counters.add([Bucket("k", None, 1.0)], 1)
    clock.now += 1.0
    assert await counters.get("k") == 0
    assert len(counters) == 0


async def test_memory_close_clears() -> None:
    counters = MemoryCounters()
    await counters.add([Bucket("k", None, 60.0)], 1)
    await counters.close()
    assert await counters.get("k") == 0


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_redis_unreachable_raises_unavailable() -> None:
    counters = RedisCounters(f"redis://127.0.0.1:{_closed_loopback_port()}/0")
    bucket = Bucket("rpm:key:1:1", 5, 60.0)
    try:
        with pytest.raises(CountersUnavailable, match="unavailable") as caught:
            await counters.try_add([bucket], 1)
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
        with pytest.raises(CountersUnavailable):
            await counters.add([bucket], 1)
        with pytest.raises(CountersUnavailable):
            await counters.get(bucket.key)
        with pytest.raises(CountersUnavailable):
            await counters.set_if_absent(bucket.key, 1, 60.0)
    finally:
        await counters.close()


async def test_redis_timeout_raises_unavailable() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    counters = RedisCounters(f"redis://127.0.0.1:{port}/0?socket_timeout=0.2")
    try:
        with pytest.raises(CountersUnavailable, match="Timeout") as caught:
            await counters.get("rpm:key:1:1")
        assert isinstance(caught.value.__cause__, redis.exceptions.TimeoutError)
        assert len(accepted) >= 1
    finally:
        await counters.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.skipif(REDIS_URL is None, reason=REDIS_SKIP_REASON)
async def test_redis_prefixes_keys() -> None:
    assert REDIS_URL is not None
    prefix = f"teamgate-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    counters = RedisCounters(client, prefix=prefix)
    try:
        await counters.add([Bucket("rpm:key:1:1", None, 60.0)], 3)
        assert await client.get(f"{prefix}rpm:key:1:1") == b"3"
        ttl_ms = await client.pttl(f"{prefix}rpm:key:1:1")
        assert 0 < ttl_ms <= 60_000
    finally:
        await counters.close()
        await _delete_prefix(client, prefix)
        await client.aclose()


@pytest.mark.skipif(REDIS_URL is None, reason=REDIS_SKIP_REASON)
async def test_redis_close_keeps_caller_client() -> None:
    assert REDIS_URL is not None
    client = aioredis.Redis.from_url(REDIS_URL)
    counters = RedisCounters(client, prefix=f"teamgate-test:{uuid.uuid4().hex}:")
    try:
        await counters.close()
        assert await client.ping()
    finally:
        await client.aclose()
