"""A faithful fake of the Gemini Developer API for tests and ``teamgate serve --demo``.

Request bodies are validated with the google-genai SDK's types, and every response the fake
sends validates as the SDK's ``GenerateContentResponse``.
"""

from teamgate.fake.app import FakeGemini
from teamgate.fake.catalog import MODELS, ModelInfo, find_model
from teamgate.fake.errors import (
    GoogleApiError,
    api_key_invalid,
    deadline_exceeded,
    error_body,
    internal_error,
    invalid_argument,
    model_not_found,
    permission_denied_no_key,
    resource_exhausted,
    unavailable,
)
from teamgate.fake.rules import DUMMY_SIGNATURES
from teamgate.fake.runner import RunningServer, run_in_thread
from teamgate.fake.script import RecordedRequest, Reply

__all__ = [
    "DUMMY_SIGNATURES",
    "MODELS",
    "FakeGemini",
    "GoogleApiError",
    "ModelInfo",
    "RecordedRequest",
    "Reply",
    "RunningServer",
    "api_key_invalid",
    "deadline_exceeded",
    "error_body",
    "find_model",
    "internal_error",
    "invalid_argument",
    "model_not_found",
    "permission_denied_no_key",
    "resource_exhausted",
    "run_in_thread",
    "unavailable",
]
