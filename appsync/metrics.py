"""/metrics: every data source's `SourceMetrics` in the Prometheus exposition format.

    commerce_graph_source_calls_total{source}                 calls asked of the layer
    commerce_graph_source_attempts_total{source}              requests sent (retries included)
    commerce_graph_source_successes_total{source}
    commerce_graph_source_failures_total{source,reason}       Timeout, Unavailable, CircuitOpen,
                                                              or the source's own code
    commerce_graph_source_rejected_total{source}              short-circuited by the open breaker
    commerce_graph_source_retries_total{source}
    commerce_graph_source_retries_denied_total{source}        the retry budget said no
    commerce_graph_source_in_flight{source}                   gauge
    commerce_graph_source_latency_seconds{source}             histogram, per attempt
    commerce_graph_source_breaker_state{source}               gauge: 0 closed, 1 half-open, 2 open
    commerce_graph_source_breaker_status{source,state}        1 for the current state, else 0
    commerce_graph_source_breaker_transitions_total{source,to}

The resilience layer keeps plain counters (datasources know nothing of the web); this module
turns them into metric families with prometheus_client at scrape time, a custom collector in
the library's own pattern. The library rather than hand-written text: it escapes label values
(a failure reason is the source's own error code), renders histograms with cumulative `le`
buckets, `_sum` and `_count`, and negotiates the format with the scraper (text 0.0.4, or
OpenMetrics when Prometheus asks for it). Each endpoint has its own `CollectorRegistry`, never
the global default one, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response

from datasources.resilience import BreakerState, SourceMetrics

PREFIX = "commerce_graph_source_"
BREAKER_STATE_VALUES: dict[BreakerState, int] = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.OPEN: 2,
}

MetricsOf = Callable[[], Iterable[SourceMetrics]]


class SourceCollector:
    """A prometheus_client collector reading every source's metrics at each scrape."""

    def __init__(self, metrics: MetricsOf) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        sources = list(self._metrics())
        counters: list[tuple[str, str, Callable[[SourceMetrics], int]]] = [
            ("calls", "Calls made through the resilience layer.", lambda m: m.calls),
            ("attempts", "Requests sent to the source, retries included.", lambda m: m.attempts),
            ("successes", "Attempts the source answered.", lambda m: m.successes),
            (
                "rejected",
                "Attempts refused by the open circuit breaker; the source was not called.",
                lambda m: m.rejected,
            ),
            ("retries", "Retries made.", lambda m: m.retries),
            ("retries_denied", "Retries the retry budget refused.", lambda m: m.retries_denied),
        ]
        for name, doc, value in counters:
            family = CounterMetricFamily(PREFIX + name, doc, labels=["source"])
            for m in sources:
                family.add_metric([m.source], value(m))
            yield family

        failures = CounterMetricFamily(
            PREFIX + "failures",
            "Failed attempts by reason (Timeout, Unavailable, CircuitOpen or the source's code).",
            labels=["source", "reason"],
        )
        for m in sources:
            for reason, count in sorted(m.failures.items()):
                failures.add_metric([m.source, reason], count)
        yield failures

        in_flight = GaugeMetricFamily(
            PREFIX + "in_flight", "Attempts holding a bulkhead slot now.", labels=["source"]
        )
        for m in sources:
            in_flight.add_metric([m.source], m.in_flight)
        yield in_flight

        latency = HistogramMetricFamily(
            PREFIX + "latency_seconds", "Latency of each attempt.", labels=["source"]
        )
        for m in sources:
            # floatToGoString: the `le` spelling of the library's own histograms ("+Inf").
            buckets = [(_le(le), float(n)) for le, n in m.latency_buckets()]
            latency.add_metric([m.source], buckets, m.latency_seconds_sum)
        yield latency

        yield from _breaker(sources)


def _le(bound: float) -> str:
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def _breaker(sources: list[SourceMetrics]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        PREFIX + "breaker_state",
        "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
        labels=["source"],
    )
    status = GaugeMetricFamily(
        PREFIX + "breaker_status",
        "1 for the circuit breaker's current state, 0 for the others.",
        labels=["source", "state"],
    )
    transitions = CounterMetricFamily(
        PREFIX + "breaker_transitions",
        "Circuit breaker transitions, by the state moved to.",
        labels=["source", "to"],
    )
    for m in sources:
        state.add_metric([m.source], BREAKER_STATE_VALUES[m.breaker_state])
        for each in BreakerState:
            status.add_metric([m.source, each.value], 1 if each is m.breaker_state else 0)
        moves = {
            BreakerState.OPEN: m.breaker_opened,
            BreakerState.HALF_OPEN: m.breaker_half_opened,
            BreakerState.CLOSED: m.breaker_closed,
        }
        for to, count in moves.items():
            transitions.add_metric([m.source, to.value], count)
    yield state
    yield status
    yield transitions


def metrics_endpoint(metrics: MetricsOf) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint rendering `metrics()` (called at every scrape) for Prometheus."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SourceCollector(metrics))

    async def endpoint(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    return endpoint
