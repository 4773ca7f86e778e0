"""The interface every upstream adapter implements, and what it is given per request."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol

from teamgate.config.schema import Credential
from teamgate.core.messages import ChatRequest, ChatResponse, StreamEvent, ThinkingRequest


@dataclass(frozen=True)
class ModelOptions:
    """Per-model defaults from the configuration, applied when a request does not set them."""

    thinking: ThinkingRequest | None = None
    show_thoughts: bool = True
    safety_settings: tuple[tuple[str, str], ...] = ()
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class Target:
    """One upstream call: which model on which credential, with which defaults."""

    public_model: str
    upstream_model: str
    credential: Credential
    options: ModelOptions = field(default_factory=ModelOptions)


class Provider(Protocol):
    """An adapter for one upstream wire format."""

    name: str

    async def complete(self, request: ChatRequest, target: Target) -> ChatResponse:
        """Send a non-streaming request and return the whole response."""
        ...

    def stream(self, request: ChatRequest, target: Target) -> AsyncGenerator[StreamEvent, None]:
        """Open a streaming request; upstream errors before the first event raise on first await."""
        ...
