"""Map Google API errors (`{"error": {code, message, status, details}}`) to gateway errors."""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from teamgate.core import errors
from teamgate.providers.gemini import wire

PROVIDER = "gemini"

_RETRY_IN_MESSAGE = re.compile(r"retry in (\d+(?:\.\d+)?)s", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")

_BY_HTTP_STATUS: dict[int, type[errors.UpstreamError]] = {
    400: errors.UpstreamBadRequest,
    401: errors.UpstreamAuthFailed,
    403: errors.UpstreamForbidden,
    404: errors.UpstreamNotFound,
    429: errors.UpstreamRateLimited,
    500: errors.UpstreamInternal,
    502: errors.UpstreamError,
    503: errors.UpstreamUnavailable,
    504: errors.UpstreamTimeout,
}


def parse_error(body: bytes) -> wire.ErrorDetail | None:
    """Decode Google's error envelope; also accepts the array-wrapped form some proxies send."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    try:
        return msgspec.convert(data["error"], wire.ErrorDetail)
    except msgspec.ValidationError:
        return None


def to_gateway_error(http_status: int, body: bytes, secret: str) -> errors.UpstreamError:
    """Build the gateway error for an upstream failure; `secret` is scrubbed from the message."""
    detail = parse_error(body)
    status_name = detail.status if detail else ""
    message = detail.message if detail and detail.message else "no Google error body"
    message = _scrub(message, secret)
    cls = _error_class(http_status, detail)
    text = f"upstream Gemini error {http_status} {status_name}: {message}".replace("  ", " ")
    if cls is errors.UpstreamAuthFailed:
        text = f"the Gemini credential configured in teamgate was rejected: {message}"
    return cls(
        text,
        provider=PROVIDER,
        upstream_status=http_status,
        retry_after=_retry_after(detail),
    )


def _error_class(http_status: int, detail: wire.ErrorDetail | None) -> type[errors.UpstreamError]:
    if detail is not None and _reason(detail.details) == "API_KEY_INVALID":
        return errors.UpstreamAuthFailed
    cls = _BY_HTTP_STATUS.get(http_status)
    if cls is not None:
        return cls
    return errors.UpstreamInternal if http_status >= 500 else errors.UpstreamError


def _reason(details: list[dict[str, Any]]) -> str | None:
    for item in details:
        if str(item.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            reason = item.get("reason")
            return str(reason) if reason is not None else None
    return None


def _retry_after(detail: wire.ErrorDetail | None) -> float | None:
    """Seconds from RetryInfo.retryDelay, else from 'Please retry in 28.3s.' in the message."""
    if detail is None:
        return None
    for item in detail.details:
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(math.ceil(float(match.group(1))))
    match = _RETRY_IN_MESSAGE.search(detail.message)
    return float(math.ceil(float(match.group(1)))) if match else None


def _scrub(message: str, secret: str) -> str:
    return message.replace(secret, "***") if secret else message


def stream_error(detail: wire.ErrorDetail, secret: str) -> errors.UpstreamError:
    """Build the gateway error for an `{"error": …}` event sent inside a stream."""
    body = msgspec.json.encode({"error": detail})
    return to_gateway_error(detail.code or 500, body, secret)
