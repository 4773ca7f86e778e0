"""Demo mode: the gateway served from the simulated Gemini upstream in the same process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from teamgate.config.loader import DEFAULT_GEMINI_MODELS, load_settings, validate_settings
from teamgate.config.schema import Settings

DEMO_UPSTREAM_KEY = "demo-upstream-key"
DEMO_MODELS = (*DEFAULT_GEMINI_MODELS, "gemini-2.5-flash-image")


def demo_settings(config: Path | None, port: int) -> Settings:
    """Settings whose only credential points at the simulated upstream on this server's port.

    Models, keys and per-model options come from `config` when given; its
    credentials are replaced, so no request leaves the machine.
    """
    raw: dict[str, Any] = {}
    if config is not None:
        base = load_settings(config)
        raw = base.model_dump(mode="python", exclude={"credentials"})
        raw["admin_key"] = base.admin_key.get_secret_value() if base.admin_key else None
        raw["api_keys"] = [key.get_secret_value() for key in base.api_keys]
        for model in raw.get("models", []):
            model["credentials"] = None
    raw["credentials"] = [
        {
            "id": "demo",
            "api_key": DEMO_UPSTREAM_KEY,
            "base_url": f"http://127.0.0.1:{port}/demo-upstream",
        }
    ]
    if not raw.get("models"):
        raw["models"] = [{"name": name, "upstream_model": name} for name in DEMO_MODELS]
    return validate_settings(raw, {}, source="demo settings", resolve_secrets=False)


def demo_upstream_app() -> ASGIApp:
    from teamgate.fake import FakeGemini

    return FakeGemini(api_keys={DEMO_UPSTREAM_KEY}).app
