"""Benchmark teamgate against LiteLLM proxy on a static Gemini upstream on loopback.

For each gateway the script measures ready time and idle RSS once per start (`--starts`
starts). It then runs each load measurement `--runs` times: throughput at 20
connections, added p50 latency at 1 connection, added time to the first streamed token
and added latency after an idle pause. It prints the medians as Markdown tables and
writes every run to bench/results/<UTC time>/result.json.

Usage: python bench/run.py [--gateway teamgate] [--gateway litellm]
LiteLLM needs its own venv first: bash bench/setup_litellm.sh
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gateways
import measure
import processes
import report

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MB = 1_000_000

log = logging.getLogger("bench")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    parser.add_argument(
        "--gateway",
        action="append",
        choices=["teamgate", "litellm"],
        help="gateway to measure, repeatable (default: both)",
    )

    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each load measurement (default 3)"
    )
    parser.add_argument(
        "--starts", type=int, default=5, help="starts for ready time and RSS (default 5)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of each throughput run (default 10)"
    )
    parser.add_argument(
        "--latency-duration",
        type=float,
        default=5.0,
        help="seconds of each 1-connection latency run, per gateway and per direct run (default 5)",
    )
    parser.add_argument(
        "--paired-requests",
        type=int,
        default=200,
        help=(
            "requests per run of the first-token and after-idle runs, through the gateway "
            "and as many direct (default 200)"
        ),
    )

    parser.add_argument(
        "--stream-pause-ms",
        type=float,
        default=20.0,
        help="upstream pause between the first stream event and the rest, in ms (default 20)",
    )
    parser.add_argument(
        "--idle-ms",
        type=float,
        default=20.0,
        help="client sleep after each request of the added-latency-after-idle runs (default 20)",
    )
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds to wait before reading RSS (default 3)"
    )

    parser.add_argument(
        "--teamgate-bin",
        type=Path,
        default=Path(sys.executable).parent / "teamgate",
        help="teamgate executable (default: the one beside this Python)",
    )
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=BENCH_DIR / ".venv-litellm",
        help="venv made by bench/setup_litellm.sh (default bench/.venv-litellm)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=BENCH_DIR / "results",
        help="folder for the result folder of this run (default bench/results)",
    )
    return parser.parse_args()


def series(values: list[float]) -> dict[str, Any]:
    return {"runs": values, "median": statistics.median(values)}


def _command_output(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        return f"unavailable ({error})"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _command_output(["wrk", "-v"]),
    }


def teamgate_source() -> dict[str, Any]:
    """Return the commit of the teamgate source that is about to be measured."""
    status = subprocess.run(
        ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return {
        "commit": _command_output(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"]),
        "uncommitted_changes_in_src": bool(status.stdout.strip()),
    }


def start_upstream(workdir: Path, port: int, stream_pause_ms: float) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, str(BENCH_DIR / "static_upstream.py"),
        "--port", str(port), "--stream-pause-ms", str(stream_pause_ms),
    ]  # fmt: skip
    started_ns = time.perf_counter_ns()
    process = processes.spawn(argv, dict(os.environ), workdir / "upstream.log")
    try:
        processes.wait_ready(process, port, "/_bench/stats", {}, started_ns, timeout=15)
    except RuntimeError:
        processes.stop(process)
        raise
    return process


def measure_upstream(args: argparse.Namespace, workdir: Path, upstream_port: int) -> dict[str, Any]:
    """Measure the static upstream alone, to show it is far faster than any gateway."""
    endpoint = measure.upstream_endpoint(upstream_port)
    runs = []
    for run in range(args.runs):
        result = measure.run_wrk(endpoint, workdir, 2, 20, args.duration)
        log.info("upstream alone, run %d: %.0f req/s", run + 1, result.requests_per_s)
        runs.append(result.requests_per_s)
    return {"throughput_rps": series(runs)}


def measure_starts(
    gateway: gateways.Gateway, args: argparse.Namespace, workdir: Path
) -> tuple[measure.StartResult, dict[str, Any]]:
    """Start the gateway `--starts` times and return the last start, still running, and figures."""
    ready: list[float] = []
    rss: list[float] = []
    start: measure.StartResult | None = None
    for index in range(args.starts):
        if start is not None:
            processes.stop(start.process)
        start = measure.start_gateway(gateway, workdir / f"{gateway.name}.log", args.settle)
        ready.append(start.ready_s)
        rss.append(start.idle_rss_bytes / MB)
        log.info(
            "%s start %d: ready after %.3f s, idle RSS %.1f MB in %d processes",
            gateway.name, index + 1, start.ready_s, rss[-1], start.process_count,
        )  # fmt: skip
    assert start is not None
    return start, {"ready_s": series(ready), "idle_rss_mb": series(rss)}


def measure_latency(
    gateway: measure.Endpoint, direct: measure.Endpoint, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Measure p50 latency at 1 connection with wrk, direct and through the gateway in turn."""
    gateway_p50: list[float] = []
    direct_p50: list[float] = []
    added: list[float] = []
    for run in range(args.runs):
        direct_result = measure.run_wrk(direct, workdir, 1, 1, args.latency_duration)
        gateway_result = measure.run_wrk(gateway, workdir, 1, 1, args.latency_duration)
        direct_p50.append(direct_result.latency_us["p50"] / 1000)
        gateway_p50.append(gateway_result.latency_us["p50"] / 1000)
        added.append(gateway_p50[-1] - direct_p50[-1])
        log.info(
            "latency run %d: p50 %.3f ms through the gateway, %.3f ms direct",
            run + 1, gateway_p50[-1], direct_p50[-1],
        )  # fmt: skip
    figures = series(added)
    figures["gateway_p50_ms"] = series(gateway_p50)
    figures["direct_p50_ms"] = series(direct_p50)
    return figures


def measure_paired(
    gateway: measure.Endpoint,
    direct: measure.Endpoint,
    args: argparse.Namespace,
    *,
    stream: bool,
    idle_s: float = 0.0,
) -> dict[str, Any]:
    """Run `measure.paired_times` `--runs` times; the figure is median(gateway) - median(direct)."""
    label = "first token" if stream else f"plain after {idle_s * 1000:g} ms idle"
    gateway_ms: list[float] = []
    direct_ms: list[float] = []
    added: list[float] = []
    for run in range(args.runs):
        times = measure.paired_times(
            gateway, direct, args.paired_requests, stream=stream, idle_s=idle_s
        )
        if times.connections_opened != 2:
            log.warning(
                "%s run %d: the client opened %d connections instead of 2",
                label, run + 1, times.connections_opened,
            )  # fmt: skip
        gateway_ms.append(statistics.median(times.gateway_ms))
        direct_ms.append(statistics.median(times.direct_ms))
        added.append(gateway_ms[-1] - direct_ms[-1])
        log.info(
            "%s run %d: %.3f ms through the gateway, %.3f ms direct",
            label, run + 1, gateway_ms[-1], direct_ms[-1],
        )  # fmt: skip
    figures = series(added)
    figures["gateway_ms"] = series(gateway_ms)
    figures["direct_ms"] = series(direct_ms)
    return figures


def measure_throughput(
    gateway: measure.Endpoint,
    server_pid: int,
    upstream_pid: int,
    upstream_port: int,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """Measure requests/s at 20 connections, with the CPU time the gateway and upstream used."""
    rates: list[float] = []
    details: list[dict[str, Any]] = []
    for run in range(args.runs):
        server_tree = processes.process_tree(server_pid)
        gateway_cpu = processes.cpu_seconds(server_tree)
        upstream_cpu = processes.cpu_seconds([upstream_pid])
        upstream_requests, upstream_connections = measure.upstream_counts(upstream_port)
        result = measure.run_wrk(gateway, workdir, 2, 20, args.duration)
        gateway_cpu = processes.cpu_seconds(server_tree) - gateway_cpu
        upstream_cpu = processes.cpu_seconds([upstream_pid]) - upstream_cpu
        requests_after, connections_after = measure.upstream_counts(upstream_port)
        upstream_requests = requests_after - upstream_requests
        # Minus one for the connection of the stats request.
        upstream_connections = connections_after - upstream_connections - 1
        rates.append(result.requests_per_s)
        details.append(
            {
                "requests": result.requests,
                "duration_s": result.duration_s,
                "socket_errors": result.errors,
                "latency_us": result.latency_us,
                "upstream_requests": upstream_requests,
                "upstream_connections": upstream_connections,
                "gateway_cpu_s": gateway_cpu,
                "upstream_cpu_s": upstream_cpu,
                "gateway_cpu_us_per_request": gateway_cpu / max(result.requests, 1) * 1e6,
            }
        )
        log.info(
            "throughput run %d: %.0f req/s, p50 %.2f ms, gateway CPU %.2f s, %d socket errors",
            run + 1, rates[-1], result.latency_us["p50"] / 1000, gateway_cpu, result.socket_errors,
        )  # fmt: skip
    figures = series(rates)
    figures["details"] = details
    return figures


def measure_gateway(
    gateway: gateways.Gateway,
    upstream_pid: int,
    upstream_port: int,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """Run every measurement on one gateway and return its figures."""
    log.info("measuring %s (%s)", gateway.name, gateway.version)
    # teamgate runs from the working tree, which may change between runs.
    source = teamgate_source() if gateway.name == "teamgate" else None
    start, figures = measure_starts(gateway, args, workdir)
    try:
        endpoint = measure.gateway_endpoint(gateway, start.port)
        direct = measure.upstream_endpoint(upstream_port)
        # A short untimed load first, so that lazy imports and caches do not count in run 1.
        measure.run_wrk(endpoint, workdir, 2, 20, 2)
        figures["added_latency_ms"] = measure_latency(endpoint, direct, args, workdir)
        figures["stream_first_token_overhead_ms"] = measure_paired(
            endpoint, direct, args, stream=True
        )
        figures["added_latency_after_idle_ms"] = measure_paired(
            endpoint, direct, args, stream=False, idle_s=args.idle_ms / 1000
        )
        figures["throughput_rps"] = measure_throughput(
            endpoint, start.process.pid, upstream_pid, upstream_port, args, workdir
        )
        time.sleep(args.settle)
        rss_after_load = processes.rss_bytes(processes.process_tree(start.process.pid)) / MB
        figures["rss_after_load_mb"] = rss_after_load
        figures["upstream_request_bodies"] = measure.upstream_stats(upstream_port)["last_bodies"]
    finally:
        processes.stop(start.process)
    figures["version"] = gateway.version
    figures["python"] = gateway.python
    if source is not None:
        figures["source"] = source
    return figures


def build_gateways(
    names: list[str], args: argparse.Namespace, workdir: Path, upstream_port: int
) -> list[gateways.Gateway]:
    built = []
    for name in names:
        if name == "litellm":
            built.append(gateways.litellm(args.litellm_venv, workdir, upstream_port))
        else:
            built.append(gateways.teamgate(args.teamgate_bin, workdir, upstream_port))
    return built


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    names = args.gateway or ["litellm", "teamgate"]
    workdir = args.results_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir.mkdir(parents=True)

    results: dict[str, Any] = {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
        "gateways": {},
        "failed": {},
    }
    upstream_port = processes.free_port()
    try:
        selected = build_gateways(names, args, workdir, upstream_port)
    except FileNotFoundError as error:
        log.error("%s", error)
        return 2
    upstream = start_upstream(workdir, upstream_port, args.stream_pause_ms)
    try:
        results["upstream"] = measure_upstream(args, workdir, upstream_port)
        for gateway in selected:
            try:
                results["gateways"][gateway.name] = measure_gateway(
                    gateway, upstream.pid, upstream_port, args, workdir
                )
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                # The other gateway's figures are still worth keeping.
                log.exception("measuring %s failed, its log is in %s", gateway.name, workdir)
                results["failed"][gateway.name] = f"{type(error).__name__}: {error}"
    finally:
        processes.stop(upstream)

    result_path = workdir / "result.json"
    result_path.write_text(json.dumps(results, indent=2) + "\n")
    if results["gateways"]:
        print()
        print(report.gateway_table(results["gateways"]))
        print()
        print(report.extra_table(results))
        print()
        print(report.baseline_table(results))
    print(f"\nraw figures: {result_path}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
