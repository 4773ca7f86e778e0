"""The gateways under test: how to configure, start and query each of them."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MODEL = "gemini-2.5-flash"

# LiteLLM 1.108.7 fetches these data files over the network at startup or on first use unless
# the variable is "True". The benchmark sends traffic only to loopback, so all are set.
LITELLM_LOCAL_DATA = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
}

PRINT_PYTHON_VERSION = "import platform; print(platform.python_version())"
PRINT_LITELLM_VERSION = "import importlib.metadata as m; print(m.version('litellm'))"


@dataclass(frozen=True)
class Gateway:
    """A gateway ready to start: its command line (with a `{port}` field), environment and key."""

    name: str
    version: str
    python: str
    argv_template: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    api_key: str = field(repr=False)

    def argv(self, port: int) -> list[str]:
        return [arg.format(port=port) for arg in self.argv_template]

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    # Keep every request of the gateways on loopback even if a proxy is configured.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _command_output(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


def teamgate(binary: Path, workdir: Path, upstream_port: int) -> Gateway:
    """Write a teamgate config for the static upstream into `workdir` and describe the gateway."""
    if not binary.exists():
        raise FileNotFoundError(
            f"teamgate executable not found at {binary}: install the project into its venv "
            "with `pip install -e .` or pass --teamgate-bin"
        )
    config = workdir / "teamgate.yaml"
    config.write_text(
        "admin_key: os.environ/TEAMGATE_ADMIN_KEY\n"
        "credentials:\n"
        "  - id: bench\n"
        "    provider: gemini\n"
        "    api_key: os.environ/BENCH_GEMINI_KEY\n"
        f"    base_url: http://127.0.0.1:{upstream_port}\n"
        "models:\n"
        f"  - name: {MODEL}\n"
        f"    upstream_model: {MODEL}\n"
    )
    admin_key = secrets.token_urlsafe(32)
    env = _base_env() | {
        "TEAMGATE_ADMIN_KEY": admin_key,
        "BENCH_GEMINI_KEY": "bench-gemini-key",
        "TEAMGATE_DATA_DIR": str(workdir / "data"),
    }
    personal_key = _personal_key(binary, config, env)
    argv = (
        str(binary), "serve", "--config", str(config),
        "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
    )  # fmt: skip
    version = _command_output([str(binary), "--version"])
    python = _command_output([str(binary.parent / "python"), "-c", PRINT_PYTHON_VERSION])
    return Gateway("teamgate", version, python, argv, env, personal_key)


def _personal_key(binary: Path, config: Path, env: Mapping[str, str]) -> str:
    """Create a user and a personal key with a budget and rate limits in the bench database.

    Requests on this key go through key lookup, rate limits, the budget reservation
    and the ledger, as every team member's requests do. The limits are far above
    what the benchmark sends, so none of them refuses a request.
    """
    common = ["--config", str(config)]
    subprocess.run(
        [str(binary), "user", "add", "bench", *common],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    created = subprocess.run(
        [
            str(binary), "key", "create", "--user", "bench", *common,
            "--budget", "1000000", "--period", "monthly",
            "--rpm", "100000000", "--tpm", "2000000000", "--rpd", "2000000000",
            "--concurrent", "10000",
        ],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    for word in created.stdout.split():
        if word.startswith("sk-tg-") and len(word) > 20:
            return word
    raise RuntimeError(f"teamgate key create printed no key:\n{created.stdout}")


def litellm(venv: Path, workdir: Path, upstream_port: int) -> Gateway:
    """Write a LiteLLM proxy config for the static upstream into `workdir` and describe the gateway.

    LiteLLM appends `/models/{model}:generateContent` (or `:streamGenerateContent?alt=sse`)
    to a custom Gemini `api_base`, so the base ends in `/v1beta` to reach the same upstream
    path as the Gemini API.
    """
    binary = venv / "bin" / "litellm"
    if not binary.exists():
        raise FileNotFoundError(
            f"LiteLLM not found at {binary}: create its venv with `bash bench/setup_litellm.sh`"
        )
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: gemini/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1beta\n"
        "      api_key: os.environ/BENCH_GEMINI_KEY\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )
    master_key = "sk-" + secrets.token_urlsafe(32)
    env = _base_env() | LITELLM_LOCAL_DATA
    env |= {
        "LITELLM_MASTER_KEY": master_key,
        "BENCH_GEMINI_KEY": "bench-gemini-key",
        # WARNING also turns off uvicorn's access log, as `--log-level warning` does for teamgate.
        "LITELLM_LOG": "WARNING",
    }
    argv = (
        str(binary), "--config", str(config),
        "--host", "127.0.0.1", "--port", "{port}", "--num_workers", "1",
    )  # fmt: skip
    python_path = str(venv / "bin" / "python")
    version = _command_output([python_path, "-c", PRINT_LITELLM_VERSION])
    python = _command_output([python_path, "-c", PRINT_PYTHON_VERSION])
    return Gateway("litellm", f"litellm {version}", python, argv, env, master_key)
