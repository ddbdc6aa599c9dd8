"""The shared resilience mechanism, with a fake clock: breaker, timeout, bulkhead, retry, metrics;
and how DynamoDB's client classifies its outcomes for it.

Calls are counted at the callee, so "rejected without calling" is observed, not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from datasources.dynamodb.client import (
    DynamoClient,
    TransactionCanceledError,
    botocore_attempts,
    botocore_deadline,
    policy_for,
)
from datasources.errors import (
    CircuitOpenError,
    ConditionFailedError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.resilience import LATENCY_BUCKETS, BreakerState, Policy, Resilience

SOURCE = "Graph"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Callee:
    """Plays its outcomes in order (the last one repeats); counts calls and concurrency."""

    def __init__(self, *outcomes: object, clock: FakeClock | None = None, takes: float = 0.0):
        self.outcomes = list(outcomes) or ["ok"]
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self.gate: asyncio.Event | None = None
        self._clock = clock
        self._takes = takes

    async def __call__(self) -> object:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self._clock is not None:
                self._clock.advance(self._takes)
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
                return "slept"
            return outcome
        finally:
            self.running -= 1


def unavailable() -> SourceUnavailableError:
    return SourceUnavailableError(SOURCE, "down")


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def resilience(clock: FakeClock | None = None, **policy: object) -> Resilience:
    base: dict[str, object] = {
        "timeout_seconds": 1.0,
        "failure_threshold": 3,
        "reset_seconds": 30.0,
    }
    return Resilience(
        SOURCE,
        Policy(**{**base, **policy}),  # type: ignore[arg-type]
        clock or FakeClock(),
        sleep=Sleeps(),
        rng=lambda: 0.5,
    )


def state_of(r: Resilience) -> BreakerState:
    return r.breaker.state


async def fail_times(r: Resilience, callee: Callable[[], Awaitable[object]], n: int) -> None:
    for _ in range(n):
        with pytest.raises(SourceUnavailableError):
            await r.call(callee, idempotent=False)


# --- circuit breaker -------------------------------------------------------------------------


async def test_breaker_opens_after_threshold_and_rejects_without_calling() -> None:
    # given
    clock = FakeClock()
    r = resilience(clock, failure_threshold=3)
    callee = Callee(unavailable())
    # when
    await fail_times(r, callee, 3)
    # then
    assert state_of(r) is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        await r.call(callee, idempotent=True)
    assert callee.calls == 3
    assert info.value.error_type == "Graph:CircuitOpen"
    assert r.metrics.rejected == 1
    assert r.metrics.breaker_opened == 1
    assert r.metrics.failures == {"Unavailable": 3, "CircuitOpen": 1}


async def test_breaker_stays_open_for_the_whole_cool_down() -> None:
    clock = FakeClock()
    r = resilience(clock, failure_threshold=2, reset_seconds=30.0)
    callee = Callee(unavailable(), unavailable(), "ok")
    await fail_times(r, callee, 2)
    for step in (1.0, 10.0, 18.99):
        clock.advance(step)  # 29.99 s after opening at most
        with pytest.raises(CircuitOpenError):
            await r.call(callee, idempotent=True)
    assert callee.calls == 2
    assert r.metrics.rejected == 3


async def test_successes_in_between_reset_the_failure_count() -> None:
    r = resilience(failure_threshold=3)
    callee = Callee(unavailable(), unavailable(), "ok", unavailable(), unavailable(), "ok")
    for _ in range(6):
        with contextlib.suppress(SourceUnavailableError):
            await r.call(callee, idempotent=False)
    assert state_of(r) is BreakerState.CLOSED
    assert callee.calls == 6


async def test_half_open_probe_success_closes() -> None:
    # given an open breaker
    clock = FakeClock()
    r = resilience(clock, failure_threshold=2, reset_seconds=30.0)
    callee = Callee(unavailable(), unavailable(), "back")
    await fail_times(r, callee, 2)
    # when the cool-down is over
    clock.advance(30.0)
    result = await r.call(callee, idempotent=False)
    # then the probe was called and closed the breaker
    assert result == "back"
    assert callee.calls == 3
    assert state_of(r) is BreakerState.CLOSED
    m = r.metrics
    assert (m.breaker_opened, m.breaker_half_opened, m.breaker_closed) == (1, 1, 1)
    assert m.breaker_state is BreakerState.CLOSED
    assert await r.call(callee, idempotent=False) == "back"


async def test_half_open_probe_failure_reopens_for_a_new_cool_down() -> None:
    clock = FakeClock()
    r = resilience(clock, failure_threshold=2, reset_seconds=30.0)
    callee = Callee(unavailable())
    await fail_times(r, callee, 2)
    clock.advance(31.0)
    # the probe fails ...
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=False)
    assert state_of(r) is BreakerState.OPEN
    assert r.metrics.breaker_opened == 2
    # ... and the cool-down restarts from the probe, not from the first opening
    clock.advance(29.0)
    with pytest.raises(CircuitOpenError):
        await r.call(callee, idempotent=False)
    assert callee.calls == 3
    clock.advance(1.0)
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=False)
    assert callee.calls == 4


async def test_only_one_probe_at_a_time() -> None:
    clock = FakeClock()
    r = resilience(clock, failure_threshold=1, reset_seconds=5.0)
    await fail_times(r, Callee(unavailable()), 1)
    clock.advance(5.0)
    probe = Callee("ok")
    probe.gate = asyncio.Event()
    # when the probe is in flight
    task = asyncio.create_task(r.call(probe, idempotent=False))
    await asyncio.sleep(0)
    assert state_of(r) is BreakerState.HALF_OPEN
    other = Callee("ok")
    with pytest.raises(CircuitOpenError, match="probe is in flight"):
        await r.call(other, idempotent=True)
    # then the other call was not made, and the probe's success closes the breaker
    assert other.calls == 0
    probe.gate.set()
    assert await task == "ok"
    assert state_of(r) is BreakerState.CLOSED


async def test_a_cancelled_probe_hands_the_probe_to_the_next_call() -> None:
    clock = FakeClock()
    r = resilience(clock, failure_threshold=1, reset_seconds=5.0)
    await fail_times(r, Callee(unavailable()), 1)
    clock.advance(5.0)
    probe = Callee("ok")
    probe.gate = asyncio.Event()
    task = asyncio.create_task(r.call(probe, idempotent=False))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await r.call(Callee("next"), idempotent=False) == "next"
    assert state_of(r) is BreakerState.CLOSED


async def test_outcomes_of_calls_admitted_before_opening_do_not_close_it() -> None:
    clock = FakeClock()
    r = resilience(clock, failure_threshold=1)
    slow = Callee("late success")
    slow.gate = asyncio.Event()
    task = asyncio.create_task(r.call(slow, idempotent=False))
    await asyncio.sleep(0)
    await fail_times(r, Callee(unavailable()), 1)
    assert state_of(r) is BreakerState.OPEN
    slow.gate.set()
    assert await task == "late success"
    assert state_of(r) is BreakerState.OPEN


async def test_rejections_mean_the_source_answered() -> None:
    r = resilience(failure_threshold=1)
    refusal = SourceRejectedError(SOURCE, "bad request", reason="InvalidRequest")
    callee = Callee(refusal)
    for _ in range(3):
        with pytest.raises(SourceRejectedError) as info:
            await r.call(callee, idempotent=True)
        assert info.value is refusal  # our own errors pass through untouched
    assert state_of(r) is BreakerState.CLOSED
    assert callee.calls == 3  # and are never retried
    assert r.metrics.failures == {"InvalidRequest": 3}


# --- timeout and error mapping -----------------------------------------------------------------


async def test_timeout_raises_source_timeout_and_counts_as_failure() -> None:
    r = resilience(timeout_seconds=0.05, failure_threshold=2)
    callee = Callee(5.0)  # sleeps five seconds
    for _ in range(2):
        with pytest.raises(SourceTimeoutError) as info:
            await r.call(callee, idempotent=True)
        assert info.value.error_type == "Graph:Timeout"
        assert "50 ms" in info.value.message
    assert callee.calls == 2  # timeouts are not retried unless retry_timeouts
    assert state_of(r) is BreakerState.OPEN
    assert r.metrics.failures["Timeout"] == 2


async def test_per_call_timeout_overrides_the_policy() -> None:
    r = resilience(timeout_seconds=0.01)
    assert await r.call(Callee(0.05), idempotent=False, timeout_seconds=1.0) == "slept"


async def test_unexpected_exceptions_become_unavailable() -> None:
    r = resilience()
    boom = ConnectionResetError("peer reset")
    with pytest.raises(SourceUnavailableError) as info:
        await r.call(Callee(boom), idempotent=False)
    assert info.value.error_type == "Graph:Unavailable"
    assert info.value.__cause__ is boom
    assert "ConnectionResetError" in info.value.message


# --- bulkhead --------------------------------------------------------------------------------


async def test_bulkhead_caps_concurrency() -> None:
    r = resilience(max_concurrency=3)
    callee = Callee("ok")
    callee.gate = asyncio.Event()
    tasks = [asyncio.create_task(r.call(callee, idempotent=False)) for _ in range(10)]
    await asyncio.sleep(0.01)
    assert callee.running == 3
    assert r.metrics.in_flight == 3
    callee.gate.set()
    assert await asyncio.gather(*tasks) == ["ok"] * 10
    assert callee.max_running == 3
    assert callee.calls == 10


async def test_waiting_too_long_for_a_slot_times_out_without_blaming_the_source() -> None:
    r = resilience(max_concurrency=1, failure_threshold=1, timeout_seconds=0.05)
    busy = Callee("ok")
    busy.gate = asyncio.Event()
    holder = asyncio.create_task(r.call(busy, idempotent=False, timeout_seconds=5.0))
    await asyncio.sleep(0)
    waiting = Callee("never")
    with pytest.raises(SourceTimeoutError, match="no free slot"):
        await r.call(waiting, idempotent=False)
    assert waiting.calls == 0
    assert state_of(r) is BreakerState.CLOSED
    busy.gate.set()
    await holder


# --- retry -----------------------------------------------------------------------------------


async def test_retries_only_idempotent_calls() -> None:
    # given a source that fails once, then answers
    r = resilience(retries=2)
    idempotent = Callee(unavailable(), "ok")
    once = Callee(unavailable(), "ok")
    # when / then
    assert await r.call(idempotent, idempotent=True) == "ok"
    assert idempotent.calls == 2
    with pytest.raises(SourceUnavailableError):
        await r.call(once, idempotent=False)
    assert once.calls == 1
    assert r.metrics.retries == 1


async def test_retries_stop_at_the_limit_and_never_follow_an_open_breaker() -> None:
    r = resilience(retries=5, failure_threshold=3)
    callee = Callee(unavailable())
    with pytest.raises(CircuitOpenError):
        await r.call(callee, idempotent=True)
    assert callee.calls == 3  # the third failure opened the breaker; the retry was refused

    r = resilience(retries=2, failure_threshold=10)
    callee = Callee(unavailable())
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=True)
    assert callee.calls == 3


async def test_timeouts_are_retried_only_when_the_policy_says_so() -> None:
    r = resilience(retries=1, timeout_seconds=0.02, retry_timeouts=True)
    callee = Callee(1.0, "ok")
    assert await r.call(callee, idempotent=True) == "ok"
    assert callee.calls == 2


async def test_backoff_is_full_jitter_within_the_capped_exponential() -> None:
    # given a policy of 0.1 s base doubling to a 1 s cap
    policy = Policy(
        retries=6, backoff_base_seconds=0.1, backoff_max_seconds=1.0, failure_threshold=100
    )
    caps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(7)
    r = Resilience(SOURCE, policy, FakeClock(), rng=rng.random)
    # then every draw lies in [0, cap), and draws do spread over the range
    for retry, cap in enumerate(caps, start=1):
        draws = [r.backoff(retry) for _ in range(200)]
        assert all(0.0 <= d < cap for d in draws)
        assert max(draws) > 0.8 * cap
        assert min(draws) < 0.2 * cap
    # and a call's sleeps follow the same schedule
    sleeps = Sleeps()
    r = Resilience(SOURCE, policy, FakeClock(), sleep=sleeps, rng=lambda: 0.999)
    with pytest.raises(SourceUnavailableError):
        await r.call(Callee(unavailable()), idempotent=True)
    assert sleeps.delays == pytest.approx([0.999 * c for c in caps])


def sleeps_of(r: Resilience) -> list[float]:
    sleeps = r._sleep
    assert isinstance(sleeps, Sleeps)
    return sleeps.delays


async def test_retry_after_is_waited_out_when_longer_than_the_backoff() -> None:
    # given a source that asks for 1.5 s, then answers; the jittered backoff would be 12.5 ms
    r = resilience(retries=2, backoff_base_seconds=0.025, max_retry_after_seconds=2.0)
    throttled = SourceUnavailableError(SOURCE, "429", reason="TooManyRequests", retry_after=1.5)
    callee = Callee(throttled, "ok")
    # when
    assert await r.call(callee, idempotent=True) == "ok"
    # then the wait was the source's, not ours
    assert sleeps_of(r) == [1.5]
    assert r.metrics.retries == 1


async def test_backoff_wins_when_retry_after_is_shorter() -> None:
    r = resilience(retries=1, backoff_base_seconds=1.0, backoff_max_seconds=1.0)
    soon = SourceUnavailableError(SOURCE, "503", retry_after=0.1)
    assert await r.call(Callee(soon, "ok"), idempotent=True) == "ok"
    assert sleeps_of(r) == [0.5]  # rng 0.5 * 1 s


async def test_retry_after_beyond_the_cap_is_not_waited_and_spends_no_budget() -> None:
    # given a source that asks for a minute
    r = resilience(retries=3, max_retry_after_seconds=2.0, retry_budget_burst=5)
    later = SourceUnavailableError(SOURCE, "429", reason="TooManyRequests", retry_after=60.0)
    callee = Callee(later, "ok")
    # when / then the error is raised at once, as the source sent it
    with pytest.raises(SourceUnavailableError) as info:
        await r.call(callee, idempotent=True)
    assert info.value is later
    assert callee.calls == 1
    assert sleeps_of(r) == []
    assert r.metrics.retries == 0
    assert r.budget.tokens == pytest.approx(5.0)


async def test_retry_after_does_not_make_a_non_idempotent_call_retryable() -> None:
    r = resilience(retries=3)
    callee = Callee(SourceUnavailableError(SOURCE, "429", retry_after=0.1), "ok")
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=False)
    assert callee.calls == 1


async def test_retry_budget_limits_retries_across_calls() -> None:
    r = resilience(retries=3, retry_budget_burst=2, retry_budget_ratio=0.0, failure_threshold=100)
    callee = Callee(unavailable())
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=True)
    assert callee.calls == 3  # two retries: the whole budget
    with pytest.raises(SourceUnavailableError):
        await r.call(callee, idempotent=True)
    assert callee.calls == 4  # no retry left
    assert r.metrics.retries == 2
    assert r.metrics.retries_denied == 2


async def test_retry_budget_refills_with_calls() -> None:
    r = resilience(retries=1, retry_budget_burst=1, retry_budget_ratio=0.5)
    assert r.budget.withdraw()
    assert not r.budget.withdraw()
    for _ in range(2):
        await r.call(Callee("ok"), idempotent=True)
    assert r.budget.tokens == pytest.approx(1.0)


# --- metrics ---------------------------------------------------------------------------------


async def test_metrics_count_calls_outcomes_and_latency() -> None:
    clock = FakeClock()
    r = resilience(clock, retries=1)
    await r.call(Callee("ok", clock=clock, takes=0.25), idempotent=True)
    await r.call(Callee(unavailable(), "ok", clock=clock, takes=0.5), idempotent=True)
    with pytest.raises(SourceError):
        await r.call(Callee(unavailable(), clock=clock, takes=0.125), idempotent=False)
    snap = r.metrics.snapshot()
    assert snap == {
        "source": "Graph",
        "calls": 3,
        "attempts": 4,
        "successes": 2,
        "failures": {"Unavailable": 2},
        "rejected": 0,
        "retries": 1,
        "retries_denied": 0,
        "in_flight": 0,
        "latency_seconds_sum": pytest.approx(0.25 + 0.5 + 0.5 + 0.125),
        "latency_count": 4,
        "latency_buckets": r.metrics.latency_buckets(),
        "breaker_state": "closed",
        "breaker_opened": 0,
        "breaker_half_opened": 0,
        "breaker_closed": 0,
    }


async def test_latency_histogram_counts_attempts_per_bucket() -> None:
    # given attempts of 0.5 ms, exactly 10 ms, 40 ms, 3 s and 30 s
    clock = FakeClock()
    r = resilience(clock, timeout_seconds=100.0)
    for takes in (0.0005, 0.01, 0.04, 3.0, 30.0):
        await r.call(Callee("ok", clock=clock, takes=takes), idempotent=False)
    # then the buckets are cumulative, a bound holds its own value, and +Inf holds all
    buckets = dict(r.metrics.latency_buckets())
    assert list(buckets) == [*LATENCY_BUCKETS, float("inf")]
    assert buckets[0.001] == 1
    assert buckets[0.005] == 1
    assert buckets[0.01] == 2
    assert buckets[0.05] == 3
    assert buckets[2.5] == 3
    assert buckets[5.0] == 4
    assert buckets[10.0] == 4
    assert buckets[float("inf")] == 5 == r.metrics.latency_count
    assert r.metrics.latency_seconds_sum == pytest.approx(33.0505)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Policy(timeout_seconds=0)
    with pytest.raises(ValueError, match="failure_threshold"):
        Policy(failure_threshold=0)
    with pytest.raises(ValueError, match="max_retry_after"):
        Policy(max_retry_after_seconds=-1)


# --- DynamoDB through the layer ----------------------------------------------------------------


class FakeDynamo:
    """Stands in for the aiobotocore client: every operation raises `error` (a ClientError)."""

    def __init__(self, code: str, status: int = 400) -> None:
        response: Any = {
            "Error": {"Code": code, "Message": code},
            "ResponseMetadata": {"HTTPStatusCode": status},
            "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
        }
        self.error = ClientError(response, "Operation")

    async def put_item(self, **_: object) -> dict[str, object]:
        raise self.error

    async def transact_write_items(self, **_: object) -> dict[str, object]:
        raise self.error


def dynamo_over(fake: FakeDynamo, clock: FakeClock) -> DynamoClient:
    guard = Resilience("DynamoDB", Policy(failure_threshold=2), clock)
    return DynamoClient(fake, table_prefix="t-", resilience=guard)  # type: ignore[arg-type]


async def test_dynamo_lost_conditions_are_answers_not_failures() -> None:
    # given more lost conditions and cancelled transactions than the failure threshold
    clock = FakeClock()
    put = dynamo_over(FakeDynamo("ConditionalCheckFailedException"), clock)
    transact = dynamo_over(FakeDynamo("TransactionCanceledException"), clock)
    for _ in range(3):
        with pytest.raises(ConditionFailedError):
            await put.put("cart", {"pk": "c", "sk": "c"}, condition="attribute_not_exists(pk)")
        with pytest.raises(TransactionCanceledError) as info:
            await transact.transact_write([{"Put": {}}])
        assert info.value.reasons == [None, "ConditionalCheckFailed"]
    # then both breakers stay closed, and every call reached DynamoDB
    assert put.resilience.breaker.state is BreakerState.CLOSED
    assert transact.resilience.breaker.state is BreakerState.CLOSED
    assert put.calls["put_item"] == 3
    assert transact.calls["transact_write_items"] == 3
    assert transact.resilience.metrics.failures == {"TransactionCanceledException": 3}


async def test_dynamo_server_faults_open_the_breaker_and_stop_calls() -> None:
    clock = FakeClock()
    dynamo = dynamo_over(FakeDynamo("InternalServerError", status=500), clock)
    for _ in range(2):
        with pytest.raises(SourceUnavailableError):
            await dynamo.put("cart", {"pk": "c", "sk": "c"})
    with pytest.raises(CircuitOpenError) as info:
        await dynamo.put("cart", {"pk": "c", "sk": "c"})
    assert info.value.error_type == "DynamoDB:CircuitOpen"
    assert dynamo.calls["put_item"] == 2  # the refused call never reached DynamoDB


def test_dynamo_deadline_sits_above_botocores_own_retries() -> None:
    # given the config `open_dynamo` builds: 3 s timeouts, 3 retries (4 attempts), 64 sockets
    config = Config(
        connect_timeout=3.0,
        read_timeout=3.0,
        max_pool_connections=64,
        retries={"mode": "standard", "total_max_attempts": 4},
    )
    # then: 4 attempts of (3 + 3) s, plus throttle backoffs of at most 1 + 2 + 4 s
    assert botocore_deadline(config) == 31.0
    policy = policy_for(config)
    assert policy.timeout_seconds > 31.0
    assert (policy.retries, policy.max_concurrency) == (0, 64)
    # botocore's own spellings: `max_attempts` counts retries; no retries config is legacy
    assert botocore_attempts(Config(retries={"max_attempts": 2})) == 3
    assert botocore_attempts(Config(retries={"mode": "standard"})) == 3
    assert botocore_attempts(Config()) == 10
