"""How busy the machine is: benchmarks on a shared box are only worth their noise."""

from __future__ import annotations

import os
import time
from pathlib import Path

STAT = Path("/proc/stat")
BUSY_WARNING = 0.15


def _cpu_times() -> tuple[int, int] | None:
    """(total, idle) jiffies over all CPUs; None where /proc/stat does not exist."""
    try:
        fields = [int(v) for v in STAT.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def busy_cpu_seconds() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds so far over all CPUs (Linux). Busy is what this machine's
    processes and kernel ran; stolen is time the hypervisor gave to other guests while ours
    wanted to run (`steal` in /proc/stat) - noise from outside the machine."""
    try:
        fields = [int(v) for v in STAT.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[:7]) - fields[3] - fields[4]  # user nice system irq softirq
    return busy / tick, fields[7] / tick


def busy_fraction(seconds: float = 2.0) -> float | None:
    """Share of all CPUs busy over `seconds` (before the bench starts anything)."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return (total - idle) / total


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def find_pid(*needles: str) -> int | None:
    """The first process whose command line contains every needle (e.g. DynamoDB Local's
    main class and its port)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in args]
        if all(any(needle == w or needle in w for w in words) for needle in needles):
            return int(entry.name)
    return None


def wait_idle(
    pid: int, *, below: float = 0.05, window: float = 0.25, timeout: float = 20.0
) -> None:
    """Block until `pid` uses less than `below` of a CPU over `window` seconds: a server still
    finishing the warm-up's in-flight requests would steal time from the measured run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(window)
        after = cpu_seconds(pid)
        if before is None or after is None or (after - before) / window < below:
            return
