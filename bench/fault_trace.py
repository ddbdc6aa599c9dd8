"""Breaker timelines for `python -m bench.faults`: what each guard did while its breaker was open.

`BreakerTrace.run()` samples, every few milliseconds on the app's own event loop, each traced
source's `SourceMetrics` (breaker state, attempts, transitions) and a counter read at the
source side of the wire (connections a `TcpProxy` accepted, requests an `HttpFaultProxy`
received). Breaker transitions and the attempt they admit happen synchronously on that loop,
so between two samples the state either stayed the same or a transition counter moved.

`account()` sorts each interval between consecutive samples:

- *open*: the breaker was open or half-open at the start and did not close within it. Every
  attempt in such an interval must be a half-open probe: Δattempts == Δbreaker_half_opened.
  At the source, nothing but those probes and the attempts still in flight when the breaker
  opened (their requests may arrive a moment later) may arrive.
- *closed*: closed at the start and did not open within it.
- *boundary*: it opened or closed within it (its attempts cannot be told apart).

Samples that repeat the previous one are not stored, except the last one before a change,
so the accounting is exact while the trace stays small.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from datasources.resilience import BreakerState, Resilience


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    state: BreakerState
    attempts: int
    half_opened: int
    opened: int
    closed: int
    source: int  # at the source side of the wire
    in_flight: int = 0  # attempts admitted and not finished

    def same_as(self, other: Sample) -> bool:
        return (self.state, self.attempts, self.half_opened, self.opened, self.closed,
                self.source) == (other.state, other.attempts, other.half_opened, other.opened,
                                 other.closed, other.source)  # fmt: skip


@dataclass(slots=True)
class Accounting:
    open_seconds: float = 0.0
    open_attempts: int = 0
    open_probes: int = 0
    open_source: int = 0
    # Attempts in flight as each open stretch began: admitted before the breaker opened, their
    # requests may still reach the source (the proxies count on threads of their own) after.
    open_in_flight: int = 0
    closed_seconds: float = 0.0
    closed_attempts: int = 0
    closed_source: int = 0
    boundary_attempts: int = 0
    boundary_source: int = 0

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "open_seconds": round(self.open_seconds, 3),
            "open_attempts": self.open_attempts,
            "open_probes": self.open_probes,
            "open_source": self.open_source,
            "open_in_flight": self.open_in_flight,
            "closed_seconds": round(self.closed_seconds, 3),
            "closed_attempts": self.closed_attempts,
            "closed_source": self.closed_source,
            "boundary_attempts": self.boundary_attempts,
            "boundary_source": self.boundary_source,
        }


@dataclass(slots=True)
class BreakerTrace:
    guards: Mapping[str, Resilience]
    source_counters: Mapping[str, Callable[[], int]]
    interval_seconds: float = 0.002
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    _pending: dict[str, Sample] = field(default_factory=dict)

    def sample(self) -> None:
        now = time.perf_counter()
        for name, guard in self.guards.items():
            m = guard.metrics
            counter = self.source_counters.get(name)
            current = Sample(
                now, m.breaker_state, m.attempts, m.breaker_half_opened, m.breaker_opened,
                m.breaker_closed, counter() if counter is not None else 0, m.in_flight,
            )  # fmt: skip
            stored = self.samples.setdefault(name, [])
            pending = self._pending.get(name)
            if not stored or not current.same_as(stored[-1]):
                if pending is not None and stored and pending is not stored[-1]:
                    stored.append(pending)  # the last moment before the change
                stored.append(current)
                self._pending[name] = current
            else:
                self._pending[name] = current

    def flush(self) -> None:
        """Store each trace's last sample, so the accounting reaches the end of the run."""
        self.sample()
        for name, pending in self._pending.items():
            stored = self.samples[name]
            if pending is not stored[-1]:
                stored.append(pending)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            await asyncio.sleep(self.interval_seconds)
        self.flush()

    def state_at_end(self, name: str, until: float) -> BreakerState | None:
        last: BreakerState | None = None
        for s in self.samples.get(name, ()):
            if s.t > until:
                break
            last = s.state
        return last

    def account(self, name: str, start: float, end: float) -> Accounting:
        """Open/closed/boundary accounting of the intervals that start in [start, end)."""
        result = Accounting()
        samples = self.samples.get(name, [])
        was_open = False
        for a, b in pairwise(samples):
            if not start <= a.t < end:
                continue
            attempts, source, seconds = b.attempts - a.attempts, b.source - a.source, b.t - a.t
            closed_within = b.closed != a.closed
            opened_within = b.opened != a.opened
            is_open = a.state is not BreakerState.CLOSED and not closed_within
            if is_open and not was_open:
                result.open_in_flight += a.in_flight
            was_open = is_open
            if is_open:
                result.open_seconds += seconds
                result.open_attempts += attempts
                result.open_probes += b.half_opened - a.half_opened
                result.open_source += source
            elif a.state is BreakerState.CLOSED and not opened_within:
                result.closed_seconds += seconds
                result.closed_attempts += attempts
                result.closed_source += source
            else:
                result.boundary_attempts += attempts
                result.boundary_source += source
        return result

    def closed_at(self, name: str, after: float) -> float | None:
        """When the breaker was next seen closed at or after `after` (`after` itself if it
        was closed then); None if it never was."""
        previous: Sample | None = None
        for s in self.samples.get(name, []):
            if s.t < after:
                previous = s
                continue
            if previous is None or previous.state is BreakerState.CLOSED:
                return after
            if s.state is BreakerState.CLOSED:
                return s.t
        return None
