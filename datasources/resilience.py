"""One resilience mechanism for every data source: timeout, circuit breaker, bulkhead, retry.

    Resilience(source, policy).call(fn, idempotent=...)
      └── per attempt (1 + `retries` for idempotent calls, while the retry budget lasts):
            breaker admits the call?     no → CircuitOpenError, `fn` is not called
            bulkhead slot                 waits inside the attempt's timeout
            asyncio.timeout → await fn()  → SourceTimeoutError when it expires
            outcome → breaker, metrics    unexpected exceptions → SourceUnavailableError

What trips the breaker: SourceUnavailableError and SourceTimeoutError (the source is down or
slow). A SourceRejectedError means the source answered, so it counts as a success for the
breaker and is never retried. Waiting too long for a bulkhead slot is a SourceTimeoutError
too, but it says nothing about the source and does not count against it.

Breaker: `failure_threshold` consecutive failures open it; while open, calls fail fast for
`reset_seconds`; then exactly one call is let through as the half-open probe (others keep
failing fast): its success closes the breaker, its failure re-opens it for another cool-down.
Outcomes of calls admitted before the breaker opened do not move it.

Retry: exponential backoff with full jitter (`uniform(0, min(cap, base * 2**n))`, AWS
Architecture Blog, "Exponential Backoff And Jitter"), idempotent calls only, never after
CircuitOpen or Rejected, after a timeout only if `retry_timeouts`. When the source said how
long to wait (`SourceError.retry_after`, from HTTP Retry-After on a 429 or 503) the wait is
max(jittered backoff, retry_after); a wait beyond `max_retry_after_seconds` is not taken at
all and the error is raised: a user's request must not sleep for a minute on its behalf. A
retry budget (a token bucket: each call deposits `retry_budget_ratio` tokens up to
`retry_budget_burst`, each retry spends one) stops retries from multiplying load while a
source struggles.

Metrics: `SourceMetrics` is plain counters plus a latency histogram on the fixed
`LATENCY_BUCKETS` (1 ms to 10 s), read by `appsync/metrics.py` for /metrics. Plain fields
rather than prometheus_client objects so this layer stays free of an exposition format and
several apps in one process (tests) never share a global registry.

Why hand-rolled rather than a library: the breakers on PyPI that speak asyncio read wall-clock
time inside their state classes (aiobreaker's `datetime.utcnow()`, purgatory's
`time.time()`), so tests would have to sleep through cool-downs, and both let every
concurrent call through in half-open rather than one probe; aiobreaker is untyped. The retry
loop is twenty lines once backoff, budget, breaker and metrics share one clock and one
outcome classification, so tenacity/stamina would add a dependency without removing code.
Everything here takes an injected `clock`, `sleep` and `rng`, and is covered by
tests/test_resilience.py without real waiting.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from datasources import frozen
from datasources.errors import (
    CircuitOpenError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)

T = TypeVar("T")

# Upper bounds (seconds) of the latency histogram: 1 ms (a fast DynamoDB read) to 10 s (a
# bulk write); anything slower lands in +Inf. Fixed, so every source's series line up.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@frozen.record
class Policy:
    """How one source is called. Times are in seconds."""

    timeout_seconds: float = 1.0
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    max_concurrency: int = 64
    retries: int = 0
    backoff_base_seconds: float = 0.025
    backoff_max_seconds: float = 1.0
    retry_timeouts: bool = False
    retry_budget_ratio: float = 0.2
    retry_budget_burst: int = 10
    # The longest Retry-After we wait out; a source asking for more gets no retry.
    max_retry_after_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.reset_seconds < 0:
            raise ValueError("timeout_seconds must be > 0 and reset_seconds >= 0")
        if self.failure_threshold < 1 or self.max_concurrency < 1 or self.retries < 0:
            raise ValueError("failure_threshold and max_concurrency >= 1, retries >= 0")
        if self.backoff_base_seconds < 0 or self.backoff_max_seconds < 0:
            raise ValueError("backoff times must be >= 0")
        if self.retry_budget_ratio < 0 or self.retry_budget_burst < 0:
            raise ValueError("the retry budget must be >= 0")
        if self.max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must be >= 0")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class SourceMetrics:
    """Counters of one source, rendered by the metrics endpoint (`snapshot()`)."""

    source: str
    calls: int = 0
    attempts: int = 0
    successes: int = 0
    # By reason: Timeout, Unavailable, CircuitOpen, Rejected, ... (the errorType suffix).
    failures: Counter[str] = field(default_factory=Counter)
    rejected: int = 0  # short-circuited by the open breaker: the source was not called
    retries: int = 0
    retries_denied: int = 0  # wanted a retry, the budget said no
    in_flight: int = 0
    latency_seconds_sum: float = 0.0
    latency_count: int = 0
    # Attempts per bucket of LATENCY_BUCKETS, not cumulative; the last slot is +Inf.
    latency_bucket_counts: list[int] = field(
        default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1)
    )
    breaker_state: BreakerState = BreakerState.CLOSED
    breaker_opened: int = 0
    breaker_half_opened: int = 0
    breaker_closed: int = 0

    def observe_latency(self, seconds: float) -> None:
        self.latency_seconds_sum += seconds
        self.latency_count += 1
        # bisect_left: a value equal to a bound belongs to that bucket (Prometheus `le`).
        self.latency_bucket_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def latency_buckets(self) -> list[tuple[float, int]]:
        """Cumulative `(le, count)` pairs ending with `(inf, latency_count)`."""
        bounds = (*LATENCY_BUCKETS, math.inf)
        total = 0
        cumulative = []
        for bound, count in zip(bounds, self.latency_bucket_counts, strict=True):
            total += count
            cumulative.append((bound, total))
        return cumulative

    def snapshot(self) -> dict[str, object]:
        return {
            "source": self.source,
            "calls": self.calls,
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": dict(self.failures),
            "rejected": self.rejected,
            "retries": self.retries,
            "retries_denied": self.retries_denied,
            "in_flight": self.in_flight,
            "latency_seconds_sum": self.latency_seconds_sum,
            "latency_count": self.latency_count,
            "latency_buckets": self.latency_buckets(),
            "breaker_state": self.breaker_state.value,
            "breaker_opened": self.breaker_opened,
            "breaker_half_opened": self.breaker_half_opened,
            "breaker_closed": self.breaker_closed,
        }


class _Admission(enum.Enum):
    NORMAL = enum.auto()
    PROBE = enum.auto()
    STALE = enum.auto()  # admitted in an earlier closed period: its outcome moves nothing


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive failures; one half-open probe."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_seconds: float,
        clock: Clock,
        metrics: SourceMetrics,
    ) -> None:
        self._threshold = failure_threshold
        self._reset = reset_seconds
        self._clock = clock
        self._metrics = metrics
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._epoch = 0  # bumped on every transition; tells stale outcomes apart

    @property
    def state(self) -> BreakerState:
        return self._state

    def retry_after(self) -> float:
        """Seconds until the next probe may go (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._reset - self._clock())

    def admit(self) -> tuple[_Admission, int] | None:
        """Let a call through (with its admission), or None: fail fast, do not call."""
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset:
                return None
            self._move(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                return None
            self._probing = True
            return _Admission.PROBE, self._epoch
        return _Admission.NORMAL, self._epoch

    def succeeded(self, admission: tuple[_Admission, int]) -> None:
        kind, epoch = admission
        if kind is _Admission.PROBE and epoch == self._epoch:
            self._probing = False
            self._failures = 0
            self._move(BreakerState.CLOSED)
        elif epoch == self._epoch and self._state is BreakerState.CLOSED:
            self._failures = 0

    def failed(self, admission: tuple[_Admission, int]) -> None:
        kind, epoch = admission
        if epoch != self._epoch:
            return
        if kind is _Admission.PROBE:
            self._probing = False
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def abandoned(self, admission: tuple[_Admission, int]) -> None:
        """The call ended without telling anything about the source (cancelled, no slot)."""
        kind, epoch = admission
        if kind is _Admission.PROBE and epoch == self._epoch:
            self._probing = False  # the next call becomes the probe

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        self._state = state
        self._epoch += 1
        self._metrics.breaker_state = state
        if state is BreakerState.OPEN:
            self._metrics.breaker_opened += 1
        elif state is BreakerState.HALF_OPEN:
            self._metrics.breaker_half_opened += 1
        else:
            self._metrics.breaker_closed += 1


class RetryBudget:
    """Token bucket: each call deposits `ratio`, each retry spends 1 (capped at `burst`)."""

    def __init__(self, *, ratio: float, burst: int) -> None:
        self._ratio = ratio
        self._burst = float(burst)
        self._tokens = float(burst)

    @property
    def tokens(self) -> float:
        return self._tokens

    def deposit(self) -> None:
        self._tokens = min(self._burst, self._tokens + self._ratio)

    def withdraw(self) -> bool:
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Resilience:
    """The guarded way to call one source; one instance per source per process."""

    def __init__(
        self,
        source: str,
        policy: Policy,
        clock: Clock = time.monotonic,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.source = source
        self.policy = policy
        self.metrics = SourceMetrics(source)
        self.breaker = CircuitBreaker(
            failure_threshold=policy.failure_threshold,
            reset_seconds=policy.reset_seconds,
            clock=clock,
            metrics=self.metrics,
        )
        self.budget = RetryBudget(ratio=policy.retry_budget_ratio, burst=policy.retry_budget_burst)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._bulkhead = asyncio.Semaphore(policy.max_concurrency)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        timeout_seconds: float | None = None,
    ) -> T:
        """Await `fn()` under the policy; every failure is a SourceError of this source.

        `fn` is called afresh for each attempt. `timeout_seconds` overrides the policy's
        per-attempt timeout for this call (e.g. a bulk write).
        """
        self.metrics.calls += 1
        self.budget.deposit()
        retries = 0
        while True:
            try:
                return await self._attempt(fn, timeout_seconds or self.policy.timeout_seconds)
            except SourceError as exc:
                if not self._may_retry(exc, idempotent=idempotent, retries=retries):
                    raise
                asked = exc.retry_after or 0.0
            retries += 1
            self.metrics.retries += 1
            await self._sleep(max(self.backoff(retries), asked))

    def backoff(self, retry: int) -> float:
        """Full jitter: a uniform draw below the capped exponential (retry counts from 1)."""
        p = self.policy
        cap = min(p.backoff_max_seconds, p.backoff_base_seconds * 2.0 ** (retry - 1))
        return self._rng() * cap

    def _may_retry(self, exc: SourceError, *, idempotent: bool, retries: int) -> bool:
        if not idempotent or retries >= self.policy.retries:
            return False
        if isinstance(exc, CircuitOpenError) or not exc.retryable:
            return False
        if isinstance(exc, SourceTimeoutError) and not self.policy.retry_timeouts:
            return False
        if exc.retry_after is not None and exc.retry_after > self.policy.max_retry_after_seconds:
            return False  # checked before the budget: a refused wait spends no token
        if not self.budget.withdraw():
            self.metrics.retries_denied += 1
            return False
        return True

    async def _attempt(self, fn: Callable[[], Awaitable[T]], limit: float) -> T:
        m = self.metrics
        admission = self.breaker.admit()
        if admission is None:
            m.rejected += 1
            m.failures[CircuitOpenError.reason] += 1
            wait = self.breaker.retry_after()
            when = f"next probe in {wait:.1f}s" if wait else "a probe is in flight"
            raise CircuitOpenError(
                self.source,
                f"{self.source} is not being called: its circuit breaker is open ({when}).",
            )
        started: float | None = None
        try:
            async with asyncio.timeout(limit):
                async with self._bulkhead:
                    started = self._clock()
                    m.attempts += 1
                    m.in_flight += 1
                    try:
                        result = await fn()
                    finally:
                        m.in_flight -= 1
                        m.observe_latency(self._clock() - started)
        except TimeoutError as exc:
            m.failures[SourceTimeoutError.reason] += 1
            if started is None:
                self.breaker.abandoned(admission)
                raise SourceTimeoutError(
                    self.source,
                    f"{self.source}: no free slot within {limit * 1000:.0f} ms "
                    f"({self.policy.max_concurrency} calls in flight).",
                ) from exc
            self.breaker.failed(admission)
            raise SourceTimeoutError(
                self.source, f"{self.source} did not answer within {limit * 1000:.0f} ms."
            ) from exc
        except SourceError as exc:
            m.failures[exc.reason] += 1
            if isinstance(exc, SourceUnavailableError | SourceTimeoutError):
                self.breaker.failed(admission)
            elif isinstance(exc, SourceRejectedError):
                self.breaker.succeeded(admission)  # it answered, if only to refuse
            else:
                self.breaker.abandoned(admission)
            raise
        except Exception as exc:
            m.failures[SourceUnavailableError.reason] += 1
            self.breaker.failed(admission)
            raise SourceUnavailableError(
                self.source, f"{self.source} call failed: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:  # cancelled by the caller: says nothing about the source
            self.breaker.abandoned(admission)
            raise
        m.successes += 1
        self.breaker.succeeded(admission)
        return result
