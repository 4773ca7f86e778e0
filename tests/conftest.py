from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from teamgate.fake import FakeGemini, RunningServer, run_in_thread
from tests.support import CLIENT_KEY, UPSTREAM_KEY, running_gateway


@pytest.fixture(scope="session")
def fake_server() -> Iterator[RunningServer]:
    with run_in_thread(FakeGemini(api_keys={UPSTREAM_KEY})) as server:
        yield server


@pytest.fixture
def fake(fake_server: RunningServer) -> Iterator[FakeGemini]:
    fake_server.fake.reset()
    yield fake_server.fake
    assert fake_server.fake.validation_errors == [], "the gateway sent an invalid Gemini request"


@pytest.fixture(scope="session")
def gateway_url(
    fake_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with running_gateway(fake_server.base_url, tmp_path_factory.mktemp("data")) as url:
        yield url


@pytest.fixture
def client(gateway_url: str, fake: FakeGemini) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture
def aclient(gateway_url: str, fake: FakeGemini) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
