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
