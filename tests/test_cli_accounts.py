"""Round trips through the management commands of the `teamgate` console script.

Each command runs as a subprocess with a temporary data directory and no
GEMINI_API_KEY, and the tests check what it wrote through the storage
repository in this process. The user and key round trip also runs on
PostgreSQL when TEAMGATE_TEST_POSTGRES_URL is set, in a database of its own
that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.storage import create_engine, default_url, session_factory
from teamgate.storage.models import ApiKey
from teamgate.storage.repository import (
    KeyState,
    UsageEntry,
    create_key,
    find_key,
    get_group_by_name,
    get_user_by_name,
    insert_usage_records,
    list_users,
    verify_password,
)

TEAMGATE = Path(sys.executable).parent / "teamgate"
POSTGRES_URL_ENV = "TEAMGATE_TEST_POSTGRES_URL"
COMMAND_TIMEOUT = 60.0
GENERATED_KEY = re.compile(r"^\s+(sk-tg-[A-Za-z0-9_\-]{20,})$", re.MULTILINE)
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Target:
    """A database the commands work on: its URL and the options that select it."""

    url: str
    options: tuple[str, ...]
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TEAMGATE), *args, *self.options],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, f"teamgate {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def query(self, work: Callable[[AsyncSession], Awaitable[ResultT]]) -> ResultT:
        return asyncio.run(_in_session(self.url, work))


async def _in_session(url: str, work: Callable[[AsyncSession], Awaitable[ResultT]]) -> ResultT:
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _environment(data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GEMINI_", "TEAMGATE_"))
    }
    env["TEAMGATE_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Target:
    """One SQLite data directory shared by the tests of this module; each uses its own names."""
    data_dir = tmp_path_factory.mktemp("cli-data")
    return Target(default_url(data_dir), (), _environment(data_dir))


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A fresh PostgreSQL database, named in a configuration file that also lists credentials."""
    server_url = os.environ.get(POSTGRES_URL_ENV)
    if not server_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set; export it to run the PostgreSQL cases")
    # The name is generated here, never taken from input, so quoting it is safe.
    name = f"teamgate_cli_{uuid.uuid4().hex}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    directory = tmp_path_factory.mktemp("cli-postgres")
    config = directory / "teamgate.yaml"
    # The credential's variable is unset: these commands must not need it.
    config.write_text(
        "credentials:\n"
        "  - id: unused\n"
        "    api_key: os.environ/TG_CLI_TEST_UNSET_KEY\n"
        "accounting:\n"
        "  database_url: os.environ/TG_CLI_TEST_DATABASE_URL\n",
        encoding="utf-8",
    )
    env = _environment(directory / "data")
    env["TG_CLI_TEST_DATABASE_URL"] = url
    try:
        yield Target(url, ("--config", str(config)), env)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest) -> Target:
    fixture: Target = request.getfixturevalue("sqlite" if request.param == "sqlite" else "postgres")
    return fixture


def _created_key(output: str) -> str:
    match = GENERATED_KEY.search(output)
    assert match, f"no key in the output:\n{output}"
    return match.group(1)


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_db_upgrade_prints_revision(tmp_path: Path) -> None:
    fresh = Target(default_url(tmp_path / "data"), (), _environment(tmp_path / "data"))

    output = fresh.ok("db", "upgrade")

    assert re.search(r"at revision \w+", output), output
    assert (tmp_path / "data" / "teamgate.db").exists()


def test_user_key_round_trip(target: Target) -> None:
    target.ok("group", "add", "rt-team", "--multiplier", "1.5", "--models", "m1,m2")
    target.ok("user", "add", "rt-alice", "--email", "rt-alice@example.com", "--group", "rt-team")
    users = target.ok("user", "list")
    assert re.search(r"rt-alice\s+rt-alice@example.com\s+member\s+rt-team\s+active", users)
    assert "rt-team" in target.ok("group", "list")

    created = target.ok(
        "key", "create", "--user", "rt-alice", "--name", "laptop", "--expires", "2099-01-31"
    )
    plaintext = _created_key(created)
    prefix = plaintext[:12]
    assert f"prefix {prefix}" in created

    lookup = target.query(lambda session: find_key(session, plaintext))
    assert lookup.state is KeyState.ACTIVE
    assert lookup.owner is not None
    assert lookup.owner.name == "rt-alice"
    assert lookup.key is not None

    listing = target.ok("key", "list", "--user", "rt-alice")
    assert prefix in listing
    assert plaintext not in listing
    assert lookup.key.key_hash not in listing
    assert re.search(rf"{re.escape(prefix)}\s+rt-alice\s+laptop\s+active", listing)

    target.ok("key", "revoke", prefix)
    revoked = target.query(lambda session: find_key(session, plaintext))
    assert revoked.state is KeyState.REVOKED
    assert "revoked" in target.ok("key", "list", "--user", "rt-alice")


def test_user_disable_stops_keys(sqlite: Target) -> None:
    sqlite.ok("user", "add", "dis-bob")
    plaintext = _created_key(sqlite.ok("key", "create", "--user", "dis-bob"))

    sqlite.ok("user", "disable", "dis-bob")

    assert re.search(r"dis-bob\s+-\s+member\s+default\s+disabled", sqlite.ok("user", "list"))
    lookup = sqlite.query(lambda session: find_key(session, plaintext))
    assert lookup.state is KeyState.OWNER_DISABLED


def test_key_create_options_stored(sqlite: Target) -> None:
    sqlite.ok("user", "add", "opt-carol")
    output = sqlite.ok(
        "key", "create", "--user", "opt-carol", "--models", "m1, m2", "--budget", "2.5",
        "--period", "weekly", "--rpm", "10", "--tpm", "2000", "--rpd", "100",
        "--concurrent", "3", "--trusted-app", "--expires", "2099-12-31",
    )  # fmt: skip

    key = sqlite.query(lambda session: find_key(session, _created_key(output))).key
    assert key is not None
    assert key.allowed_models == ["m1", "m2"]
    assert key.budget_micro_usd == 2_500_000
    assert key.budget_period == "weekly"
    assert (key.rpm, key.tpm, key.rpd, key.max_concurrent) == (10, 2000, 100, 3)
    assert key.trusted_app is True
    assert key.expires_at == datetime(2100, 1, 1, tzinfo=UTC)


def test_password_prompt_stores_hash(sqlite: Target) -> None:
    password = "correct horse battery"
    sqlite.ok("user", "add", "pw-dave", "--password-prompt", stdin=f"{password}\n{password}\n")

    async def check(session: AsyncSession) -> tuple[bool, bool]:
        user = await get_user_by_name(session, "pw-dave")
        assert user is not None
        return await verify_password(user, password), await verify_password(user, "wrong")

    assert sqlite.query(check) == (True, False)


def test_budget_set_and_clear(sqlite: Target) -> None:
    sqlite.ok("group", "add", "bud-group")
    sqlite.ok("user", "add", "bud-erin", "--group", "bud-group")
    plaintext = _created_key(sqlite.ok("key", "create", "--user", "bud-erin"))

    sqlite.ok("budget", "set", "--user", "bud-erin", "--usd", "12.345678", "--period", "daily")
    sqlite.ok("budget", "set", "--key", plaintext[:12], "--usd", "0.5", "--period", "total")
    sqlite.ok("budget", "set", "--group", "bud-group", "--usd", "100")

    async def budgets(session: AsyncSession) -> list[tuple[int | None, str]]:
        user = await get_user_by_name(session, "bud-erin")
        group = await get_group_by_name(session, "bud-group")
        key = (await find_key(session, plaintext)).key
        assert user is not None
        assert group is not None
        assert key is not None
        rows = (user, key, group)
        return [(row.budget_micro_usd, row.budget_period) for row in rows]

    assert sqlite.query(budgets) == [
        (12_345_678, "daily"),
        (500_000, "total"),
        (100_000_000, "monthly"),
    ]
    assert re.search(r"bud-erin.*12\.345678\s+daily", sqlite.ok("user", "list"))

    sqlite.ok("budget", "set", "--user", "bud-erin", "--clear")
    sqlite.ok("budget", "set", "--key", plaintext[:12], "--clear")
    sqlite.ok("budget", "set", "--group", "bud-group", "--clear")

    assert [budget for budget, _ in sqlite.query(budgets)] == [None, None, None]


def test_user_import_with_bad_row(sqlite: Target, tmp_path: Path) -> None:
    sqlite.ok("group", "add", "imp-group")
    file = tmp_path / "users.csv"
    file.write_text(
        "name,email,role,group,budget_usd,period\n"
        "imp-frank,imp-frank@example.com,admin,imp-group,10,weekly\n"
        "imp-grace,,member,no-such-group,,\n"
        "imp-heidi,,,,,\n",
        encoding="utf-8",
    )

    dry = sqlite.run("user", "import", str(file), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "line 2: would create user imp-frank" in dry.stdout
    assert "nothing was written" in dry.stdout
    assert sqlite.query(lambda session: get_user_by_name(session, "imp-frank")) is None

    result = sqlite.run("user", "import", str(file))
    assert result.returncode == 1, result.stderr
    assert "line 2: created user imp-frank" in result.stdout
    assert "line 3: failed: unknown group 'no-such-group'" in result.stdout
    assert "line 4: created user imp-heidi" in result.stdout
    assert "2 rows imported, 1 failed" in result.stdout

    async def imported(session: AsyncSession) -> dict[str, tuple[str, int | None, str]]:
        users = await list_users(session)
        return {
            user.name: (user.role, user.budget_micro_usd, user.budget_period)
            for user in users
            if user.name.startswith("imp-")
        }

    assert sqlite.query(imported) == {
        "imp-frank": ("admin", 10_000_000, "weekly"),
        "imp-heidi": ("member", None, "monthly"),
    }


def test_user_import_rejects_unknown_column(sqlite: Target, tmp_path: Path) -> None:
    file = tmp_path / "users.csv"
    file.write_text("name,mail\nx,y\n", encoding="utf-8")

    line = _error_line(sqlite.run("user", "import", str(file)))

    assert "use the columns name,email,role,group,budget_usd,period" in line


def _usage_config(directory: Path) -> Path:
    config = directory / "usage.yaml"
    # The credential's variable is unset: these commands must not need it.
    config.write_text(
        "credentials:\n"
        "  - id: unused\n"
        "    api_key: os.environ/TG_CLI_TEST_UNSET_KEY\n"
        "accounting:\n"
        "  cny_per_usd: 7.1\n",
        encoding="utf-8",
    )
    return config


def test_usage_table_and_csv(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    target = Target(default_url(data_dir), (), _environment(data_dir))
    target.ok("user", "add", "use-ivan")
    ivan = target.query(lambda session: get_user_by_name(session, "use-ivan"))
    assert ivan is not None
    day = datetime(2026, 12, 3, 10, tzinfo=UTC)
    entries = [
        UsageEntry("u1", day, "flash", 200, user_id=ivan.id, input_tokens=100,
                   cached_input_tokens=20, output_tokens=50, reasoning_tokens=10,
                   cost_micro_usd=1_234_567),
        UsageEntry("u2", day + timedelta(days=1), "pro", 200, user_id=ivan.id,
                   input_tokens=1000, output_tokens=500, cost_micro_usd=2_000_001),
        UsageEntry("u3", day, "flash", 500, output_tokens=0, cost_micro_usd=1),
        UsageEntry("u4", day - timedelta(days=30), "flash", 200, cost_micro_usd=999),
    ]  # fmt: skip
    target.query(lambda session: insert_usage_records(session, entries))
    config = str(_usage_config(tmp_path))
    period = ("--since", "2026-12-01", "--until", "2026-12-31")

    by_user = list(csv.reader(io.StringIO(target.ok("usage", "--csv", *period, "-c", config))))
    assert by_user == [
        ["user", "requests", "input_tokens", "cached_input_tokens", "output_tokens",
         "reasoning_tokens", "tool_use_prompt_tokens", "cost_usd", "cost_cny"],
        ["use-ivan", "2", "1100", "20", "550", "10", "0", "3.234568", "22.965433"],
        ["(no user)", "1", "0", "0", "0", "0", "0", "0.000001", "0.000007"],
    ]  # fmt: skip

    by_day = list(csv.reader(io.StringIO(target.ok("usage", "--by", "day", "--csv", *period))))
    assert [row[0] for row in by_day] == ["day", "2026-12-03", "2026-12-04"]
    assert by_day[1][-1] == "1.234568"
    assert by_day[0][-1] == "cost_usd"

    table = target.ok("usage", "--by", "model", *period, "-c", config)
    assert "cost CNY" in table
    assert re.search(r"^flash\s+2\s+100\s+20\s+50\s+10\s+0\s+1\.234568\s+8\.765433$", table, re.M)
    assert re.search(r"^total\s+3\s+.*3\.234569\s+22\.965440$", table, re.M)


def test_credit_forecast_burn_rate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    target = Target(default_url(data_dir), (), _environment(data_dir))
    now = datetime.now(UTC)
    start = now.date() - timedelta(days=7)
    # $12 a day over the last seven days, after the credit started.
    entries = [
        UsageEntry(f"c{index}", now - timedelta(days=index + 0.5), "flash", 200,
                   credential_id="trial-key", cost_micro_usd=12_000_000)
        for index in range(7)
    ]  # fmt: skip
    target.ok("credit", "add", "trial", "--usd", "300", "--starts", start.isoformat(),
              "--credentials", "trial-key,other")  # fmt: skip
    target.query(lambda session: insert_usage_records(session, entries))

    forecast = target.ok("credit", "forecast", "trial")

    assert "spent:       84.000000 USD" in forecast
    assert "remaining:   216.000000 USD" in forecast
    assert "daily burn:  12.000000 USD" in forecast
    # 300 USD at 12 USD a day lasts 25 days from the start: 18 days from now.
    runs_out = re.search(r"runs out:\s+(\S+) \(in 18\.0 days\)", forecast)
    assert runs_out, forecast
    assert date.fromisoformat(runs_out.group(1)) == start + timedelta(days=25)
    assert "warning" not in forecast
    assert "trial" in target.ok("credit", "list")


def test_credit_forecast_warns_on_expiry(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    target = Target(default_url(data_dir), (), _environment(data_dir))
    now = datetime.now(UTC)
    entries = [UsageEntry("e1", now - timedelta(days=1), "flash", 200, cost_micro_usd=70_000_000)]
    start, expiry = now.date() - timedelta(days=7), now.date() + timedelta(days=2)
    target.ok("credit", "add", "short", "--usd", "300", "--starts", start.isoformat(),
              "--expires", expiry.isoformat())  # fmt: skip
    target.query(lambda session: insert_usage_records(session, entries))

    forecast = target.ok("credit", "forecast", "short")

    assert "daily burn:  10.000000 USD" in forecast
    assert re.search(r"^warning: the credit expires at .*, before it runs out", forecast, re.M)


def test_ambiguous_prefix_lists_matches(sqlite: Target) -> None:
    sqlite.ok("user", "add", "amb-judy")

    async def two_keys(session: AsyncSession) -> None:
        user = await get_user_by_name(session, "amb-judy")
        assert user is not None
        for suffix in ("1", "2"):
            _, key = await create_key(session, user.id, f"k{suffix}")
            prefix = f"sk-tg-ZZZZZ{suffix}"
            await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(prefix=prefix))

    sqlite.query(two_keys)

    line = _error_line(sqlite.run("key", "revoke", "sk-tg-ZZZZZ"))

    assert "matches 2 keys" in line
    assert "sk-tg-ZZZZZ1" in line
    assert "sk-tg-ZZZZZ2" in line
    assert "revoked" in sqlite.ok("key", "revoke", "ZZZZZ2")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("user", "add", "err-x", "--group", "nope"), "unknown group 'nope'"),
        (("key", "create", "--user", "nobody"), "unknown user 'nobody'"),
        (("key", "create", "--user", "x", "--expires", "2027-02-30"), "invalid date '2027-02-30'"),
        (("budget", "set", "--user", "x", "--usd", "-1"), "negative amount '-1' for --usd"),
        (("budget", "set", "--user", "x", "--usd", "1e400x"), "invalid amount '1e400x'"),
        (("budget", "set", "--user", "x", "--usd", "1", "--period", "yearly"), "--period 'yearly'"),
        (("key", "revoke", "sk-tg-nomatch"), "no API key has the prefix 'sk-tg-nomatch'"),
        (("key", "revoke", "sk-tg"), "matches every key"),
        (("credit", "forecast", "nope"), "unknown credit account 'nope'"),
    ],
    ids=[
        "unknown-group",
        "unknown-user",
        "bad-date",
        "negative-money",
        "bad-money",
        "bad-period",
        "unknown-key",
        "bare-prefix",
        "unknown-credit",
    ],
)
def test_error_paths(sqlite: Target, args: tuple[str, ...], expected: str) -> None:
    line = _error_line(sqlite.run(*args))

    assert expected in line


def test_unreachable_database(tmp_path: Path) -> None:
    target = Target("", (), _environment(tmp_path / "data"))

    result = target.run("user", "list", "--database-url", "postgresql+asyncpg://u@127.0.0.1:9/x")

    assert "cannot connect to the postgresql database" in _error_line(result)
