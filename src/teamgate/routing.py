"""Resolve a public model name to an upstream target."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from teamgate.config.schema import ModelEntry, Settings
from teamgate.core.errors import NotFound
from teamgate.core.messages import ThinkingRequest
from teamgate.providers.base import ModelOptions, Target


def model_options(entry: ModelEntry) -> ModelOptions:
    thinking = None
    if entry.thinking is not None:
        thinking = ThinkingRequest(
            effort=entry.thinking.effort, budget=entry.thinking.budget, level=entry.thinking.level
        )
    return ModelOptions(
        thinking=thinking,
        show_thoughts=entry.show_thoughts,
        safety_settings=tuple((item.category, item.threshold) for item in entry.safety_settings),
        max_output_tokens=entry.max_output_tokens,
    )


class ModelRouter:
    """Maps each public model to its targets and rotates through their credentials."""

    def __init__(self, settings: Settings) -> None:
        credentials = {credential.id: credential for credential in settings.credentials}
        self.entries: dict[str, ModelEntry] = {}
        self._rotation: dict[str, Iterator[Target]] = {}
        for entry in settings.models:
            ids = entry.credentials or [
                c.id for c in settings.credentials if c.provider == "gemini"
            ]
            options = model_options(entry)
            targets = [
                Target(entry.name, entry.upstream_model, credentials[cid], options) for cid in ids
            ]
            self.entries[entry.name] = entry
            self._rotation[entry.name] = itertools.cycle(targets)

    def resolve(self, name: str) -> Target:
        rotation = self._rotation.get(name)
        if rotation is None:
            raise NotFound(
                f"the model {name!r} does not exist on this gateway; "
                "GET /v1/models lists the models",
                param="model",
            )
        return next(rotation)
