"""Format benchmark results as Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One figure in the results of each gateway, and teamgate's target for it."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: float

    def meets_target(self, value: float) -> bool:
        return value >= self.target if self.higher_is_better else value <= self.target

    def target_text(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        return f"{sign} {self.target:g} {self.unit}"


METRICS = (
    Metric("throughput_rps", "throughput, 20 connections", "req/s", True, 3000),
    Metric("added_latency_ms", "added latency p50, 1 connection", "ms", False, 0.6),
    Metric("stream_first_token_overhead_ms", "added time to first token", "ms", False, 1.0),
    Metric("idle_rss_mb", "idle RSS", "MB", False, 70),
    Metric("ready_s", "ready after start", "s", False, 1.5),
)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(metric: Metric, teamgate: float, litellm: float) -> str:
    """Return how many times better teamgate is than LiteLLM, or n/a for a non-positive value."""
    numerator, denominator = (teamgate, litellm) if metric.higher_is_better else (litellm, teamgate)
    if numerator <= 0 or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:,.1f}×"


def gateway_table(gateways: dict[str, Any]) -> str:
    """Return a table of the median of each metric per gateway, with ratio and target."""
    names = [name for name in ("teamgate", "litellm") if name in gateways]
    header = ["metric", *names]
    both = len(names) == 2
    if both:
        header.append("teamgate better by")
    header.append("teamgate target")
    lines = [_row(header), _row(["---"] * len(header))]
    for metric in METRICS:
        medians = {name: gateways[name][metric.key]["median"] for name in names}
        row = [f"{metric.label} ({metric.unit})"] + [_number(medians[name]) for name in names]
        if both:
            row.append(_ratio(metric, medians["teamgate"], medians["litellm"]))
        target = metric.target_text()
        if "teamgate" in medians:
            target += " (met)" if metric.meets_target(medians["teamgate"]) else " (missed)"
        row.append(target)
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _median_cpu_per_request(figures: dict[str, Any]) -> float:
    details = figures["throughput_rps"]["details"]
    return float(statistics.median(run["gateway_cpu_us_per_request"] for run in details))


def extra_table(results: dict[str, Any]) -> str:
    """Return a table of the figures that have no target: idle latency, RSS and CPU under load."""
    gateways = results["gateways"]
    idle_ms = results["settings"]["idle_ms"]
    names = [name for name in ("teamgate", "litellm") if name in gateways]
    lines = [_row(["figure", *names]), _row(["---"] * (len(names) + 1))]
    extra: list[tuple[str, Callable[[dict[str, Any]], float]]] = [
        (
            f"added latency p50 after {idle_ms:g} ms idle (ms)",
            lambda figures: float(figures["added_latency_after_idle_ms"]["median"]),
        ),
        ("RSS after the load runs (MB)", lambda figures: float(figures["rss_after_load_mb"])),
        ("gateway CPU per request at 20 connections (µs)", _median_cpu_per_request),
    ]
    for label, pick in extra:
        lines.append(_row([label] + [_number(pick(gateways[name])) for name in names]))
    return "\n".join(lines)


def baseline_table(results: dict[str, Any]) -> str:
    """Return a table of the direct-to-upstream figures that the added figures subtract."""
    lines = [_row(["direct to the static upstream", "median"]), _row(["---", "---"])]
    upstream_rps = results["upstream"]["throughput_rps"]["median"]
    lines.append(_row(["throughput, 20 connections (req/s)", _number(upstream_rps)]))
    for name, figures in results["gateways"].items():
        rows = [
            ("latency p50, 1 connection (wrk)", figures["added_latency_ms"]["direct_p50_ms"]),
            ("time to first token", figures["stream_first_token_overhead_ms"]["direct_ms"]),
            (
                f"latency p50 after {results['settings']['idle_ms']:g} ms idle",
                figures["added_latency_after_idle_ms"]["direct_ms"],
            ),
        ]
        for label, series in rows:
            lines.append(_row([f"{label}, during the {name} runs (ms)", _number(series["median"])]))
    return "\n".join(lines)
