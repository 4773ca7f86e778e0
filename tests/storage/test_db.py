from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from teamgate.storage import StorageUnavailable, create_engine, default_url, upgrade
from teamgate.storage.models import User


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_default_url_points_into_data_dir(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/teamgate.db"


def test_unsupported_driver_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'sqlite'"):
        create_engine("sqlite:///teamgate.db")


def test_schema_rejected_for_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL option"):
        create_engine(default_url(tmp_path), schema="other")


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = create_engine(default_url(tmp_path / "nested"))
    try:
        async with engine.connect() as connection:
            journal = await connection.scalar(text("PRAGMA journal_mode"))
            synchronous = await connection.scalar(text("PRAGMA synchronous"))
            busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
            foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()
    assert journal == "wal"
    assert synchronous == 1  # NORMAL
    assert busy_timeout == 5000
    assert foreign_keys == 1
    assert (tmp_path / "nested" / "teamgate.db").exists()


async def test_unreachable_postgres_raises_unavailable() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_loopback_port()}/test"
    with pytest.raises(
        StorageUnavailable, match="cannot connect to the postgresql database"
    ) as info:
        await upgrade(url)
    assert isinstance(info.value.__cause__, OSError)


async def test_unopenable_sqlite_raises_unavailable(tmp_path: Path) -> None:
    (tmp_path / "teamgate.db").mkdir()  # a directory where the database file should be
    engine = create_engine(default_url(tmp_path))
    try:
        with pytest.raises(StorageUnavailable, match="cannot connect to the sqlite database"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        # NOTE: aiosqlite 0.22 stops its worker thread after a failed connect
        # without awaiting it; yielding here lets the thread finish while the
        # event loop is still open, so it does not report a closed loop.
        await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def test_foreign_keys_enforced(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        async with engine.begin() as connection:
            await connection.execute(insert(User).values(name="orphan", group_id=999))
