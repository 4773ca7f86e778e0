"""Errors that teamgate raises while serving a request.

Every error a client can see is one of these classes; each inbound dialect
renders them in its own envelope, and the HTTP status lives here only::

    GatewayError
    ├── InvalidRequest            400  invalid_request_error
    │   └── ContentBlocked        400  the provider refused the prompt itself
    ├── AuthenticationFailed      401  the client's key is missing or wrong
    ├── PermissionDenied          403
    ├── NotFound                  404  unknown model or route
    ├── PayloadTooLarge           413
    ├── RateLimited               429  carries retry_after (seconds)
    ├── BudgetExceeded            429  insufficient_quota, with the reset time
    ├── ClientDisconnected        499  the client went away before the answer
    ├── ServiceUnavailable        503  teamgate's database or Redis cannot be reached
    └── UpstreamError             502  the provider failed; carries provider status
        ├── UpstreamBadRequest    400  the provider rejected the request body
        ├── UpstreamAuthFailed    401  the provider rejected teamgate's credential
        ├── UpstreamForbidden     403
        ├── UpstreamNotFound      404
        ├── UpstreamRateLimited   429
        ├── UpstreamInternal      500
        ├── UpstreamUnavailable   503
        └── UpstreamTimeout       504
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base class: an error with an HTTP status and an OpenAI-style type and code."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class ContentBlocked(InvalidRequest):
    default_code = "content_policy_violation"


class AuthenticationFailed(GatewayError):
    status = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    error_type = "permission_error"


class NotFound(GatewayError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class BudgetExceeded(GatewayError):
    """A budget cannot fit the request; OpenAI's clients know this as insufficient_quota."""

    status = 429
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


class PayloadTooLarge(GatewayError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class ClientDisconnected(GatewayError):
    """The client closed the connection; 499 is nginx's status for this, used in logs."""

    status = 499
    error_type = "invalid_request_error"
    default_code = "client_closed_request"


class ServiceUnavailable(GatewayError):
    status = 503
    error_type = "server_error"
    default_code = "service_unavailable"


class UpstreamError(GatewayError):
    """The provider failed; `upstream_status` is its HTTP status (0 when none arrived)."""

    status = 502
    error_type = "upstream_error"
    default_code = "bad_gateway"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int = 0,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, retry_after=retry_after)
        self.provider = provider
        self.upstream_status = upstream_status


class UpstreamAuthFailed(UpstreamError):
    status = 401
    error_type = "authentication_error"
    default_code = "upstream_credential_invalid"


class UpstreamForbidden(UpstreamError):
    status = 403
    error_type = "permission_error"
    default_code = "upstream_permission_denied"


class UpstreamNotFound(UpstreamError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class UpstreamRateLimited(UpstreamError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamInternal(UpstreamError):
    status = 500
    error_type = "server_error"
    default_code = "upstream_internal_error"


class UpstreamUnavailable(UpstreamError):
    status = 503
    error_type = "server_error"
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamBadRequest(UpstreamError):
    """The provider rejected the request body as invalid (its fault lies with the request)."""

    status = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"
