"""No ledger record is lost: not on a graceful stop, and not on kill -9 a second after a request."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from teamgate.fake import FakeGemini, RunningServer, run_in_thread
from teamgate.storage import create_engine, session_factory
from teamgate.storage.models import UsageRecord
from tests.test_cli import ADMIN_KEY, E2E_CONFIG, UPSTREAM_KEY, e2e_env, serving, write_config

MESSAGES: Any = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[RunningServer]:
    with run_in_thread(FakeGemini(api_keys={UPSTREAM_KEY})) as server:
        yield server


def stored_request_ids(data_dir: Path) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'teamgate.db'}")
        try:
            async with session_factory(engine)() as session:
                return set(await session.scalars(select(UsageRecord.request_id)))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def send_requests(port: int, count: int) -> list[str]:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0)
    ids = []
    for number in range(count):
        raw = client.chat.completions.with_raw_response.create(
            model="team-flash", messages=MESSAGES, stream=number % 2 == 1
        )
        raw.parse()
        ids.append(raw.headers["x-request-id"])
    return ids


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_ledger_survives_stop(tmp_path: Path, upstream: RunningServer, stop: str) -> None:
    data_dir = tmp_path / "data"
    env = e2e_env(tmp_path, upstream) | {"TEAMGATE_DATA_DIR": str(data_dir)}
    config = write_config(tmp_path, E2E_CONFIG)
    with serving(["--config", str(config)], env, tmp_path / "logs") as server:
        ids = send_requests(server.port, 6)
        if stop == "sigkill":
            # Requests that finished more than a second before the kill must be stored.
            time.sleep(1.0)
            server.process.send_signal(signal.SIGKILL)
        else:
            server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
    assert set(ids) <= stored_request_ids(data_dir)
