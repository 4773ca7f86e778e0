"""Logging setup: one format for teamgate and uvicorn, and a filter that masks secrets."""

from __future__ import annotations

import logging
import re

# Google API keys and OpenAI-style keys, masked wherever they appear in a log record.
_SECRET_PATTERNS = re.compile(r"AIza[0-9A-Za-z_\-]{20,}|\bsk-[A-Za-z0-9_\-]{8,}")


class SecretFilter(logging.Filter):
    """Mask API-key-shaped strings in every record before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _SECRET_PATTERNS.sub("***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
