"""Turn a scripted Reply, or the default answer, into the bytes the fake sends."""

from __future__ import annotations

from dataclasses import dataclass

from teamgate.fake.catalog import ModelInfo
from teamgate.fake.chunks import (
    PromptUsage,
    answer_chunks,
    check_response,
    encode_json,
    merge_chunks,
    with_ids,
)
from teamgate.fake.default_reply import build_answer
from teamgate.fake.errors import JsonObject
from teamgate.fake.rules import Thinking
from teamgate.fake.script import Reply
from teamgate.fake.tokens import prompt_tokens
from teamgate.fake.transport import Delivery
from teamgate.fake.validation import ParsedRequest


@dataclass(frozen=True)
class CallContext:
    """Inputs for building the reply to one validated generate call."""

    request: ParsedRequest
    model: ModelInfo
    thinking: Thinking
    response_id: str
    stream: bool
    sse: bool


def reply_chunks(context: CallContext, reply: Reply | None) -> list[JsonObject]:
    """Return the validated chunks for a call, with modelVersion and responseId filled in."""
    if reply is not None:
        raw = reply.stream_chunks()
    else:
        answer = build_answer(context.request, context.model, context.thinking, context.response_id)
        text, media = prompt_tokens(context.request)
        raw = answer_chunks(answer, PromptUsage(text, media, answer.thoughts_tokens))
    chunks = [with_ids(chunk, context.model.model_id, context.response_id) for chunk in raw]
    for chunk in chunks:
        check_response(chunk)
    return chunks


def delivery_for(context: CallContext, reply: Reply | None, chunks: list[JsonObject]) -> Delivery:
    """Build the wire response for a call whose chunks are ready."""
    script = reply or Reply()
    if script.error is not None:
        status, body = script.error
        return Delivery.json(status, encode_json(body), script.delay_before)
    if context.stream:
        delivery = _stream_delivery(context, script, chunks)
    else:
        delivery = _single_delivery(script, chunks)
    delivery.delay_before = script.delay_before
    delivery.delay_between = script.delay_between
    return delivery


def _stream_delivery(context: CallContext, script: Reply, chunks: list[JsonObject]) -> Delivery:
    elements: list[JsonObject] = list(chunks)
    if script.mid_stream_error is not None:
        position = script.mid_stream_error_after
        position = len(elements) if position is None else min(position, len(elements))
        elements = [*elements[:position], script.mid_stream_error]
    encoded = [encode_json(element) for element in elements]
    if not context.sse:
        delivery = Delivery.json_array(encoded)
    else:
        ending = script.line_ending.encode()
        delivery = Delivery.event_stream([b"data: " + item + ending + ending for item in encoded])
    delivery.drop_after = script.drop_after
    return delivery


def _single_delivery(script: Reply, chunks: list[JsonObject]) -> Delivery:
    if script.mid_stream_error is not None:
        status = int(script.mid_stream_error["error"].get("code", 500))
        return Delivery.json(status, encode_json(script.mid_stream_error))
    if script.response is not None:
        body = chunks[0]
    else:
        body = merge_chunks(chunks)
        check_response(body)
    encoded = encode_json(body)
    delivery = Delivery.json(200, encoded)
    if script.drop_after is not None:
        # A non-stream drop cuts the one JSON body in half.
        half = len(encoded) // 2
        delivery.events = [encoded[:half], encoded[half:]]
        delivery.drop_after = min(script.drop_after, 1)
    return delivery
