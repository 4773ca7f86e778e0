"""Budgets, rate limits and the usage ledger through the real gateway, on two storage stacks.

Every test runs twice against the fake Gemini over loopback HTTP:

- `sqlite`: a SQLite file in a temporary data directory, with in-process counters;
- `postgresql-redis`: PostgreSQL from TEAMGATE_TEST_POSTGRES_URL with Redis counters from
  TEAMGATE_TEST_REDIS_URL, skipped when either variable is unset.

`accounting.database_url` has no way to select a PostgreSQL schema, so the second stack
creates a database of its own and drops it afterwards. The gateway writes its Redis keys
under the fixed prefix `teamgate:`, and the keys name user and key ids. Those ids start at
a random offset in the new database, so they are unlikely to meet the keys of another run.
Teardown deletes the keys of the subjects this module created.

The gateway's period bounds use `accounting.timezone`, which is set to the `Etc/GMT±N` zone
whose local time is nearest noon, so "today" and "yesterday" stay fixed for eleven hours.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import openai
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.accounting.prices import (
    BUILTIN_PRICES,
    ModelPrice,
    TokenCounts,
    cost_micros,
    estimate_max_cost_micros,
    estimate_prompt_tokens,
    find_price,
)
from teamgate.api.app import build_gateway, create_app
from teamgate.config.keys import build_keyring
from teamgate.config.schema import Accounting
from teamgate.fake import FakeGemini, Reply, RunningServer
from teamgate.storage import create_engine, default_url, session_factory, upgrade
from teamgate.storage.models import BudgetPeriod, UsageRecord
from teamgate.storage.periods import period_end, period_start
from teamgate.storage.repository import keys as key_repo
from teamgate.storage.repository.common import Limits
from teamgate.storage.repository.ledger import UsageEntry, insert_usage_records
from teamgate.storage.repository.users import create_user
from tests.support import gateway_settings, serve_in_thread

T = TypeVar("T")

POSTGRES_URL_ENV = "TEAMGATE_TEST_POSTGRES_URL"
REDIS_URL_ENV = "TEAMGATE_TEST_REDIS_URL"
# RedisCounters' default prefix; the gateway offers no setting to change it.
REDIS_PREFIX = "teamgate:"

MODEL = "gemini-2.5-flash"
PROMPT = "Hi"
MESSAGES: Any = [{"role": "user", "content": PROMPT}]
# Every priced request sets max_tokens, so its upper-bound estimate is known here.
MAX_TOKENS = 400
# The usage the scripted replies report: the whole output allowance, so the actual
# cost of a request is within a micro-dollar of its estimate.
REPLY_PROMPT_TOKENS = 1
REPLY_OUTPUT_TOKENS = MAX_TOKENS


def builtin_price(model: str) -> ModelPrice:
    price = find_price(BUILTIN_PRICES, model)
    assert price is not None, f"the built-in price table has no entry for {model}"
    return price


PRICE = builtin_price(MODEL)
ESTIMATE = estimate_max_cost_micros(PRICE, estimate_prompt_tokens([len(PROMPT)]), MAX_TOKENS)
ACTUAL = cost_micros(
    PRICE, TokenCounts(prompt_tokens=REPLY_PROMPT_TOKENS, output_tokens=REPLY_OUTPUT_TOKENS)
)

CONCURRENT_REQUESTS = 20
# Seconds any wait in this module may take.
RECORD_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0


def priced_reply(delay: float = 0.0) -> Reply:
    """Script one complete non-streaming response with the usage that ACTUAL is priced from."""
    chunk = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": REPLY_PROMPT_TOKENS,
            "candidatesTokenCount": REPLY_OUTPUT_TOKENS,
            "totalTokenCount": REPLY_PROMPT_TOKENS + REPLY_OUTPUT_TOKENS,
        },
    }
    return Reply(chunks=[chunk], delay_before=delay)


def text_chunk(
    text_value: str, usage: tuple[int, int] | None = None, *, last: bool = False
) -> dict[str, Any]:
    """Build a Gemini stream chunk, where `usage` is (prompt tokens, output tokens) so far."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text_value}]}}
    if last:
        candidate["finishReason"] = "STOP"
    chunk: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        prompt, output = usage
        chunk["usageMetadata"] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        }
    return chunk


def zone_nearest_noon(now: datetime) -> str:
    """Return the whole-hour `Etc/` zone whose local time at `now` is closest to 12:00."""
    best_name, best_distance = "Etc/UTC", math.inf
    for offset in range(-12, 15):
        # POSIX-style names invert the sign: Etc/GMT-3 is three hours ahead of UTC.
        name = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
        local = now.astimezone(ZoneInfo(name))
        distance = abs(local.hour * 60 + local.minute - 12 * 60)
        if distance < best_distance:
            best_name, best_distance = name, distance
    return best_name


@dataclass(frozen=True)
class Account:
    """A user and one personal key of theirs."""

    key: str
    user_id: int
    key_id: int


@dataclass(frozen=True)
class Outcome:
    """The status and Retry-After header of one chat request, with the error's code and message."""

    status: int
    retry_after: str | None
    code: str | None = None
    message: str = ""


@dataclass
class Stack:
    """A running gateway with accounts on, and direct access to its database."""

    kind: str
    base_url: str
    database_url: str
    zone: ZoneInfo
    redis_client: redis.Redis | None = None
    subjects: set[str] = field(default_factory=set)
    """Counter subjects (`user:7`, `key:9`) of this module's accounts, for Redis cleanup."""

    def query(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def run() -> T:
            engine = create_engine(self.database_url)
            try:
                async with session_factory(engine)() as session:
                    result = await work(session)
                    await session.commit()
                    return result
            finally:
                await engine.dispose()

        return asyncio.run(run())

    def new_account(
        self, key_limits: Limits | None = None, user_limits: Limits | None = None
    ) -> Account:
        name = f"user-{uuid.uuid4().hex[:12]}"

        async def work(session: AsyncSession) -> Account:
            user = await create_user(session, name, limits=user_limits)
            plaintext, key = await key_repo.create_key(
                session, user.id, f"{name}-key", limits=key_limits
            )
            return Account(plaintext, user.id, key.id)

        account = self.query(work)
        self.subjects.update({f"user:{account.user_id}", f"key:{account.key_id}"})
        return account

    def add_spend(self, account: Account, micros: int, created_at: datetime) -> None:
        """Store a finished request of `account` that cost `micros`, dated `created_at`."""
        entry = UsageEntry(
            request_id=f"seed-{uuid.uuid4().hex}",
            created_at=created_at,
            public_model=MODEL,
            http_status=200,
            user_id=account.user_id,
            api_key_id=account.key_id,
            upstream_model=MODEL,
            input_tokens=REPLY_PROMPT_TOKENS,
            output_tokens=REPLY_OUTPUT_TOKENS,
            cost_micro_usd=micros,
        )

        async def work(session: AsyncSession) -> None:
            await insert_usage_records(session, [entry])

        self.query(work)

    def records_of(self, account: Account) -> list[UsageRecord]:
        async def work(session: AsyncSession) -> list[UsageRecord]:
            query = select(UsageRecord).where(UsageRecord.user_id == account.user_id)
            return list(await session.scalars(query))

        return self.query(work)

    def wait_for_records(self, account: Account, count: int) -> list[UsageRecord]:
        """Wait until the ledger contains `count` records of `account` (the writer batches them)."""
        deadline = time.monotonic() + RECORD_TIMEOUT
        records = self.records_of(account)
        while len(records) < count and time.monotonic() < deadline:
            time.sleep(0.1)
            records = self.records_of(account)
        assert len(records) == count, f"expected {count} ledger records, found {len(records)}"
        return records

    def wait_for_record(self, account: Account, request_id: str) -> UsageRecord:
        deadline = time.monotonic() + RECORD_TIMEOUT
        while True:
            found = [r for r in self.records_of(account) if r.request_id == request_id]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no ledger record for request {request_id}")
            time.sleep(0.1)

    def client(self, account: Account) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.base_url}/v1",
            api_key=account.key,
            max_retries=0,
            timeout=REQUEST_TIMEOUT,
        )

    def async_client(self, account: Account) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.base_url}/v1",
            api_key=account.key,
            max_retries=0,
            timeout=REQUEST_TIMEOUT,
        )

    def counter(self, key: str) -> int | None:
        """Return a Redis counter's value, or None on the stack with in-process counters."""
        if self.redis_client is None:
            return None
        value = self.redis_client.get(REDIS_PREFIX + key)
        return 0 if value is None else int(value)

    def delete_counters(self) -> None:
        """Delete the Redis keys whose subject this module created, and no others."""
        if self.redis_client is None:
            return
        doomed = []
        for raw in self.redis_client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            # Keys look like "teamgate:rpm:key:42:29571234" or "teamgate:concurrent:user:7".
            parts = name[len(REDIS_PREFIX) :].split(":")
            if len(parts) >= 3 and f"{parts[1]}:{parts[2]}" in self.subjects:
                doomed.append(raw)
        for start in range(0, len(doomed), 500):
            self.redis_client.delete(*doomed[start : start + 500])


async def _admin_statement(url: str, statement: str) -> None:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _offset_ids(url: str, start: int) -> None:
    """Make new users and keys take ids from `start` upwards."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in ("users", "api_keys"):
                await connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :start, false)"),
                    {"start": start},
                )
    finally:
        await engine.dispose()


@contextmanager
def serve_gateway(upstream_url: str, data_dir: Path, accounting: Accounting) -> Iterator[str]:
    """Serve the test models with `accounting`, and yield the gateway's base URL."""
    settings = gateway_settings(upstream_url).model_copy(update={"accounting": accounting})
    gateway = build_gateway(settings, build_keyring(settings, data_dir))
    app = create_app(gateway, accounting=(accounting, data_dir))
    with serve_in_thread(app) as url:
        yield url


def sqlite_stack(upstream_url: str, data_dir: Path, zone: str) -> Iterator[Stack]:
    with serve_gateway(upstream_url, data_dir, Accounting(timezone=zone)) as url:
        yield Stack("sqlite", url, default_url(data_dir), ZoneInfo(zone))


def postgres_redis_stack(upstream_url: str, data_dir: Path, zone: str) -> Iterator[Stack]:
    server_url = os.environ.get(POSTGRES_URL_ENV)
    redis_url = os.environ.get(REDIS_URL_ENV)
    missing = [
        name
        for name, value in ((POSTGRES_URL_ENV, server_url), (REDIS_URL_ENV, redis_url))
        if not value
    ]
    if server_url is None or redis_url is None or missing:
        pytest.skip(
            f"{' and '.join(missing)} not set; export both to run the PostgreSQL and Redis stack"
        )
    # The name is generated here, never taken from input, so quoting it is safe.
    name = f"teamgate_stack_{uuid.uuid4().hex}"
    asyncio.run(_admin_statement(server_url, f'CREATE DATABASE "{name}"'))
    database_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    stack: Stack | None = None
    try:
        asyncio.run(upgrade(database_url))
        # Ids from 1,000,000 up to 1,001,000,000 stay far below the INTEGER maximum.
        asyncio.run(_offset_ids(database_url, 1_000_000 + secrets.randbelow(1_000_000_000)))
        accounting = Accounting(
            database_url=SecretStr(database_url), redis_url=SecretStr(redis_url), timezone=zone
        )
        with serve_gateway(upstream_url, data_dir, accounting) as url:
            stack = Stack("postgresql-redis", url, database_url, ZoneInfo(zone), client)
            yield stack
    finally:
        if stack is not None:
            stack.delete_counters()
        client.close()
        asyncio.run(_admin_statement(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module", params=["sqlite", "postgresql-redis"])
def stack(
    request: pytest.FixtureRequest,
    fake_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    zone = zone_nearest_noon(datetime.now(UTC))
    data_dir = tmp_path_factory.mktemp("stack-data")
    build = sqlite_stack if request.param == "sqlite" else postgres_redis_stack
    yield from build(fake_server.base_url, data_dir, zone)


def chat(client: openai.OpenAI) -> Outcome:
    """Send one priced non-streaming request and return its outcome."""
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS
        )
    except openai.APIStatusError as exc:
        return Outcome(
            exc.status_code, exc.response.headers.get("retry-after"), exc.code, exc.message
        )
    return Outcome(raw.status_code, raw.headers.get("retry-after"))


async def chat_concurrently(client: openai.AsyncOpenAI, count: int) -> list[Outcome]:
    """Send `count` priced non-streaming requests at once."""

    async def one() -> Outcome:
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS
            )
        except openai.APIStatusError as exc:
            return Outcome(
                exc.status_code, exc.response.headers.get("retry-after"), exc.code, exc.message
            )
        return Outcome(raw.status_code, raw.headers.get("retry-after"))

    async with client:
        gathered = asyncio.gather(*(one() for _ in range(count)))
        return list(await asyncio.wait_for(gathered, REQUEST_TIMEOUT))


def test_budget_race_overshoots_at_most_one_request(stack: Stack, fake: FakeGemini) -> None:
    admitted = 3
    # Each admission reserves ESTIMATE and each settlement lowers it to ACTUAL (at most
    # ESTIMATE). With this room, `admitted` reservations fit even when none has settled,
    # and one more does not fit even when all earlier ones have, so every interleaving of
    # the concurrent requests admits exactly `admitted`.
    room = admitted * ESTIMATE + ESTIMATE // 2
    assert room // ESTIMATE == admitted
    assert (room - ESTIMATE) // ACTUAL + 1 == admitted
    seed = 2_000_000
    budget = seed + room

    now = datetime.now(UTC)
    start = period_start(BudgetPeriod.DAILY, now, stack.zone)
    end = period_end(BudgetPeriod.DAILY, now, stack.zone)
    assert end is not None
    account = stack.new_account(
        user_limits=Limits(budget_micro_usd=budget, budget_period=BudgetPeriod.DAILY)
    )
    # Spent earlier today, one row exactly at the start of the period.
    stack.add_spend(account, seed // 2, start)
    stack.add_spend(account, seed - seed // 2, now - timedelta(hours=1))
    for _ in range(CONCURRENT_REQUESTS):
        # The delay keeps admitted requests unsettled while the others arrive.
        fake.enqueue(priced_reply(delay=0.3))

    outcomes = asyncio.run(chat_concurrently(stack.async_client(account), CONCURRENT_REQUESTS))
    finished = datetime.now(UTC)

    assert [outcome.status for outcome in outcomes].count(200) == admitted
    assert len(fake.requests) == admitted
    refused = [outcome for outcome in outcomes if outcome.status != 200]
    assert len(refused) == CONCURRENT_REQUESTS - admitted
    for outcome in refused:
        assert outcome.status == 429
        assert outcome.code == "insufficient_quota"
        assert f"resets at {end.isoformat()}" in outcome.message
        retry_after = int(outcome.retry_after or 0)
        assert retry_after >= math.ceil((end - finished).total_seconds())
        assert retry_after <= math.ceil((end - now).total_seconds())

    records = stack.wait_for_records(account, 2 + CONCURRENT_REQUESTS)
    spent = sum(record.cost_micro_usd for record in records)
    assert spent <= budget + ACTUAL
    assert spent == seed + admitted * ACTUAL
    refused_records = [record for record in records if record.http_status == 429]
    assert len(refused_records) == CONCURRENT_REQUESTS - admitted
    assert all(record.cost_micro_usd == 0 for record in refused_records)
    counter = stack.counter(f"spend:user:{account.user_id}:daily:{int(start.timestamp())}")
    if counter is not None:
        assert counter == spent


def test_budget_resets_with_the_period(stack: Stack, fake: FakeGemini) -> None:
    now = datetime.now(UTC)
    start = period_start(BudgetPeriod.DAILY, now, stack.zone)
    budget = 3 * ESTIMATE
    limits = Limits(budget_micro_usd=budget, budget_period=BudgetPeriod.DAILY)
    # Yesterday's spend far exceeds the budget, up to the last microsecond of that period.
    fresh = stack.new_account(user_limits=limits)
    stack.add_spend(fresh, 10 * budget, start - timedelta(hours=1))
    stack.add_spend(fresh, budget, start - timedelta(microseconds=1))
    # A control: the same budget, spent today at the period's first instant, leaves less
    # than one request's estimate.
    spent_today = stack.new_account(user_limits=limits)
    stack.add_spend(spent_today, budget - ESTIMATE + 1, start)
    for _ in range(2):
        fake.enqueue(priced_reply())

    fresh_client = stack.client(fresh)
    first = chat(fresh_client)
    second = chat(fresh_client)
    blocked = chat(stack.client(spent_today))

    assert first.status == 200
    assert second.status == 200
    assert blocked.status == 429
    assert blocked.code == "insufficient_quota"
    assert len(fake.requests) == 2


def test_rpm_is_exact_at_the_limit(stack: Stack, fake: FakeGemini) -> None:
    limit = 3
    # The window is the calendar minute, so a run that straddles two minutes proves
    # nothing and is repeated once. The repeat then starts early in the new minute.
    for _ in range(2):
        fake.reset()
        client = stack.client(stack.new_account(key_limits=Limits(rpm=limit)))
        started = time.time()
        outcomes = [chat(client) for _ in range(limit + 2)]
        ended = time.time()
        if int(started // 60) == int(ended // 60):
            break
    else:
        pytest.fail("both attempts crossed a minute boundary, so the window was never tested")

    assert [outcome.status for outcome in outcomes] == [200] * limit + [429, 429]
    assert len(fake.requests) == limit
    for outcome in outcomes[limit:]:
        assert outcome.code == "rate_limit_exceeded"
        retry_after = int(outcome.retry_after or 0)
        # The gateway rounds the rest of the current minute up to whole seconds.
        assert 1 <= retry_after <= 60
        assert retry_after >= math.ceil(60 - ended % 60)
        assert retry_after <= math.ceil(60 - started % 60)


def test_client_cut_stream_is_recorded_estimated(stack: Stack, fake: FakeGemini) -> None:
    account = stack.new_account()
    words = [f"word{index} " for index in range(8)]
    chunks = [text_chunk(word) for word in words[:-1]] + [text_chunk(words[-1], last=True)]
    # No chunk carries usageMetadata, and the pauses keep the stream open after the first.
    fake.enqueue(Reply(chunks=chunks, delay_between=0.5))

    client = stack.client(account)
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        first = next(iter(response.parse()))
    client.close()

    assert first.choices[0].delta.content == words[0]
    record = stack.wait_for_record(account, request_id)
    assert record.http_status == 499
    assert record.estimated is True
    assert record.input_tokens == math.ceil(len(PROMPT) / 4)
    assert record.output_tokens > 0
    assert record.cost_micro_usd > 0


def test_upstream_drop_keeps_usage_seen(stack: Stack, fake: FakeGemini) -> None:
    account = stack.new_account()
    chunks = [
        text_chunk("Hello ", (3, 1)),
        text_chunk("world", (3, 2)),
        text_chunk("!", (3, 3), last=True),
    ]
    fake.enqueue(Reply(chunks=chunks, drop_after=2))

    client = stack.client(account)
    received: list[str] = []
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        # The gateway ends the stream with an error frame, which the SDK raises.
        with pytest.raises(openai.APIError):
            for chunk in response.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    client.close()

    assert "".join(received) == "Hello world"
    record = stack.wait_for_record(account, request_id)
    assert record.http_status == 502
    assert record.estimated is False
    assert record.input_tokens == 3
    assert record.output_tokens == 2
    assert record.cost_micro_usd == cost_micros(
        PRICE, TokenCounts(prompt_tokens=3, output_tokens=2)
    )


def test_client_cut_stream_keeps_usage_seen(stack: Stack, fake: FakeGemini) -> None:
    account = stack.new_account()
    chunks = [text_chunk(f"word{index} ", (3, index + 1)) for index in range(5)]
    chunks.append(text_chunk("end", (3, 6), last=True))
    fake.enqueue(Reply(chunks=chunks, delay_between=0.5))

    client = stack.client(account)
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        next(iter(response.parse()))
    client.close()

    record = stack.wait_for_record(account, request_id)
    assert record.http_status == 499
    assert record.estimated is False
    assert record.input_tokens == 3
    # The client left after the first chunk, but the gateway may have read one more by then.
    assert record.output_tokens in (1, 2)
