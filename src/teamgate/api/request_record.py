"""The record of one chat request: its log line and, with accounts on, its ledger entry."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from teamgate.accounting.admission import Ticket
from teamgate.accounting.service import AccountService, Caller
from teamgate.core.messages import Usage
from teamgate.storage.repository.ledger import UsageEntry

logger = logging.getLogger("teamgate.request")


@dataclass
class RequestRecord:
    """Facts about one request, filled in as it runs; `finish` logs and books it once."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    model: str = ""
    upstream_model: str | None = None
    credential: str = ""
    stream: bool = False
    status: int = 200
    error: str = ""
    usage: Usage | None = None
    estimated: bool = False
    first_token: float | None = None
    caller: Caller | None = None
    ticket: Ticket | None = None
    finished: bool = False

    async def finish(self, accounts: AccountService | None) -> None:
        if self.finished:
            return
        self.finished = True
        latency_ms = (time.perf_counter() - self.started) * 1000
        self._log(latency_ms)
        # Requests refused for their key before anything else is known are not
        # booked, so a flood of wrong keys cannot fill the ledger.
        if accounts is None or (self.status == 401 and self.caller is None):
            return
        await accounts.finish(self.ticket, self._entry(accounts, latency_ms))

    def _entry(self, accounts: AccountService, latency_ms: float) -> UsageEntry:
        usage = self.usage or Usage()
        caller = self.caller
        multiplier = caller.multiplier if caller is not None else Decimal(1)
        cost = accounts.cost(multiplier, self.upstream_model, usage) if self.upstream_model else 0
        ttft = (self.first_token - self.started) * 1000 if self.first_token else None
        return UsageEntry(
            request_id=self.request_id,
            created_at=self.created_at,
            public_model=self.model,
            http_status=self.status,
            user_id=caller.user_id if caller else None,
            api_key_id=caller.key_id if caller else None,
            end_user_id=caller.end_user_id if caller else None,
            group_id=caller.group_id if caller else None,
            upstream_model=self.upstream_model,
            credential_id=self.credential or None,
            stream=self.stream,
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            tool_use_prompt_tokens=usage.tool_prompt_tokens,
            cost_micro_usd=cost,
            latency_ms=round(latency_ms),
            time_to_first_token_ms=round(ttft) if ttft is not None else None,
            error_class=self.error or None,
            estimated=self.estimated,
        )

    def _log(self, latency_ms: float) -> None:
        usage = self.usage or Usage()
        ttft = f"{(self.first_token - self.started) * 1000:.1f}" if self.first_token else "-"
        caller = self.caller
        logger.info(
            "request_id=%s key_id=%s user_id=%s model=%s credential=%s stream=%s status=%d "
            "latency_ms=%.1f ttft_ms=%s prompt_tokens=%d completion_tokens=%d "
            "reasoning_tokens=%d error=%s",
            self.request_id,
            caller.key_id if caller else "-",
            caller.user_id if caller else "-",
            self.model or "-",
            self.credential or "-",
            self.stream,
            self.status,
            latency_ms,
            ttft,
            usage.input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            self.error or "-",
        )
