"""The `teamgate` console script run as a subprocess, the way a user starts it."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from teamgate import __version__
from teamgate.config.loader import DEFAULT_GEMINI_MODELS
from teamgate.fake import FakeGemini, Reply, RunningServer, run_in_thread
from tests.support import HELLO_CHUNK, WORLD_CHUNK

# `python -m teamgate` does not exist, so the tests run the console script installed next to
# the interpreter.
TEAMGATE = Path(sys.executable).parent / "teamgate"

# The canary does not look like an AIza or sk- key, so the log filter that masks those
# patterns cannot hide a leak from this check.
UPSTREAM_KEY = "canary-upstream-3f9a6c1e0b7d5a24"
ADMIN_KEY = "sk-cli-admin-key-8b2e4d6f1a3c"
CLIENT_KEY = "sk-cli-client-key-71c0e9a2d5b4"

COMMAND_TIMEOUT = 30.0
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

GENERATED_KEY = re.compile(r"sk-tg-[A-Za-z0-9_\-]{20,}")

TEXT_CHUNK, LAST_CHUNK = HELLO_CHUNK, WORLD_CHUNK
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]

E2E_CONFIG = """\
admin_key: os.environ/TG_ADMIN_KEY
api_keys: ["${TG_CLIENT_KEY}"]
credentials:
  - id: fake
    api_key: ${TG_UPSTREAM_KEY}
    base_url: os.environ/TG_UPSTREAM_URL
models:
  - name: team-flash
    upstream_model: gemini-2.5-flash
    thinking: {budget: 2048}
    show_thoughts: false
    max_output_tokens: 777
    safety_settings: {HARASSMENT: BLOCK_NONE}
  - name: team-pro
    upstream_model: gemini-2.5-pro
accounting:
  admin_budget_usd: 50
"""

NO_ADMIN_CONFIG = """\
credentials:
  - id: fake
    api_key: ${TG_UPSTREAM_KEY}
    base_url: os.environ/TG_UPSTREAM_URL
"""


# Helpers


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return os.environ minus teamgate, Gemini and proxy variables, with XDG_DATA_HOME in tmp."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEAMGATE_", "GEMINI_")) and "proxy" not in name.lower()
    }
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def run_teamgate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TEAMGATE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teamgate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def openai_client(port: int, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=key,
        max_retries=0,
        timeout=COMMAND_TIMEOUT,
        http_client=openai.DefaultHttpxClient(trust_env=False),
    )


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> int:
        """Send SIGTERM and return the exit code, or raise TimeoutExpired if it does not exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)


def is_live(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health/live")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def serving(args: list[str], env: dict[str, str], log_dir: Path) -> Iterator[ServeProcess]:
    """Start `teamgate serve` on a free port, wait for /health/live, and kill it on exit."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = log_dir / "stdout.log"
    stderr_path = log_dir / "stderr.log"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(TEAMGATE), "serve", *args, "--port", str(port)],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    running = ServeProcess(process, port, stdout_path, stderr_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not is_live(port):
            if process.poll() is not None:
                pytest.fail(f"teamgate serve exited with {process.returncode}:\n{running.stderr()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/health/live did not return 200 within {START_TIMEOUT} s:\n{running.stderr()}"
                )
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def upstream() -> Iterator[RunningServer]:
    with run_in_thread(FakeGemini(api_keys={UPSTREAM_KEY})) as server:
        yield server


@pytest.fixture
def fake(upstream: RunningServer) -> Iterator[FakeGemini]:
    upstream.fake.reset()
    yield upstream.fake
    assert upstream.fake.validation_errors == [], "the gateway sent an invalid Gemini request"


def e2e_env(tmp_path: Path, upstream: RunningServer) -> dict[str, str]:
    return clean_env(
        tmp_path,
        TG_ADMIN_KEY=ADMIN_KEY,
        TG_CLIENT_KEY=CLIENT_KEY,
        TG_UPSTREAM_KEY=UPSTREAM_KEY,
        TG_UPSTREAM_URL=upstream.base_url,
    )


# --version and config check


def test_console_script_installed() -> None:
    assert TEAMGATE.is_file()


def test_version(tmp_path: Path) -> None:
    result = run_teamgate(["--version"], clean_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout == f"teamgate {__version__}\n"


def test_config_check_ok(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    result = run_teamgate(["config", "check", "--config", str(config)], e2e_env(tmp_path, upstream))
    assert result.returncode == 0
    assert "OK (1 credentials, 2 models)" in result.stdout
    assert result.stderr == ""


def test_config_check_env_only(tmp_path: Path) -> None:
    env = clean_env(tmp_path, GEMINI_API_KEY="key-one,key-two")
    result = run_teamgate(["config", "check"], env)
    assert result.returncode == 0
    assert f"2 credentials, {len(DEFAULT_GEMINI_MODELS)} models" in result.stdout


def test_config_check_env_var_config(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    env = e2e_env(tmp_path, upstream) | {"TEAMGATE_CONFIG": str(config)}
    result = run_teamgate(["config", "check"], env)
    assert result.returncode == 0
    assert str(config) in result.stdout


def test_config_check_every_error(tmp_path: Path) -> None:
    literal = "AIzaLiteralKeyWrittenInTheFile0123"
    config = write_config(
        tmp_path,
        "admin_key: os.environ/UNSET_ADMIN_VARIABLE\n"
        "credentials:\n"
        f"  - id: a\n    api_key: {literal}\n    proxy: ftp://127.0.0.1:21\n"
        "  - id: b\n    api_key: os.environ/UNSET_ADMIN_VARIABLE\n    base_ulr: http://x\n"
        "models:\n"
        "  - {name: m, upstream_model: gemini-2.5-flash, thinking: {budget: 1, level: low}}\n",
    )
    result = run_teamgate(["config", "check", "--config", str(config)], clean_env(tmp_path))
    assert result.returncode != 0
    for path in (
        "admin_key",
        "credentials[0].api_key",
        "credentials[0].proxy",
        "credentials[1].api_key",
        "credentials[1].base_ulr",
        "models[0].thinking",
    ):
        assert f"- {path}: " in result.stderr, path
    assert "UNSET_ADMIN_VARIABLE" in result.stderr
    assert literal not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_config_check_weak_key(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    env = e2e_env(tmp_path, upstream) | {"TG_ADMIN_KEY": "sk-1234", "TG_CLIENT_KEY": "short"}
    result = run_teamgate(["config", "check", "--config", str(config)], env)
    assert result.returncode != 0
    assert "- admin_key: " in result.stderr
    assert "- api_keys[0]: " in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    result = run_teamgate(["config", "check", "--config", str(missing)], clean_env(tmp_path))
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_no_source(tmp_path: Path) -> None:
    result = run_teamgate(["config", "check"], clean_env(tmp_path))
    assert result.returncode != 0
    assert "GEMINI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


# serve: startup failures


def test_serve_weak_admin_key(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    env = e2e_env(tmp_path, upstream) | {"TG_ADMIN_KEY": "sk-1234"}
    args = ["serve", "--config", str(config), "--port", str(free_port())]
    result = run_teamgate(args, env)
    assert result.returncode != 0
    assert "admin_key" in result.stderr
    assert "well-known" in result.stderr
    assert str(config) in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_empty_admin_key(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    env = e2e_env(tmp_path, upstream) | {"TG_ADMIN_KEY": ""}
    args = ["serve", "--config", str(config), "--port", str(free_port())]
    result = run_teamgate(args, env)
    assert result.returncode != 0
    assert "admin_key" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_invalid_config(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, E2E_CONFIG.replace("max_output_tokens", "max_tokens"))
    args = ["serve", "--config", str(config), "--port", str(free_port())]
    result = run_teamgate(args, e2e_env(tmp_path, upstream))
    assert result.returncode != 0
    assert "models[0].max_tokens" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_any_config(tmp_path: Path) -> None:
    result = run_teamgate(["serve", "--port", str(free_port())], clean_env(tmp_path))
    assert result.returncode != 0
    assert "GEMINI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_invalid_log_level(tmp_path: Path) -> None:
    env = clean_env(tmp_path, GEMINI_API_KEY="key-one")
    result = run_teamgate(["serve", "--log-level", "loud", "--port", str(free_port())], env)
    assert result.returncode != 0
    assert "--log-level" in result.stderr


# serve: end to end


def test_serve_end_to_end(tmp_path: Path, upstream: RunningServer, fake: FakeGemini) -> None:
    config = write_config(tmp_path, E2E_CONFIG)
    args = ["--config", str(config), "--host", "127.0.0.1", "--log-level", "debug"]
    with serving(args, e2e_env(tmp_path, upstream), tmp_path / "logs") as server:
        client = openai_client(server.port, CLIENT_KEY)

        fake.enqueue(Reply(chunks=[TEXT_CHUNK, LAST_CHUNK]))
        completion = client.chat.completions.create(model="team-flash", messages=MESSAGES)
        assert completion.choices[0].message.content == "Hello world"
        assert completion.model == "team-flash"

        fake.enqueue(Reply(chunks=[TEXT_CHUNK, LAST_CHUNK], line_ending="\r\n"))
        stream = client.chat.completions.create(model="team-flash", messages=MESSAGES, stream=True)
        chunks = list(stream)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert text == "Hello world"
        finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
        assert finish[-1] == "stop"

        models = client.models.list()
        assert [model.id for model in models.data] == ["team-flash", "team-pro"]

        with pytest.raises(openai.AuthenticationError):
            openai_client(server.port, "sk-not-a-configured-key-123").models.list()

        exit_code = server.terminate()

    calls = [request for request in fake.requests if request.method == "POST"]
    assert [request.path for request in calls] == [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    ]
    assert calls[1].query.get("alt") == "sse"
    for request in calls:
        assert request.headers.get("x-goog-api-key") == UPSTREAM_KEY
        assert request.body is not None
        assert request.body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
        assert request.body["generationConfig"]["maxOutputTokens"] == 777
        assert request.body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048}
        assert request.body["safetySettings"] == [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
        ]

    # uvicorn re-raises a captured SIGTERM after its graceful shutdown (uvicorn/server.py in
    # 0.55), so -SIGTERM is a clean exit too.
    assert exit_code in (0, -signal.SIGTERM)
    stderr = server.stderr()
    assert "Application shutdown complete" in stderr
    assert "Traceback" not in stderr
    assert UPSTREAM_KEY not in stderr
    assert UPSTREAM_KEY not in server.stdout()
    assert CLIENT_KEY not in stderr
    assert ADMIN_KEY not in stderr


def test_serve_env_only(tmp_path: Path, upstream: RunningServer, fake: FakeGemini) -> None:
    env = clean_env(
        tmp_path,
        GEMINI_API_KEY=UPSTREAM_KEY,
        GEMINI_BASE_URL=upstream.base_url,
        TEAMGATE_ADMIN_KEY=ADMIN_KEY,
    )
    assert run_teamgate(["user", "add", "mei"], env).returncode == 0
    created = run_teamgate(["key", "create", "--user", "mei"], env)
    personal = GENERATED_KEY.search(created.stdout)
    assert personal is not None
    with serving([], env, tmp_path / "logs") as server:
        admin = openai_client(server.port, ADMIN_KEY)
        model_ids = [model.id for model in admin.models.list().data]
        with pytest.raises(openai.PermissionDeniedError) as refused:
            admin.chat.completions.create(model="gemini-2.5-pro", messages=MESSAGES)
        fake.enqueue(Reply(chunks=[TEXT_CHUNK, LAST_CHUNK]))
        client = openai_client(server.port, personal.group(0))
        completion = client.chat.completions.create(model="gemini-2.5-pro", messages=MESSAGES)
        server.terminate()

    assert model_ids == list(DEFAULT_GEMINI_MODELS)
    assert "teamgate key create" in refused.value.message
    assert completion.choices[0].message.content == "Hello world"
    assert fake.requests[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert fake.requests[-1].headers.get("x-goog-api-key") == UPSTREAM_KEY
    assert UPSTREAM_KEY not in server.stderr()


# serve: the generated admin key


def test_generated_admin_key(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, NO_ADMIN_CONFIG)
    env = e2e_env(tmp_path, upstream)
    with serving(["--config", str(config)], env, tmp_path / "first") as first:
        keys = GENERATED_KEY.findall(first.stderr())
        assert len(keys) == 1, first.stderr()
        admin_key = keys[0]
        models = openai_client(first.port, admin_key).models.list()
        first.terminate()

    assert len(models.data) == len(DEFAULT_GEMINI_MODELS)
    assert first.stderr().count(admin_key) == 1
    stored = (tmp_path / "xdg" / "teamgate" / "admin_key.sha256").read_text(encoding="ascii")
    assert admin_key not in stored

    with serving(["--config", str(config)], env, tmp_path / "second") as second:
        models = openai_client(second.port, admin_key).models.list()
        second.terminate()

    assert len(models.data) == len(DEFAULT_GEMINI_MODELS)
    assert GENERATED_KEY.search(second.stderr()) is None
    assert "generated" not in second.stderr()


def test_data_dir_env_with_config(tmp_path: Path, upstream: RunningServer) -> None:
    config = write_config(tmp_path, NO_ADMIN_CONFIG)
    env = e2e_env(tmp_path, upstream) | {"TEAMGATE_DATA_DIR": str(tmp_path / "data")}
    with serving(["--config", str(config)], env, tmp_path / "logs") as server:
        server.terminate()
    assert (tmp_path / "data" / "admin_key.sha256").is_file()


# serve --demo


def test_demo_end_to_end(tmp_path: Path) -> None:
    env = clean_env(tmp_path, TEAMGATE_DATA_DIR=str(tmp_path / "data"))
    with serving(["--demo"], env, tmp_path / "logs") as server:
        client = openai_client(server.port, "sk-demo")
        models = client.models.list().data
        completion = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
        stream = client.chat.completions.create(
            model="gemini-3-flash-preview", messages=MESSAGES, stream=True
        )
        chunks = list(stream)
        exit_code = server.terminate()

    stderr = server.stderr()
    assert "sk-demo" in stderr
    assert f"running on http://127.0.0.1:{server.port}" in stderr
    assert exit_code in (0, -signal.SIGTERM)

    assert "gemini-2.5-flash" in [model.id for model in models]
    for model in models:
        assert model.owned_by == "teamgate-demo"
        assert (model.model_extra or {}).get("name") == f"{model.id} (simulated)"

    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"

    # Demo mode generates no admin key, so nothing is written to either data directory.
    assert GENERATED_KEY.search(stderr) is None
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "xdg").exists()


def test_demo_rejects_other_keys(tmp_path: Path) -> None:
    with serving(["--demo"], clean_env(tmp_path), tmp_path / "logs") as server:
        with pytest.raises(openai.AuthenticationError):
            openai_client(server.port, "sk-some-other-client-key").models.list()
        server.terminate()
