"""Start, stop and inspect the server processes of the benchmark (Linux only, reads /proc)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from http_client import HttpConnection, build_request

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(
    command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in a new session with stdout and stderr appended to `log_path`.

    The new session makes the process the leader of its own process group, so `stop`
    can end it together with any workers it forks.
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Send SIGTERM to the process group of `process`, then SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        process.wait(timeout)


def wait_ready(
    process: subprocess.Popen[bytes],
    port: int,
    path: str,
    headers: Mapping[str, str],
    started_ns: int,
    timeout: float = 60.0,
    poll_interval: float = 0.01,
) -> float:
    """Poll `GET path` every `poll_interval` seconds until it returns 200.

    Returns the seconds from `started_ns` (a `time.perf_counter_ns` value) to the end of the
    first successful response. Raises RuntimeError when the process exits or `timeout`
    seconds pass first.
    """
    request = build_request("GET", port, path, headers)
    deadline = started_ns + int(timeout * 1e9)
    last_status: int | None = None
    while time.perf_counter_ns() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        try:
            with HttpConnection(port, timeout=5.0) as connection:
                exchange = connection.send(request)
        except OSError:
            exchange = None
        if exchange is not None:
            last_status = exchange.status
            if exchange.status == 200:
                return (time.perf_counter_ns() - started_ns) / 1e9
        time.sleep(poll_interval)
    raise RuntimeError(
        f"server was not ready within {timeout} s (last status of GET {path}: {last_status})"
    )


def _parent_pids() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces, so the fields after it are
        # counted from the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """Return `pid` and the ids of all its living descendants."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_pids().items():
        children.setdefault(parent, []).append(child)
    tree = [pid]
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index], []))
        index += 1
    return tree


def rss_bytes(pids: Sequence[int]) -> int:
    """Return the sum of VmRSS over `pids`, skipping processes that have exited.

    NOTE: pages shared between the processes are counted once per process, so the sum
    overstates memory use when a server forks workers.
    """
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids: Sequence[int]) -> float:
    """Return the user plus system CPU time of `pids` in seconds."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS
