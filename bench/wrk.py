"""Drive one server with wrk: fixed connections, fixed duration, rotating POST bodies."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    timeout_s: float = 5.0


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

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadGeneratorError("wrk is not installed: `apt-get install -y wrk` (Debian)")
    return path


def drive(url: str, bodies: Sequence[str], load: Load) -> Run:
    """A warm-up run (discarded), then the measured run."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", prefix="bench-bodies-") as f:
        f.write("\n".join(bodies) + "\n")
        f.flush()
        if load.warmup_s > 0:
            _wrk(url, f.name, load, load.warmup_s)
        return _wrk(url, f.name, load, load.duration_s)


def _wrk(url: str, bodies_file: str, load: Load, seconds: float) -> Run:
    cmd = [
        wrk_path(), f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s",
        f"--timeout={load.timeout_s:g}s", "-s", str(SCRIPT), url, "--",
        bodies_file, str(load.threads),
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
