"""The account service when its database is unreachable, and its refusal cache."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from teamgate.accounting.counters import MemoryCounters
from teamgate.accounting.prices import BUILTIN_PRICES
from teamgate.accounting.service import AccountService
from teamgate.core.errors import AuthenticationFailed, ServiceUnavailable
from teamgate.storage import create_engine, session_factory
from teamgate.storage.migrate import upgrade_engine


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_database_is_503() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test")
    service = AccountService(session_factory(engine), MemoryCounters(), BUILTIN_PRICES)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await service.check_key("sk-tg-" + "x" * 40)
    finally:
        await engine.dispose()
    assert caught.value.status == 503
    assert "database" in caught.value.message


async def test_refused_key_is_not_looked_up_twice(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'teamgate.db'}")
    await upgrade_engine(engine)
    service = AccountService(session_factory(engine), MemoryCounters(), BUILTIN_PRICES)
    lookups = 0
    original = service.sessions

    def counting_sessions() -> object:
        nonlocal lookups
        lookups += 1
        return original()

    service.sessions = counting_sessions  # type: ignore[assignment]
    try:
        for _ in range(3):
            with pytest.raises(AuthenticationFailed):
                await service.check_key("sk-tg-" + "y" * 40)
    finally:
        await engine.dispose()
    assert lookups == 1
