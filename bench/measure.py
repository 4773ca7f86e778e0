"""Single measurements: server start, load with wrk, and streaming time to first token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import processes
from gateways import MODEL, Gateway
from http_client import (
    ContentCheck,
    HttpConnection,
    build_request,
    gemini_stream_has_content,
    openai_stream_has_content,
    sse_payloads,
)
from static_upstream import REPLY_TEXT

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "post.lua"

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
GEMINI_GENERATE_PATH = f"/v1beta/models/{MODEL}:generateContent"
GEMINI_STREAM_PATH = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"

SYSTEM_PROMPT = "You are a concise assistant for a software team."
USER_PROMPT = "In two or three sentences, explain what an AI gateway does."
TEMPERATURE = 0.2
MAX_TOKENS = 256


def chat_request_body(stream: bool) -> bytes:
    """Build the OpenAI chat-completions request body sent to a gateway."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT},
        ],
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def gemini_request_body() -> bytes:
    """Build the Gemini request body that is equivalent to `chat_request_body`."""
    body = {
        "systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
        "contents": [{"role": "user", "parts": [{"text": USER_PROMPT}]}],
        "generationConfig": {"temperature": TEMPERATURE, "maxOutputTokens": MAX_TOKENS},
    }
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Endpoint:
    """Port, paths, headers and bodies of the plain and the streaming request to one server."""

    port: int
    path: str
    stream_path: str
    headers: dict[str, str]
    body: bytes
    stream_body: bytes
    content_check: ContentCheck

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def gateway_endpoint(gateway: Gateway, port: int) -> Endpoint:
    return Endpoint(
        port, CHAT_PATH, CHAT_PATH, gateway.auth_headers,
        chat_request_body(stream=False), chat_request_body(stream=True), openai_stream_has_content,
    )  # fmt: skip


def upstream_endpoint(port: int) -> Endpoint:
    return Endpoint(
        port, GEMINI_GENERATE_PATH, GEMINI_STREAM_PATH, {"x-goog-api-key": "bench-gemini-key"},
        gemini_request_body(), gemini_request_body(), gemini_stream_has_content,
    )  # fmt: skip


def upstream_stats(port: int) -> dict[str, Any]:
    """Return the request counters of the static upstream."""
    with HttpConnection(port, timeout=5.0) as connection:
        exchange = connection.send(build_request("GET", port, "/_bench/stats", {}))
    stats: dict[str, Any] = json.loads(exchange.body)
    return stats


def upstream_counts(port: int) -> tuple[int, int]:
    """Return the Gemini requests the upstream has served and the connections it accepted.

    The connection count includes the connection of this stats request.
    """
    stats = upstream_stats(port)
    suffixes = (":generateContent", ":streamGenerateContent")
    paths: dict[str, int] = stats["paths"]
    requests = sum(count for path, count in paths.items() if path.endswith(suffixes))
    connections: int = stats["connections"]
    return requests, connections


# Verification


def verify_gateway(endpoint: Endpoint) -> None:
    """Send one plain and one streaming request and check that both return the upstream's text.

    Raises RuntimeError with the response when a check fails, because figures from a
    gateway that returns errors would be meaningless.
    """
    with HttpConnection(endpoint.port) as connection:
        plain = connection.send(
            build_request("POST", endpoint.port, endpoint.path, endpoint.headers, endpoint.body)
        )
        if plain.status != 200:
            raise RuntimeError(
                f"POST {endpoint.path} returned {plain.status}: {plain.body[:500]!r}"
            )
        content = json.loads(plain.body)["choices"][0]["message"]["content"]
        if content != REPLY_TEXT:
            raise RuntimeError(f"POST {endpoint.path} returned unexpected content: {content!r}")

        stream_request = build_request(
            "POST", endpoint.port, endpoint.stream_path, endpoint.headers, endpoint.stream_body
        )
        streamed = connection.send(stream_request, endpoint.content_check)
        if streamed.status != 200:
            raise RuntimeError(
                f"streaming POST returned {streamed.status}: {streamed.body[:500]!r}"
            )
        text = "".join(_openai_stream_text(streamed.body))
        if text != REPLY_TEXT:
            raise RuntimeError(f"streaming POST returned unexpected content: {text!r}")


def _openai_stream_text(body: bytes) -> list[str]:
    pieces: list[str] = []
    for payload in sse_payloads(body):
        if payload == b"[DONE]":
            continue
        for choice in json.loads(payload).get("choices") or []:
            pieces.append((choice.get("delta") or {}).get("content") or "")
    return pieces


# Start-up


@dataclass
class StartResult:
    """One start of a gateway: the running process, its port, ready time and idle RSS."""

    process: subprocess.Popen[bytes]
    port: int
    ready_s: float
    idle_rss_bytes: int
    process_count: int


def start_gateway(gateway: Gateway, log_path: Path, settle_s: float) -> StartResult:
    """Start `gateway` and measure its ready time, then its RSS after two requests and `settle_s`.

    The ready time runs from just before the process is spawned to the first 200 response
    to an authenticated `GET /v1/models`, polled every 10 ms. The caller stops the process.
    """
    port = processes.free_port()
    started_ns = time.perf_counter_ns()
    process = processes.spawn(gateway.argv(port), gateway.env, log_path)
    try:
        ready_s = processes.wait_ready(process, port, MODELS_PATH, gateway.auth_headers, started_ns)
        verify_gateway(gateway_endpoint(gateway, port))
        time.sleep(settle_s)
        tree = processes.process_tree(process.pid)
        rss = processes.rss_bytes(tree)
    except BaseException:
        processes.stop(process)
        raise
    return StartResult(process, port, ready_s, rss, len(tree))


# Load with wrk


@dataclass(frozen=True)
class WrkResult:
    """The summary that bench/post.lua prints at the end of a wrk run."""

    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def socket_errors(self) -> int:
        return sum(count for kind, count in self.errors.items() if kind != "status")


def run_wrk(
    endpoint: Endpoint, workdir: Path, threads: int, connections: int, duration_s: float
) -> WrkResult:
    """Run wrk with the non-streaming request of `endpoint` and return its summary.

    Raises RuntimeError when any response had a status other than 2xx or 3xx.
    """
    body_file = workdir / f"body-{endpoint.port}.json"
    body_file.write_bytes(endpoint.body)
    env = dict(os.environ)
    env["BENCH_BODY_FILE"] = str(body_file)
    env["BENCH_HEADERS"] = "\n".join(f"{name}: {value}" for name, value in endpoint.headers.items())
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s",
        "-s", str(WRK_SCRIPT), endpoint.url,
    ]  # fmt: skip
    output = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=True
    ).stdout
    match = re.search(r"^BENCH_RESULT (.*)$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no BENCH_RESULT line:\n{output}")
    summary = json.loads(match.group(1))
    result = WrkResult(
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        errors=summary["errors"],
        latency_us=summary["latency_us"],
    )
    if result.errors["status"]:
        raise RuntimeError(
            f"{result.errors['status']} of {result.requests} responses from {endpoint.url} "
            "had an error status"
        )
    return result


# Paired timings with the Python client


@dataclass(frozen=True)
class PairedTimes:
    """Request times in ms through the gateway and direct, and the connections each opened."""

    gateway_ms: list[float]
    direct_ms: list[float]
    connections_opened: int


def _timed_ms(
    connection: HttpConnection, request: bytes, content_check: ContentCheck | None
) -> float:
    exchange = connection.send(request, content_check)
    if exchange.status != 200:
        raise RuntimeError(f"request returned {exchange.status}: {exchange.body[:500]!r}")
    if content_check is None:
        return exchange.elapsed_ns / 1e6
    if exchange.first_content_ns is None:
        raise RuntimeError(f"the stream contained no content: {exchange.body[:500]!r}")
    return exchange.first_content_ns / 1e6


def paired_times(
    gateway: Endpoint, direct: Endpoint, count: int, *, stream: bool, idle_s: float = 0.0
) -> PairedTimes:
    """Time `count` requests through the gateway and `count` direct, alternating.

    A streaming request is timed from just before the send to the read that completed
    its first content event, a plain one to the end of its response. The client sleeps
    `idle_s` seconds after each request. Each side uses one keep-alive connection and
    starts with one untimed request.
    """
    if stream:
        gateway_request = build_request(
            "POST", gateway.port, gateway.stream_path, gateway.headers, gateway.stream_body
        )
        direct_request = build_request(
            "POST", direct.port, direct.stream_path, direct.headers, direct.stream_body
        )
        gateway_check: ContentCheck | None = gateway.content_check
        direct_check: ContentCheck | None = direct.content_check
    else:
        gateway_request = build_request(
            "POST", gateway.port, gateway.path, gateway.headers, gateway.body
        )
        direct_request = build_request(
            "POST", direct.port, direct.path, direct.headers, direct.body
        )
        gateway_check = direct_check = None

    gateway_ms: list[float] = []
    direct_ms: list[float] = []
    with HttpConnection(gateway.port) as via_gateway, HttpConnection(direct.port) as to_upstream:
        _timed_ms(via_gateway, gateway_request, gateway_check)
        _timed_ms(to_upstream, direct_request, direct_check)
        for _ in range(count):
            direct_ms.append(_timed_ms(to_upstream, direct_request, direct_check))
            time.sleep(idle_s)
            gateway_ms.append(_timed_ms(via_gateway, gateway_request, gateway_check))
            time.sleep(idle_s)
        opened = via_gateway.connections_opened + to_upstream.connections_opened
    return PairedTimes(gateway_ms, direct_ms, opened)
