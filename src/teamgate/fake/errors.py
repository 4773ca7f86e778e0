"""Google API error bodies, as the Gemini API returns them.

Every Google REST API reports failures as ``{"error": {"code", "message", "status", "details"}}``,
where ``details`` contains typed ``google.rpc`` messages tagged with ``@type``.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]

_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_SERVICE = "generativelanguage.googleapis.com"


class GoogleApiError(Exception):
    """An HTTP error response that the fake sends instead of a result."""

    def __init__(self, http_status: int, body: JsonObject) -> None:
        super().__init__(body.get("error", {}).get("message", ""))
        self.http_status = http_status
        self.body = body


def error_body(
    code: int, status: str, message: str, details: list[JsonObject] | None = None
) -> JsonObject:
    """Build a Google error body; ``details`` is left out when there are none."""
    error: JsonObject = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def field_violation(description: str, field: str | None = None) -> JsonObject:
    """Build one ``google.rpc.BadRequest.FieldViolation``."""
    violation: JsonObject = {}
    if field:
        violation["field"] = field
    violation["description"] = description
    return violation


def invalid_argument(message: str, violations: list[JsonObject] | None = None) -> JsonObject:
    """Build a 400 INVALID_ARGUMENT body, with a BadRequest detail when violations are given."""
    details = None
    if violations:
        details = [{"@type": _TYPE_PREFIX + "BadRequest", "fieldViolations": violations}]
    return error_body(400, "INVALID_ARGUMENT", message, details)


def api_key_invalid() -> JsonObject:
    """Build the 400 body that Google returns for an unknown API key (400, not 401)."""
    message = "API key not valid. Please pass a valid API key."
    details: list[JsonObject] = [
        {
            "@type": _TYPE_PREFIX + "ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": _SERVICE},
        },
        {"@type": _TYPE_PREFIX + "LocalizedMessage", "locale": "en-US", "message": message},
    ]
    return error_body(400, "INVALID_ARGUMENT", message, details)


def permission_denied_no_key() -> JsonObject:
    """Build the 403 body for a request that carries no API key at all."""
    message = (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    )
    return error_body(403, "PERMISSION_DENIED", message)


def model_not_found(
    model: str, method: str = "generateContent", api_version: str = "v1beta"
) -> JsonObject:
    """Build the 404 body for a model id the API does not serve for ``method``."""
    message = (
        f"models/{model} is not found for API version {api_version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their "
        "supported methods."
    )
    return error_body(404, "NOT_FOUND", message)


def resource_exhausted(
    model: str = "gemini-2.5-flash", retry_delay: str = "26s", limit: int = 10
) -> JsonObject:
    """Build a free-tier 429 quota body with QuotaFailure, Help and RetryInfo details.

    ``retry_delay`` is a protobuf Duration string such as ``"26s"`` or ``"28.32s"``.
    """
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        "* Quota exceeded for metric: "
        f"{_SERVICE}/generate_content_free_tier_requests, limit: {limit}, model: {model}\n"
        f"Please retry in {retry_delay}."
    )
    quota_failure: JsonObject = {
        "@type": _TYPE_PREFIX + "QuotaFailure",
        "violations": [
            {
                "quotaMetric": f"{_SERVICE}/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": str(limit),
            }
        ],
    }
    help_links: JsonObject = {
        "@type": _TYPE_PREFIX + "Help",
        "links": [
            {
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }
        ],
    }
    retry_info: JsonObject = {"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": retry_delay}
    return error_body(429, "RESOURCE_EXHAUSTED", message, [quota_failure, help_links, retry_info])


def internal_error() -> JsonObject:
    """Build a 500 INTERNAL body."""
    message = (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    )
    return error_body(500, "INTERNAL", message)


def unavailable() -> JsonObject:
    """Build the 503 UNAVAILABLE body that an overloaded model returns."""
    return error_body(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def deadline_exceeded() -> JsonObject:
    """Build a 504 DEADLINE_EXCEEDED body."""
    return error_body(
        504, "DEADLINE_EXCEEDED", "The request timed out. Please try again with a shorter prompt."
    )
