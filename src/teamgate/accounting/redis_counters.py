"""The Redis implementation of the counters, for several workers or instances.

It lives apart from the in-process counters so that a gateway without Redis
never imports redis-py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from teamgate.accounting.counters import (
    DEFAULT_PREFIX,
    DEFAULT_REDIS_TIMEOUT,
    Bucket,
    CountersUnavailable,
    _check_amount,
    _check_seed,
)

# KEYS are the bucket keys. ARGV[1] is the amount, then each bucket has two arguments:
# its limit (-1 for none) and its TTL in milliseconds. Returns 0 when the amount was
# added, else the 1-based index of the first bucket over its limit. Redis runs a script
# without interleaving other commands, so the check and the adds are atomic. The amount
# goes to INCRBY as the caller's string because Lua numbers are doubles, which also makes
# the limit comparison exact only for totals below 2**53.
_TRY_ADD_LUA = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  if limit >= 0 and tonumber(redis.call('GET', key) or '0') + amount > limit then
    return i
  end
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2 * i + 1])
end
return 0
"""

# KEYS are the bucket keys. ARGV[1] is the amount, then one TTL in milliseconds per key.
_ADD_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('INCRBY', key, ARGV[1]) < 0 then
    redis.call('SET', key, 0)
  end
  redis.call('PEXPIRE', key, ARGV[i + 1])
end
return 0
"""


def _milliseconds(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000))


@contextmanager
def _unavailable_on_connection_error() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise CountersUnavailable(
            f"Redis counter store is unavailable: {exc}. Check that Redis is running "
            "and that its URL is correct."
        ) from exc


class RedisCounters:
    """Counters in Redis, shared by every worker that uses the same server and prefix.

    `try_add` and `add` each run one Lua script, so each call is atomic on the server.
    Every key gets `prefix` in front. Connection errors and timeouts are raised as
    `CountersUnavailable`.

    NOTE: the scripts touch several keys in one call, so Redis Cluster is not supported
    unless all keys of a call hash to one slot. When a connection breaks after Redis ran a
    script but before its reply arrived, the call raises CountersUnavailable although the
    add happened, and a client configured to retry commands runs the script a second time.
    """

    def __init__(self, target: str | aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        """Connect to the Redis URL `target`, or use the client `target` without owning it.

        `close` closes a client built from a URL and leaves a caller's client open.
        """
        if isinstance(target, str):
            self._client = aioredis.Redis.from_url(
                target,
                socket_timeout=DEFAULT_REDIS_TIMEOUT,
                socket_connect_timeout=DEFAULT_REDIS_TIMEOUT,
            )
            self._owns_client = True
        else:
            self._client = target
            self._owns_client = False
        self._prefix = prefix
        self._try_add_script = self._client.register_script(_TRY_ADD_LUA)
        self._add_script = self._client.register_script(_ADD_LUA)

    async def try_add(self, buckets: Sequence[Bucket], amount: int) -> int | None:
        _check_amount(amount)
        if not buckets:
            return None
        keys = [self._prefix + bucket.key for bucket in buckets]
        args: list[int] = [amount]
        for bucket in buckets:
            args.append(-1 if bucket.limit is None else bucket.limit)
            args.append(_milliseconds(bucket.ttl))
        with _unavailable_on_connection_error():
            result = int(await self._try_add_script(keys, args))
        return None if result == 0 else result - 1

    async def add(self, buckets: Sequence[Bucket], amount: int) -> None:
        if not buckets:
            return
        keys = [self._prefix + bucket.key for bucket in buckets]
        args = [amount, *(_milliseconds(bucket.ttl) for bucket in buckets)]
        with _unavailable_on_connection_error():
            await self._add_script(keys, args)

    async def get(self, key: str) -> int:
        with _unavailable_on_connection_error():
            value = await self._client.get(self._prefix + key)
        return 0 if value is None else int(value)

    async def set_if_absent(self, key: str, value: int, ttl: float) -> bool:
        _check_seed(key, value, ttl)
        with _unavailable_on_connection_error():
            was_set = await self._client.set(
                self._prefix + key, value, nx=True, px=_milliseconds(ttl)
            )
        return bool(was_set)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
