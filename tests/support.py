"""Run the gateway against the fake Gemini upstream over real loopback HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from teamgate.api.app import build_gateway, create_app
from teamgate.config.keys import build_keyring
from teamgate.config.loader import validate_settings

# A canary: the upstream key must never show up in a response, log line or error.
UPSTREAM_KEY = "AIzaCanary-upstream-key-0123456789abcdefgh"
ADMIN_KEY = "sk-test-admin-key-0123456789abcdef"
# A key from the configuration's api_keys: no account and no budget, so requests
# reach the upstream exactly as the client sent them.
CLIENT_KEY = "sk-test-client-key-0123456789abcdef"

# A two-chunk Gemini stream whose text is "Hello world".
HELLO_CHUNK = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello "}]}}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
}
WORLD_CHUNK = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "world"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
}


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def gateway_settings(
    upstream_url: str, models: list[dict[str, Any]] | None = None, *, admin_budget: bool = False
) -> Any:
    """Settings for the test models; `admin_budget` lets the admin key call models."""
    raw: dict[str, Any] = {
        "admin_key": ADMIN_KEY,
        # The tests call models with the admin key, which needs a budget for that.
        "api_keys": [CLIENT_KEY],
        "credentials": [{"id": "fake-1", "api_key": UPSTREAM_KEY, "base_url": upstream_url}],
        "models": models
        or [
            {"name": name, "upstream_model": name}
            for name in (
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.5-flash-lite",
                "gemini-3-flash-preview",
                "gemini-3.1-pro-preview",
                "gemini-2.5-flash-image",
            )
        ]
        + [
            {
                "name": "flash-tags",
                "upstream_model": "gemini-2.5-flash",
                "reasoning_output": "think_tags",
                "thinking": {"effort": "low"},
            },
            {
                "name": "flash-tuned",
                "upstream_model": "gemini-2.5-flash",
                "thinking": {"budget": 2048},
                "show_thoughts": False,
                "max_output_tokens": 777,
                "safety_settings": {"HARASSMENT": "BLOCK_NONE"},
            },
        ],
    }
    if admin_budget:
        raw["accounting"] = {"admin_budget_usd": 1000}
    return validate_settings(raw, {}, source="test", resolve_secrets=False)


@contextmanager
def running_gateway(
    upstream_url: str, data_dir: Path, *, admin_budget: bool = False
) -> Iterator[str]:
    """Serve the test models with accounts on, in a SQLite database under `data_dir`."""
    settings = gateway_settings(upstream_url, admin_budget=admin_budget)
    gateway = build_gateway(settings, build_keyring(settings, data_dir))
    app = create_app(gateway, accounting=(settings.accounting, data_dir))
    with serve_in_thread(app) as url:
        yield url
