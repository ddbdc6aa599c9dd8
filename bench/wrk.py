"""Drive servers with wrk: fixed connections, fixed duration, rotating POST bodies.

A measurement is made of slices (one wrk process each); `merge` adds their counts, CPU and
latency histograms, so a server measured in two halves (A B B A) reports one exact p50/p99.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.machine import busy_cpu_seconds, cpu_seconds, wait_idle

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
class Target:
    """One operation on one server: where to send which bodies, and whose CPU to count."""

    url: str
    bodies_file: str
    api_key: str
    server_pid: int
    engine_pid: int | None


@dataclass(frozen=True, slots=True)
class Slice:
    requests: int
    duration_s: float
    latencies_us: tuple[tuple[int, int], ...]  # (latency, how many), ascending
    failed: int
    user_errors: int
    socket_errors: int
    server_cpu_s: float | None
    engine_cpu_s: float | None
    # Noise: CPU that neither the server, DynamoDB Local nor wrk used (other jobs on this
    # machine), and CPU the hypervisor stole for other guests.
    outside_cpu_s: float | None
    stolen_cpu_s: float | None


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
    # CPU seconds used during the measured slices by the server and by DynamoDB Local.
    server_cpu_s: float | None
    engine_cpu_s: float | None
    outside_cpu_s: float | None
    stolen_cpu_s: float | None
    slices: int

    @property
    def noise(self) -> float | None:
        """Other jobs' CPU plus stolen CPU during the measurement, in cores (0.5 = half a
        core): rows with much of it are not comparable with the others."""
        if self.outside_cpu_s is None or self.stolen_cpu_s is None or not self.duration_s:
            return None
        return (max(self.outside_cpu_s, 0.0) + self.stolen_cpu_s) / self.duration_s

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
            "noise_cores": self.noise,
        }


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadGeneratorError("wrk is not installed: `apt-get install -y wrk` (Debian)")
    return path


@contextmanager
def bodies_file(bodies: Sequence[str]) -> Iterator[str]:
    """The bodies, one per line, in a temporary file for the Lua script."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", prefix="bench-bodies-") as f:
        f.write("\n".join(bodies) + "\n")
        f.flush()
        yield f.name


def warm_up(target: Target, load: Load) -> None:
    """A discarded run, then a pause until the server has finished its in-flight requests."""
    if load.warmup_s > 0:
        _wrk(target, load, load.warmup_s)
        wait_idle(target.server_pid)


def measure(target: Target, load: Load, seconds: float) -> Slice:
    """One measured slice, with the CPU the server and DynamoDB Local spent on it."""
    wait_idle(target.server_pid)  # the previous slice's in-flight requests would count here
    server_before, engine_before = cpu_seconds(target.server_pid), _maybe_cpu(target.engine_pid)
    machine_before, wrk_before = busy_cpu_seconds(), _children_cpu()
    raw = _wrk(target, load, seconds)
    machine_after = busy_cpu_seconds()
    machine = _spent(_busy(machine_before), _busy(machine_after))
    stolen = _spent(_stolen(machine_before), _stolen(machine_after))
    server = _spent(server_before, cpu_seconds(target.server_pid))
    engine = _spent(engine_before, _maybe_cpu(target.engine_pid))
    ours = [server, engine if target.engine_pid is not None else 0.0, _children_cpu() - wrk_before]
    outside = None if machine is None or None in ours else machine - sum(v or 0.0 for v in ours)
    return Slice(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        latencies_us=tuple((int(v), int(c)) for v, c in raw["latency_us"]),
        failed=raw["failed"],
        user_errors=raw["user_errors"],
        socket_errors=sum(raw["socket_errors"].values()),
        server_cpu_s=server,
        engine_cpu_s=engine,
        outside_cpu_s=outside,
        stolen_cpu_s=stolen,
    )


def merge(slices: Sequence[Slice]) -> Run:
    histogram: Counter[int] = Counter()
    for s in slices:
        for value, count in s.latencies_us:
            histogram[value] += count
    return Run(
        requests=sum(s.requests for s in slices),
        duration_s=sum(s.duration_s for s in slices),
        p50_ms=_percentile(histogram, 50) / 1000,
        p90_ms=_percentile(histogram, 90) / 1000,
        p99_ms=_percentile(histogram, 99) / 1000,
        max_ms=max(histogram, default=0) / 1000,
        failed=sum(s.failed for s in slices),
        user_errors=sum(s.user_errors for s in slices),
        socket_errors=sum(s.socket_errors for s in slices),
        server_cpu_s=_total([s.server_cpu_s for s in slices]),
        engine_cpu_s=_total([s.engine_cpu_s for s in slices]),
        outside_cpu_s=_total([s.outside_cpu_s for s in slices]),
        stolen_cpu_s=_total([s.stolen_cpu_s for s in slices]),
        slices=len(slices),
    )


def _percentile(histogram: Counter[int], p: float) -> float:
    """The smallest latency at or below which p % of the requests fall (wrk's definition)."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank, seen = total * p / 100, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def _total(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _busy(sample: tuple[float, float] | None) -> float | None:
    return None if sample is None else sample[0]


def _stolen(sample: tuple[float, float] | None) -> float | None:
    return None if sample is None else sample[1]


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _children_cpu() -> float:
    """CPU of this process's finished children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _maybe_cpu(pid: int | None) -> float | None:
    return None if pid is None else cpu_seconds(pid)


def _wrk(target: Target, load: Load, seconds: float) -> dict[str, Any]:
    cmd = [
        wrk_path(), f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s",
        f"--timeout={load.timeout_s:g}s", "-s", str(SCRIPT), target.url, "--",
        target.bodies_file, str(load.threads), target.api_key,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise LoadGeneratorError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, Any] = json.loads(line[len(MARKER) :])
    return raw
