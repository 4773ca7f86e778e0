"""The ledger writer: batching, retries while the sink fails, and the final flush."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from teamgate.accounting.ledger import LedgerWriter
from teamgate.storage.repository.ledger import UsageEntry


def record(number: int) -> UsageEntry:
    return UsageEntry(
        request_id=f"req-{number}",
        created_at=datetime.now(UTC),
        public_model="gemini-2.5-flash",
        http_status=200,
    )


class Sink:
    """Stores batches in memory; fails while `failing` is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.failing = False
        self.calls = 0

    async def __call__(self, batch: Sequence[UsageEntry]) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ConnectionError("database is down")
        self.batches.append([item.request_id for item in batch])

    @property
    def stored(self) -> list[str]:
        return [request_id for batch in self.batches for request_id in batch]


async def test_ledger_stores_in_batches() -> None:
    sink = Sink()
    writer = LedgerWriter(sink, interval=0.01, batch_size=3)
    writer.start()
    for number in range(7):
        writer.append(record(number))
    await writer.close()
    assert sink.stored == [f"req-{number}" for number in range(7)]
    assert all(len(batch) <= 3 for batch in sink.batches)
    assert writer.pending == 0


async def test_ledger_flushes_on_interval() -> None:
    sink = Sink()
    writer = LedgerWriter(sink, interval=0.01, batch_size=100)
    writer.start()
    writer.append(record(1))
    for _ in range(200):
        if sink.stored:
            break
        await asyncio.sleep(0.01)
    assert sink.stored == ["req-1"]
    await writer.close()


async def test_ledger_keeps_records_while_sink_fails() -> None:
    sink = Sink()
    sink.failing = True
    writer = LedgerWriter(sink, interval=0.01, batch_size=10, max_backoff=0.02)
    writer.start()
    for number in range(5):
        writer.append(record(number))
    for _ in range(200):
        if sink.calls >= 3:
            break
        await asyncio.sleep(0.01)
    assert sink.calls >= 3
    assert writer.pending == 5
    sink.failing = False
    await writer.close()
    assert sink.stored == [f"req-{number}" for number in range(5)]


async def test_concurrent_flushes_lose_nothing() -> None:
    sink = Sink()
    writer = LedgerWriter(sink, interval=10, batch_size=2)
    for number in range(9):
        writer.append(record(number))
    results = await asyncio.gather(writer.flush(), writer.flush(), writer.flush())
    assert list(results) == [True, True, True]
    assert sorted(sink.stored) == sorted(f"req-{number}" for number in range(9))
    assert len(sink.stored) == 9
