"""Deterministic token counts for the fake.

Text costs one token per started block of 4 characters. Streams cut text only at multiples of
``TOKEN_CHARS`` characters, so the counts of the pieces add up to the count of the whole text
and stream and non-stream replies report the same usage.
"""

from __future__ import annotations

import math

import orjson
from google.genai import types

from teamgate.fake.validation import ParsedRequest

TOKEN_CHARS = 4
# Google bills an image input at 258 tokens and a generated image at about 1290.
INPUT_IMAGE_TOKENS = 258
OUTPUT_IMAGE_TOKENS = 1290


def text_tokens(text: str) -> int:
    """Count the tokens of ``text``: ceil(characters / 4)."""
    return math.ceil(len(text) / TOKEN_CHARS)


def _part_tokens(part: types.Part) -> tuple[int, int]:
    """Return (text tokens, image tokens) for one request part."""
    if part.text is not None:
        return text_tokens(part.text), 0
    if part.inline_data is not None or part.file_data is not None:
        return 0, INPUT_IMAGE_TOKENS
    dumped = part.model_dump(mode="json", exclude_none=True, by_alias=True)
    return text_tokens(orjson.dumps(dumped).decode()), 0


def prompt_tokens(request: ParsedRequest) -> tuple[int, int]:
    """Count the prompt as (text tokens, media tokens) over contents, system prompt and tools."""
    text = 0
    media = 0
    contents = list(request.contents)
    if request.system_instruction is not None:
        contents.append(request.system_instruction)
    for content in contents:
        for part in content.parts or []:
            part_text, part_media = _part_tokens(part)
            text += part_text
            media += part_media
    for tool in request.tools:
        dumped = tool.model_dump(mode="json", exclude_none=True, by_alias=True)
        text += text_tokens(orjson.dumps(dumped).decode())
    return max(text, 1) if media == 0 else text, media
