"""The usage ledger's writer: one record per request, stored in batches off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from teamgate.storage.repository.ledger import UsageEntry

logger = logging.getLogger(__name__)


Sink = Callable[[Sequence[UsageEntry]], Awaitable[None]]


@dataclass
class LedgerWriter:
    """A writer that queues records in memory and hands them to `sink` in batches.

    `append` never waits, so the request path only pays for a list append.
    A background task stores a batch every `interval` seconds, or sooner when
    `batch_size` records are waiting. When the sink fails (the database is
    down), the batch stays queued and is retried with a growing pause, so no
    record is lost while the process lives. `close` stores everything left.

    NOTE: the queue has no size limit, so a long database outage grows memory.
    """

    sink: Sink
    interval: float = 0.2
    batch_size: int = 500
    max_backoff: float = 5.0
    _pending: list[UsageEntry] = field(default_factory=list)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # One batch at a time: two concurrent flushes would both delete the same prefix.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    def append(self, record: UsageEntry) -> None:
        self._pending.append(record)
        if len(self._pending) >= self.batch_size:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-writer")

    async def close(self) -> None:
        """Stop the background task and store every queued record (one last try)."""
        self._closing = True
        if self._task is not None:
            self._wakeup.set()
            await self._task
            self._task = None
        while self._pending:
            if not await self._flush_once():
                logger.error("ledger: %d records could not be stored at shutdown", self.pending)
                return

    async def flush(self) -> bool:
        """Store everything queued now; return False when the sink failed."""
        while self._pending:
            if not await self._flush_once():
                return False
        return True

    async def _run(self) -> None:
        backoff = self.interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=backoff)
            self._wakeup.clear()
            stored = await self.flush()
            backoff = self.interval if stored else min(backoff * 2, self.max_backoff)

    async def _flush_once(self) -> bool:
        async with self._lock:
            return await self._store_first_batch()

    async def _store_first_batch(self) -> bool:
        batch = self._pending[: self.batch_size]
        if not batch:
            return True
        try:
            await self.sink(batch)
        except Exception as exc:  # the sink is a database: any failure means retry later
            logger.warning(
                "ledger: storing %d records failed (%s); they stay queued",
                len(batch),
                type(exc).__name__,
            )
            return False
        del self._pending[: len(batch)]
        return True
