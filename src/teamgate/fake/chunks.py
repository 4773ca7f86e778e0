"""Cut answers into GenerateContentResponse chunks, merge chunks, and encode them for the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
from google.genai import types

from teamgate.fake.default_reply import Answer
from teamgate.fake.errors import JsonObject
from teamgate.fake.tokens import OUTPUT_IMAGE_TOKENS, TOKEN_CHARS, text_tokens

# Stream pieces are cut every 32 characters, mid-word like Google's; a multiple of TOKEN_CHARS
# keeps the per-chunk token counts additive.
CHUNK_CHARS = 8 * TOKEN_CHARS
_TEXT_KEYS = frozenset({"text", "thought", "thoughtSignature"})


class InvalidResponseError(ValueError):
    """A response body the fake was about to send does not validate as the SDK's type."""


@dataclass(frozen=True)
class PromptUsage:
    """Usage that stays the same in every chunk of one reply."""

    text_tokens: int
    media_tokens: int
    thoughts_tokens: int


def usage_metadata(
    prompt: PromptUsage, candidate_text: int, candidate_images: int, final: bool
) -> JsonObject:
    """Build ``usageMetadata``; zero counts are left out, as Google leaves them out."""
    prompt_total = prompt.text_tokens + prompt.media_tokens
    candidates = candidate_text + candidate_images
    usage: JsonObject = {"promptTokenCount": prompt_total}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt_total + candidates + prompt.thoughts_tokens
    details = [{"modality": "TEXT", "tokenCount": prompt.text_tokens}]
    if prompt.media_tokens:
        details.append({"modality": "IMAGE", "tokenCount": prompt.media_tokens})
    usage["promptTokensDetails"] = details
    if prompt.thoughts_tokens:
        usage["thoughtsTokenCount"] = prompt.thoughts_tokens
    if final and candidates:
        output = [{"modality": "TEXT", "tokenCount": candidate_text}]
        if candidate_images:
            output.append({"modality": "IMAGE", "tokenCount": candidate_images})
        usage["candidatesTokensDetails"] = output
    return usage


def split_text(text: str) -> list[str]:
    """Cut ``text`` into pieces of CHUNK_CHARS characters; an empty text gives one empty piece."""
    if not text:
        return [""]
    return [text[start : start + CHUNK_CHARS] for start in range(0, len(text), CHUNK_CHARS)]


@dataclass
class _Step:
    parts: list[JsonObject]
    text_tokens: int = 0
    image_tokens: int = 0


def _answer_steps(answer: Answer) -> list[_Step]:
    steps = [_Step([{"text": thought, "thought": True}]) for thought in answer.thoughts]
    for part in answer.parts:
        if "text" in part:
            steps += _text_steps(part)
        elif "inlineData" in part:
            steps.append(_Step([part], image_tokens=OUTPUT_IMAGE_TOKENS))
        elif steps and "functionCall" in steps[-1].parts[-1]:
            # Parallel calls arrive whole, in the same chunk.
            steps[-1].parts.append(part)
            steps[-1].text_tokens += _call_tokens(part)
        else:
            steps.append(_Step([part], text_tokens=_call_tokens(part)))
    return steps or [_Step([])]


def _text_steps(part: JsonObject) -> list[_Step]:
    signature = part.get("thoughtSignature")
    pieces = split_text(str(part["text"]))
    if pieces == [""] and signature is None:
        return []
    steps = [_Step([{"text": piece}], text_tokens=text_tokens(piece)) for piece in pieces]
    if signature is not None:
        steps[-1].parts[0]["thoughtSignature"] = signature
    return steps


def _call_tokens(part: JsonObject) -> int:
    return text_tokens(orjson.dumps(part["functionCall"]).decode())


def answer_chunks(answer: Answer, prompt: PromptUsage) -> list[JsonObject]:
    """Cut an answer into stream chunks with running usage; the last one has finishReason."""
    steps = _answer_steps(answer)
    chunks: list[JsonObject] = []
    text_total = 0
    image_total = 0
    for number, step in enumerate(steps):
        final = number == len(steps) - 1
        text_total += step.text_tokens
        image_total += step.image_tokens
        content: JsonObject = {"role": "model"}
        if step.parts:
            content = {"parts": step.parts, "role": "model"}
        candidate: JsonObject = {"content": content}
        if final:
            candidate["finishReason"] = answer.finish_reason
        candidate["index"] = 0
        usage = usage_metadata(prompt, text_total, image_total, final)
        chunks.append({"candidates": [candidate], "usageMetadata": usage})
    return chunks


def with_ids(chunk: JsonObject, model_version: str, response_id: str) -> JsonObject:
    """Return a copy of ``chunk`` that carries modelVersion and responseId."""
    filled = dict(chunk)
    filled.setdefault("modelVersion", model_version)
    filled.setdefault("responseId", response_id)
    return filled


def merge_chunks(chunks: list[JsonObject]) -> JsonObject:
    """Merge stream chunks into the single response that generateContent returns.

    Candidates merge by index. Adjacent text parts join when they are both thoughts or both
    answer text and at most one of them is signed. Every other field keeps its last value.
    """
    merged: JsonObject = {}
    candidates: dict[int, JsonObject] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            if key == "candidates":
                for candidate in value:
                    _merge_candidate(candidates, candidate)
            else:
                merged[key] = value
    if candidates:
        merged = {"candidates": [candidates[index] for index in sorted(candidates)], **merged}
    return merged


def _merge_candidate(candidates: dict[int, JsonObject], candidate: JsonObject) -> None:
    index = int(candidate.get("index", 0))
    target = candidates.setdefault(index, {})
    for key, value in candidate.items():
        if key != "content":
            target[key] = value
            continue
        content = target.setdefault("content", {})
        parts: list[JsonObject] = content.setdefault("parts", [])
        for part in value.get("parts") or []:
            _append_part(parts, dict(part))
        if "role" in value:
            content["role"] = value["role"]
    content = target.get("content")
    if content is not None and not content.get("parts"):
        content.pop("parts", None)


def _append_part(parts: list[JsonObject], part: JsonObject) -> None:
    previous = parts[-1] if parts else None
    joinable = (
        previous is not None
        and set(previous) <= _TEXT_KEYS
        and set(part) <= _TEXT_KEYS
        and "text" in previous
        and "text" in part
        and bool(previous.get("thought")) == bool(part.get("thought"))
        and not ("thoughtSignature" in previous and "thoughtSignature" in part)
    )
    if previous is None or not joinable:
        parts.append(part)
        return
    previous["text"] = str(previous["text"]) + str(part["text"])
    if "thoughtSignature" in part:
        previous["thoughtSignature"] = part["thoughtSignature"]


def check_response(body: JsonObject) -> None:
    """Validate a body as the SDK's GenerateContentResponse, raising InvalidResponseError."""
    try:
        types.GenerateContentResponse.model_validate_json(orjson.dumps(body))
    except pydantic.ValidationError as error:
        raise InvalidResponseError(
            f"response is not a valid GenerateContentResponse: {error}"
        ) from None


def encode_json(value: Any) -> bytes:
    """Encode JSON the way Google does, escaping <, > and & inside strings.

    The three characters can only occur inside JSON strings, so replacing them everywhere is safe.
    """
    data = orjson.dumps(value)
    return data.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def signatures_in(body: JsonObject) -> list[bytes]:
    """Return the decoded thought signatures of every part in a response body."""
    found: list[bytes] = []
    for candidate in body.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            signature = part.get("thoughtSignature")
            if isinstance(signature, str):
                try:
                    found.append(
                        types.Part.model_validate_json(orjson.dumps(part)).thought_signature or b""
                    )
                except pydantic.ValidationError:
                    continue
    return found
