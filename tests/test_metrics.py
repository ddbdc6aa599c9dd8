"""/metrics: sources driven through success, failure and an open breaker, scraped and parsed.

The output is read back with prometheus_client's own parser, so what is asserted is what a
Prometheus server would ingest, not the text we meant to write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.applications import Starlette
from starlette.routing import Route

from appsync.metrics import SourceCollector, metrics_endpoint
from datasources.errors import (
    CircuitOpenError,
    SourceRejectedError,
    SourceUnavailableError,
)
from datasources.resilience import Policy, Resilience, SourceMetrics

P = "commerce_graph_source_"
# A failure reason is the source's own code: quotes, backslashes and newlines must be escaped.
ODD_REASON = 'Bad"Key\\\n'


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def no_sleep(_: float) -> None:
    return None


def guard(source: str, clock: FakeClock, *, retries: int = 0) -> Resilience:
    return Resilience(
        source,
        Policy(timeout_seconds=5.0, failure_threshold=2, reset_seconds=30.0, retries=retries),
        clock,
        sleep=no_sleep,
        rng=lambda: 0.5,
    )


async def drive() -> list[Resilience]:
    """DynamoDB: two answers (20 ms, 300 ms) and a refusal. Neptune: a retried failure, a
    second failure that opens its breaker, then a call short-circuited by it."""
    clock = FakeClock()

    def answering(takes: float) -> Callable[[], Awaitable[str]]:
        async def fn() -> str:
            clock.now += takes
            return "ok"

        return fn

    async def failing() -> str:
        clock.now += 0.002
        raise SourceUnavailableError("Neptune", "down")

    async def refusing() -> str:
        raise SourceRejectedError("DynamoDB", "refused", reason=ODD_REASON)

    dynamo = guard("DynamoDB", clock)
    await dynamo.call(answering(0.02), idempotent=True)
    await dynamo.call(answering(0.3), idempotent=True)
    with pytest.raises(SourceRejectedError):
        await dynamo.call(refusing, idempotent=False)

    neptune = guard("Neptune", clock, retries=1)
    with pytest.raises(SourceUnavailableError):
        await neptune.call(failing, idempotent=True)  # fails, retried, fails: breaker opens
    with pytest.raises(CircuitOpenError):
        await neptune.call(failing, idempotent=True)
    return [dynamo, neptune]


def scrape(metrics: Iterable[SourceMetrics]) -> dict[str, list[Sample]]:
    registry = CollectorRegistry()
    snapshot = list(metrics)
    registry.register(SourceCollector(lambda: snapshot))
    text = generate_latest(registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: dict[str, list[Sample]], family: str, sample: str, **labels: str) -> float:
    matching = [s.value for s in families[family] if s.name == sample and s.labels == labels]
    assert len(matching) == 1, (sample, labels, families[family])
    return matching[0]


async def test_counters_per_source() -> None:
    # given
    families = scrape(g.metrics for g in await drive())
    # then
    for name, dynamo, neptune in [
        ("calls", 3, 2),
        ("attempts", 3, 2),
        ("successes", 2, 0),
        ("rejected", 0, 1),
        ("retries", 0, 1),
        ("retries_denied", 0, 0),
    ]:
        total = f"{P}{name}_total"
        assert value(families, P + name, total, source="DynamoDB") == dynamo, name
        assert value(families, P + name, total, source="Neptune") == neptune, name
    failures = f"{P}failures_total"
    assert value(families, P + "failures", failures, source="Neptune", reason="Unavailable") == 2
    assert value(families, P + "failures", failures, source="Neptune", reason="CircuitOpen") == 1
    # a label value with a quote, a backslash and a newline survives the round trip
    assert value(families, P + "failures", failures, source="DynamoDB", reason=ODD_REASON) == 1
    assert value(families, P + "in_flight", P + "in_flight", source="DynamoDB") == 0


async def test_latency_is_a_prometheus_histogram() -> None:
    families = scrape(g.metrics for g in await drive())
    name = P + "latency_seconds"
    bucket = name + "_bucket"
    # DynamoDB: 20 ms, 300 ms and an instant refusal
    assert value(families, name, bucket, source="DynamoDB", le="0.001") == 1
    assert value(families, name, bucket, source="DynamoDB", le="0.025") == 2
    assert value(families, name, bucket, source="DynamoDB", le="0.25") == 2
    assert value(families, name, bucket, source="DynamoDB", le="0.5") == 3
    assert value(families, name, bucket, source="DynamoDB", le="+Inf") == 3
    assert value(families, name, name + "_count", source="DynamoDB") == 3
    assert value(families, name, name + "_sum", source="DynamoDB") == pytest.approx(0.32)
    les = [
        s.labels["le"]
        for s in families[name]
        if s.name == bucket and s.labels["source"] == "Neptune"
    ]
    assert les[0] == "0.001"
    assert les[-1] == "+Inf"
    assert len(les) == 14


async def test_breaker_state_and_transitions() -> None:
    families = scrape(g.metrics for g in await drive())
    state = P + "breaker_state"
    assert value(families, state, state, source="DynamoDB") == 0
    assert value(families, state, state, source="Neptune") == 2
    status = P + "breaker_status"
    assert value(families, status, status, source="Neptune", state="open") == 1
    assert value(families, status, status, source="Neptune", state="closed") == 0
    assert value(families, status, status, source="Neptune", state="half_open") == 0
    moves = P + "breaker_transitions"
    total = moves + "_total"
    assert value(families, moves, total, source="Neptune", to="open") == 1
    assert value(families, moves, total, source="Neptune", to="closed") == 0
    assert value(families, moves, total, source="DynamoDB", to="open") == 0


async def test_no_sources_is_still_a_valid_scrape() -> None:
    families = scrape([])
    assert families[P + "calls"] == []


def app_for(guards: list[Resilience]) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/metrics", metrics_endpoint(lambda: [g.metrics for g in guards]))]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_endpoint_serves_the_text_format_and_reads_live_values() -> None:
    # given an app whose metrics callable is read at every scrape
    guards = await drive()
    async with app_for(guards) as client:
        # when
        first = await client.get("/metrics")
        await guards[0].call(no_sleep_value, idempotent=True)
        second = await client.get("/metrics")
    # then
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    calls = P + "calls"
    for response, expected in [(first, 3), (second, 4)]:
        families = {f.name: f.samples for f in text_string_to_metric_families(response.text)}
        assert value(families, calls, calls + "_total", source="DynamoDB") == expected


async def test_endpoint_speaks_openmetrics_when_asked() -> None:
    async with app_for(await drive()) as client:
        response = await client.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_two_apps_in_one_process_do_not_collide() -> None:
    # given two apps, each with its own registry and sources of the same names
    first, second = await drive(), await drive()
    async with app_for(first) as a, app_for(second) as b:
        assert (await a.get("/metrics")).status_code == 200
        assert (await b.get("/metrics")).status_code == 200


async def no_sleep_value() -> str:
    return "ok"
