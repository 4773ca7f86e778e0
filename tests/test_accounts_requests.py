"""Personal keys on the request path: permissions, limits, budgets, end users and the ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
from sqlalchemy import select

from teamgate.fake import FakeGemini, RunningServer
from teamgate.storage import create_engine, session_factory
from teamgate.storage.models import BudgetPeriod, EndUser, UsageRecord
from teamgate.storage.repository import keys as key_repo
from teamgate.storage.repository.common import Limits
from teamgate.storage.repository.users import create_group, create_user, ensure_default_group
from tests.support import ADMIN_KEY, running_gateway

T = TypeVar("T")
MESSAGES: Any = [{"role": "user", "content": "Hi"}]


class Accounts:
    """Direct access to the gateway's SQLite database, for setting up users and reading records."""

    def __init__(self, data_dir: Path) -> None:
        self.url = f"sqlite+aiosqlite:///{data_dir / 'teamgate.db'}"

    def query(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async def go() -> T:
            engine = create_engine(self.url)
            try:
                async with session_factory(engine)() as session:
                    result = await work(session)
                    await session.commit()
                    return result
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def new_key(self, name: str, limits: Limits | None = None, **options: Any) -> tuple[str, int]:
        async def work(session: Any) -> tuple[str, int]:
            user = await create_user(session, name, limits=options.pop("user_limits", None))
            plaintext, _ = await key_repo.create_key(
                session, user.id, f"{name}-key", limits=limits, **options
            )
            return plaintext, user.id

        return self.query(work)

    def records(self) -> list[UsageRecord]:
        async def work(session: Any) -> list[UsageRecord]:
            result = await session.scalars(select(UsageRecord).order_by(UsageRecord.created_at))
            return list(result)

        return self.query(work)


@pytest.fixture(scope="module")
def gateway(
    fake_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Accounts]]:
    data_dir = tmp_path_factory.mktemp("accounts")
    with running_gateway(fake_server.base_url, data_dir, admin_budget=True) as url:
        yield url, Accounts(data_dir)


def client_for(url: str, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, default_headers=headers)


def wait_for_record(accounts: Accounts, request_id: str) -> UsageRecord:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [record for record in accounts.records() if record.request_id == request_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no ledger record for {request_id}")


def test_personal_key_is_billed(gateway: tuple[str, Accounts], fake: FakeGemini) -> None:
    url, accounts = gateway
    key, user_id = accounts.new_key("alice")
    raw = client_for(url, key).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    result = raw.parse()
    record = wait_for_record(accounts, raw.headers["x-request-id"])
    assert result.usage is not None
    assert record.user_id == user_id
    assert record.http_status == 200
    assert record.input_tokens == result.usage.prompt_tokens
    assert record.output_tokens == result.usage.completion_tokens
    assert record.cost_micro_usd > 0
    assert record.upstream_model == "gemini-2.5-flash"


def test_unknown_and_revoked_keys_are_401(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("bob")
    with pytest.raises(openai.AuthenticationError):
        client_for(url, key + "x").models.list()

    async def revoke(session: Any) -> None:
        found = await key_repo.find_key(session, key)
        assert found.key is not None
        await key_repo.revoke_key(session, found.key.id)

    accounts.query(revoke)
    time.sleep(5.2)  # the gateway caches a key lookup for five seconds
    with pytest.raises(openai.AuthenticationError) as caught:
        client_for(url, key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert "revoked" in caught.value.message


def test_model_not_allowed_is_403(gateway: tuple[str, Accounts], fake: FakeGemini) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("carol", allowed_models=["gemini-2.5-flash"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client_for(url, key).chat.completions.create(model="gemini-2.5-pro", messages=MESSAGES)
    assert "gemini-2.5-pro" in caught.value.message
    assert fake.requests == []


def test_rpm_limit_is_429_with_retry_after(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("dave", Limits(rpm=2))
    client = client_for(url, key)
    for _ in range(2):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


def test_exhausted_budget_is_insufficient_quota(
    gateway: tuple[str, Accounts], fake: FakeGemini
) -> None:
    url, accounts = gateway
    # 2 micro-USD cannot fit the upper-bound estimate of any priced request.
    key, _ = accounts.new_key("erin", Limits(budget_micro_usd=2, budget_period=BudgetPeriod.DAILY))
    with pytest.raises(openai.RateLimitError) as caught:
        client_for(url, key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.code == "insufficient_quota"
    assert "resets at" in caught.value.message
    assert fake.requests == []


def test_trusted_app_maps_open_webui_users(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, owner_id = accounts.new_key("webui", trusted_app=True)
    headers = {"X-OpenWebUI-User-Id": "u-123", "X-OpenWebUI-User-Email": "mei@example.com"}
    raw = client_for(url, key, **headers).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    record = wait_for_record(accounts, raw.headers["x-request-id"])

    async def end_users(session: Any) -> list[EndUser]:
        return list(await session.scalars(select(EndUser).where(EndUser.external_id == "u-123")))

    people = accounts.query(end_users)
    assert len(people) == 1
    assert people[0].app_owner_user_id == owner_id
    assert people[0].email == "mei@example.com"
    assert record.end_user_id == people[0].id


def test_untrusted_key_ignores_user_headers(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("frank")
    headers = {"X-OpenWebUI-User-Id": "spoofed"}
    raw = client_for(url, key, **headers).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    record = wait_for_record(accounts, raw.headers["x-request-id"])
    assert record.end_user_id is None


def test_group_multiplier_applies(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway

    async def setup(session: Any) -> tuple[str, str]:
        await ensure_default_group(session)
        vip = await create_group(session, "double", price_multiplier=Decimal(2))
        plain = await create_user(session, "plain-user")
        costly = await create_user(session, "costly-user", group_id=vip.id)
        first, _ = await key_repo.create_key(session, plain.id, "k1")
        second, _ = await key_repo.create_key(session, costly.id, "k2")
        return first, second

    plain_key, costly_key = accounts.query(setup)
    costs = []
    for key in (plain_key, costly_key):
        raw = client_for(url, key).chat.completions.with_raw_response.create(
            model="gemini-2.5-flash", messages=MESSAGES
        )
        costs.append(wait_for_record(accounts, raw.headers["x-request-id"]).cost_micro_usd)
    assert costs[1] == pytest.approx(2 * costs[0], abs=1)


def test_config_keys_are_recorded_without_account(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    raw = client_for(url, ADMIN_KEY).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    record = wait_for_record(accounts, raw.headers["x-request-id"])
    assert record.user_id is None
    assert record.api_key_id is None


def test_admin_key_spends_the_configured_budget(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    raw = client_for(url, ADMIN_KEY).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    record = wait_for_record(accounts, raw.headers["x-request-id"])
    assert record.cost_micro_usd > 0


def test_budget_caps_output_upstream(gateway: tuple[str, Accounts], fake: FakeGemini) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("gina", Limits(budget_micro_usd=5_000_000))
    client_for(url, key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    body = fake.requests[-1].body
    assert body is not None
    # The reservation assumed the default cap, so the upstream must not exceed it.
    assert body["generationConfig"]["maxOutputTokens"] == 8192


def test_long_open_webui_headers_fit(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("webui-long", trusted_app=True)
    headers = {
        "X-OpenWebUI-User-Id": "i" * 300,
        "X-OpenWebUI-User-Name": "n" * 400,
        "X-OpenWebUI-User-Email": "e" * 400 + "@example.com",
    }
    raw = client_for(url, key, **headers).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    record = wait_for_record(accounts, raw.headers["x-request-id"])
    other = {"X-OpenWebUI-User-Id": "i" * 299 + "j"}
    second = client_for(url, key, **other).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    other_record = wait_for_record(accounts, second.headers["x-request-id"])
    assert record.end_user_id is not None
    assert other_record.end_user_id is not None
    assert record.end_user_id != other_record.end_user_id


def test_models_list_follows_the_key(gateway: tuple[str, Accounts]) -> None:
    url, accounts = gateway
    key, _ = accounts.new_key("hana", allowed_models=["gemini-2.5-flash", "flash-tags"])
    listed = [model.id for model in client_for(url, key).models.list()]
    assert listed == ["gemini-2.5-flash", "flash-tags"]
    everything = [model.id for model in client_for(url, ADMIN_KEY).models.list()]
    assert "gemini-2.5-pro" in everything
