"""Product-page latency with and without recommendations (issue 4), in one run.

    python -m bench.recommendations [--requests 200] [--warmup-seconds 20] [--products 2000]

Starts DynamoDB Local and Gremlin Server (the jars of `make engines-ddb engines-gremlin`),
seeds both with the demo set, and drives the app in process through `httpx.ASGITransport`
(no sockets, no uvicorn: the GraphQL execution, DynamoDB and the graph are what is timed).
Two documents, identical but for `recommendations(kind: ALSO_BOUGHT, limit: 5)` with each
recommended product's name, image and WEB price range. Requests are sequential; after a
time-based warm-up (DynamoDB Local's JIT needs ~20 s), the two documents alternate, ABBA by
pair, over the same rotation of products (the most co-purchased ones, so lists are not empty).
Prints p50/p90/p99 per document, the ratio, and Gremlin round trips per page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from typing import Any

import httpx

from appsync.settings import EdgeSettings
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.graph import load_demo_graph
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from datasources.neptune.local import GremlinServer
from datasources.neptune.settings import NeptuneSettings
from datasources.order import OrderStatus
from datasources.settings import Settings
from server import create_app
from tests.engines.dynamodb_local import start_dynamodb_local

PAGE = """
query Page($id: ID!) {
  product(id: $id) {
    id name description
    brand { name } category { name }
    images { url alt }
    priceRange(channel: WEB) { min { amount currencyCode } max { amount } }
    variants {
      sku name
      price(channel: WEB) { price { amount currencyCode } compareAtPrice { amount } }
      availability(channel: WEB) { quantityAvailable }
    }
    %s
  }
}
"""
RECOMMENDATIONS = """recommendations(kind: ALSO_BOUGHT, limit: 5) {
      id name images { url } priceRange(channel: WEB) { min { amount currencyCode } }
    }"""
WITHOUT = PAGE % ""
WITH = PAGE % RECOMMENDATIONS
ROTATION = 100


def most_co_purchased(data: DemoData, count: int) -> list[str]:
    """Products ranked by how many other products their buyers bought (cancelled orders
    record no purchase), so the page shows a full list of recommendations."""
    bought: dict[str, set[str]] = {}
    for order in data.orders:
        if order.status is not OrderStatus.CANCELED and order.customer_id:
            bought.setdefault(order.customer_id, set()).update(ln.product_id for ln in order.lines)
    others: Counter[str] = Counter()
    for products in bought.values():
        for product_id in products:
            others[product_id] += len(products) - 1
    return [pid for pid, _ in others.most_common(count)]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def page(client: httpx.AsyncClient, query: str, product_id: str) -> float:
    began = time.perf_counter()
    response = await client.post("/graphql", json={"query": query, "variables": {"id": product_id}})
    elapsed = time.perf_counter() - began
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"{response.status_code}: {body}")
    return elapsed


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    data = generate_demo(products=args.products)
    rotation = most_co_purchased(data, ROTATION)
    gremlin = GremlinServer()
    with start_dynamodb_local() as endpoint:
        try:
            url = await asyncio.to_thread(gremlin.start)
            settings = Settings(
                dynamodb_endpoint=endpoint, table_prefix="bench-recs-", graphiql=False
            )
            app = create_app(
                settings,
                # one caller sends every request: lift the per-caller rate limit
                edge_settings=EdgeSettings(rate_limit_per_second=1e9, rate_limit_burst=10**9),
                neptune_settings=NeptuneSettings(endpoint=url),
            )
            async with app.router.lifespan_context(app):
                sources = app.state.sources
                await create_tables(sources.dynamo)
                print("seeding DynamoDB Local and the graph ...", file=sys.stderr)
                await load_demo(sources.dynamo, data, progress=False)
                await load_demo_graph(sources.neptune, data, progress=False)
                key = (await create_api_key(sources.dynamo, description="bench")).key
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", headers={"x-api-key": key}
                ) as client:
                    return await _run(client, sources, rotation, args)
        finally:
            gremlin.close()


async def _run(
    client: httpx.AsyncClient, sources: Any, rotation: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    print(f"warming up for {args.warmup_seconds:.0f} s ...", file=sys.stderr)
    deadline = time.monotonic() + args.warmup_seconds
    n = 0
    while time.monotonic() < deadline:
        await page(client, WITH if n % 2 else WITHOUT, rotation[n % len(rotation)])
        n += 1
    empty = 0
    for product_id in rotation:
        body = (
            await client.post("/graphql", json={"query": WITH, "variables": {"id": product_id}})
        ).json()
        empty += not body["data"]["product"]["recommendations"]
    samples: dict[str, list[float]] = {"without": [], "with": []}
    dynamo_calls: Counter[str] = Counter()
    metrics = sources.neptune.resilience.metrics
    trips_before = sources.neptune.round_trips
    graph_seconds = metrics.latency_seconds_sum
    for i in range(args.requests):
        product_id = rotation[i % len(rotation)]
        order = ("without", "with") if i % 2 == 0 else ("with", "without")  # ABBA
        for name in order:
            calls = sum(sources.dynamo.calls.values())
            query = WITH if name == "with" else WITHOUT
            samples[name].append(await page(client, query, product_id))
            dynamo_calls[name] += sum(sources.dynamo.calls.values()) - calls
    trips = sources.neptune.round_trips - trips_before
    graph_ms = (metrics.latency_seconds_sum - graph_seconds) * 1000 / max(trips, 1)
    result: dict[str, Any] = {
        "requests_each": args.requests,
        "warmup_requests": n,
        "products": args.products,
        "rotation": len(rotation),
        "empty_recommendation_lists": empty,
        "gremlin_round_trips_per_page": trips / args.requests,
        "gremlin_ms_per_round_trip": round(graph_ms, 2),
        "dynamodb_calls_per_page": {k: v / args.requests for k, v in dynamo_calls.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        result[name] = {
            "p50_ms": round(percentile(ms, 50), 2),
            "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2),
            "mean_ms": round(statistics.fmean(ms), 2),
        }
    result["ratio_p50"] = round(result["with"]["p50_ms"] / result["without"]["p50_ms"], 2)
    result["ratio_p99"] = round(result["with"]["p99_ms"] / result["without"]["p99_ms"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recommendations")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per document")
    parser.add_argument("--warmup-seconds", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    result = asyncio.run(measure(args))
    w, wo = result["with"], result["without"]
    print(f"{'product page':<28}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    print(f"{'without recommendations':<28}{wo['p50_ms']:>9}{wo['p90_ms']:>9}{wo['p99_ms']:>9}")
    print(f"{'with recommendations':<28}{w['p50_ms']:>9}{w['p90_ms']:>9}{w['p99_ms']:>9}")
    print(f"ratio with/without: p50 {result['ratio_p50']}, p99 {result['ratio_p99']}")
    print(
        f"per page with recommendations: {result['gremlin_round_trips_per_page']:g} Gremlin "
        f"round trip ({result['gremlin_ms_per_round_trip']} ms), DynamoDB calls "
        f"{result['dynamodb_calls_per_page']['without']:g} -> "
        f"{result['dynamodb_calls_per_page']['with']:g}"
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
