"""Micro-benchmark of the rate-limit and budget counters: nanoseconds per call.

Measures `try_add` on four buckets: requests per minute for the key and for the user, a
concurrency slot and a budget. MemoryCounters always runs.
RedisCounters runs when TEAMGATE_TEST_REDIS_URL is set, and its keys are deleted after.

    .venv/bin/python bench/counters_bench.py [--iterations N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from teamgate.accounting.counters import Bucket, Counters, MemoryCounters, window_key
from teamgate.accounting.redis_counters import RedisCounters

# Limits high enough that no add is rejected, so every call checks and updates all buckets.
HIGH_LIMIT = 10**15
REDIS_CONCURRENCY = 64


def admission_buckets(now: float) -> list[Bucket]:
    """Build the four buckets of one request: two minute windows, a slot and a budget."""
    key_window, key_left = window_key("rpm", "key:42", 60, now)
    user_window, user_left = window_key("rpm", "user:7", 60, now)
    return [
        Bucket(key_window, HIGH_LIMIT, key_left),
        Bucket(user_window, HIGH_LIMIT, user_left),
        Bucket("concurrent:key:42", HIGH_LIMIT, 3600.0),
        Bucket("spend:user:7:20600", HIGH_LIMIT, 86_400.0),
    ]


async def time_calls(call: Callable[[], Awaitable[object]], iterations: int) -> float:
    """Return the mean nanoseconds per awaited call over `iterations` sequential calls."""
    start = time.perf_counter_ns()
    for _ in range(iterations):
        await call()
    return (time.perf_counter_ns() - start) / iterations


async def time_concurrent_calls(
    call: Callable[[], Awaitable[object]], iterations: int, concurrency: int
) -> float:
    """Return wall-clock nanoseconds per call with `concurrency` calls in flight."""
    per_task = iterations // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    start = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.perf_counter_ns() - start) / (per_task * concurrency)


def report(label: str, samples: list[float]) -> None:
    print(f"{label:<48} median {statistics.median(samples):>9.0f} ns  min {min(samples):>9.0f} ns")


async def bench_memory(iterations: int, runs: int) -> None:
    counters = MemoryCounters()
    buckets = admission_buckets(time.time())

    async def try_add() -> object:
        return await counters.try_add(buckets, 1)

    async def build_and_try_add() -> object:
        return await counters.try_add(admission_buckets(time.time()), 1)

    async def release() -> None:
        await counters.add(buckets, -1)

    for label, call in (
        ("memory try_add, 4 buckets", try_add),
        ("memory window_key + 4 Buckets + try_add", build_and_try_add),
        ("memory add, 4 buckets", release),
    ):
        report(label, [await time_calls(call, iterations) for _ in range(runs)])


async def bench_redis(url: str, iterations: int, runs: int) -> None:
    prefix = f"teamgate-bench:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    counters: Counters = RedisCounters(client, prefix=prefix)
    buckets = admission_buckets(time.time())

    async def try_add() -> object:
        return await counters.try_add(buckets, 1)

    try:
        sequential = [await time_calls(try_add, iterations) for _ in range(runs)]
        report("redis try_add, 4 buckets, one at a time", sequential)
        concurrent = [
            await time_concurrent_calls(try_add, iterations, REDIS_CONCURRENCY) for _ in range(runs)
        ]
        report(f"redis try_add, 4 buckets, {REDIS_CONCURRENCY} in flight", concurrent)
    finally:
        await counters.close()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--iterations", type=int, default=200_000, help="calls per run of each memory figure"
    )
    parser.add_argument(
        "--redis-iterations", type=int, default=10_000, help="calls per run of each Redis figure"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per figure, reported as median and min"
    )
    options = parser.parse_args()

    await bench_memory(options.iterations, options.runs)
    url = os.environ.get("TEAMGATE_TEST_REDIS_URL")
    if url is None:
        print("redis: skipped, TEAMGATE_TEST_REDIS_URL is not set")
    else:
        await bench_redis(url, options.redis_iterations, options.runs)


if __name__ == "__main__":
    asyncio.run(main())
