"""Drive one server with wrk: fixed connections, fixed duration, rotating POST bodies."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.machine import cpu_seconds, wait_idle

SCRIPT = Path(__file__).resolve().parent / "lua" / "rotate.lua"
MARKER = "BENCH_RESULT "


class LoadGeneratorError(RuntimeError):
    """wrk is missing or its run could not be read."""


@dataclass(frozen=True, slots=True)
class Load:
    connections: int = 16
    threads: int = 1
    duration_s: float = 10.0
    warmup_s: float = 2.0
    # Far above any latency seen: a timed-out request would vanish from the counts.
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Run:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failed: int
    user_errors: int
    socket_errors: int
    # CPU seconds used during the measured run by the server and by DynamoDB Local.
    server_cpu_s: float | None = None
    engine_cpu_s: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def cpu_ms_per_request(self, seconds: float | None) -> float | None:
        return None if seconds is None or not self.requests else seconds * 1000 / self.requests

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rps": round(self.rps, 1),
            "server_cpu_ms_per_request": self.cpu_ms_per_request(self.server_cpu_s),
            "engine_cpu_ms_per_request": self.cpu_ms_per_request(self.engine_cpu_s),
        }


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadGeneratorError("wrk is not installed: `apt-get install -y wrk` (Debian)")
    return path


def drive(
    url: str,
    bodies: Sequence[str],
    load: Load,
    *,
    server_pid: int,
    engine_pid: int | None,
    api_key: str,
) -> Run:
    """A warm-up run (discarded), a pause until the server has finished the warm-up's
    in-flight requests, then the measured run, with the CPU both processes spent on it."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", prefix="bench-bodies-") as f:
        f.write("\n".join(bodies) + "\n")
        f.flush()
        if load.warmup_s > 0:
            _wrk(url, f.name, api_key, load, load.warmup_s)
            wait_idle(server_pid)
        before = [cpu_seconds(server_pid), _maybe_cpu(engine_pid)]
        run = _wrk(url, f.name, api_key, load, load.duration_s)
        after = [cpu_seconds(server_pid), _maybe_cpu(engine_pid)]
    spent = [None if a is None or b is None else a - b for a, b in zip(after, before, strict=True)]
    return replace(run, server_cpu_s=spent[0], engine_cpu_s=spent[1])


def _maybe_cpu(pid: int | None) -> float | None:
    return None if pid is None else cpu_seconds(pid)


def _wrk(url: str, bodies_file: str, api_key: str, load: Load, seconds: float) -> Run:
    cmd = [
        wrk_path(), f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s",
        f"--timeout={load.timeout_s:g}s", "-s", str(SCRIPT), url, "--",
        bodies_file, str(load.threads), api_key,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise LoadGeneratorError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, Any] = json.loads(line[len(MARKER) :])
    us = 1000.0
    return Run(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / us,
        p90_ms=raw["p90_us"] / us,
        p99_ms=raw["p99_us"] / us,
        max_ms=raw["max_us"] / us,
        failed=raw["failed"],
        user_errors=raw["user_errors"],
        socket_errors=sum(raw["socket_errors"].values()),
    )
