"""The product page when the graph is missing, down or slow: recommendations null, all else intact;
and placeOrder when the graph cannot record the purchase: the order stands.

Each test runs its own app against DynamoDB Local (the demo tables of the `graph` fixture's
prefix, seeded here if need be) and its own graph: no endpoint, a Gremlin Server it stops, or
the shared Gremlin Server behind a proxy that it slows down. The shared apps never notice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from auth_helpers import CognitoPool
from conftest import Graph, auth_settings_for, neptune_settings_for, settings_for
from datasources.demo.generate import DemoData
from datasources.demo.load import is_seeded, load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from datasources.neptune.client import open_neptune
from datasources.neptune.projection import BatchWriter, order_upserts
from datasources.neptune.settings import NeptuneSettings
from datasources.resilience import BreakerState
from engines.gremlin_server import GremlinServer
from engines.tcp_proxy import TcpProxy
from server import create_app
from test_cart import ADD, CREATE, in_stock_variants
from test_place_order import PLACE

pytestmark = pytest.mark.engine

# prd_00189: also bought with prd_00008, 67, 94, 133 (cus_0007) and 174 (cus_0003)
PRODUCT_ID = "prd_00189"
PAGE = """
query Page($id: ID!) {
  product(id: $id) {
    id name brand { name } category { name }
    variants { sku price(channel: WEB) { price { amount } } availability(channel: WEB) {
      quantityAvailable } }
    recommendations(kind: ALSO_BOUGHT, limit: 5) { id name }
  }
}
"""


@asynccontextmanager
async def app_with_graph(
    neptune: NeptuneSettings,
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
) -> AsyncIterator[Graph]:
    settings = settings_for(engine_endpoints["dynamodb-local"], prefix="cg-test-")
    app = create_app(settings, auth_settings=auth_settings_for(cognito), neptune_settings=neptune)
    async with app.router.lifespan_context(app):
        dynamo = app.state.sources.dynamo
        await create_tables(dynamo)
        if not await is_seeded(dynamo):
            await load_demo(dynamo, demo, progress=False)
        key = (await create_api_key(dynamo, description="graph faults")).key
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://faults", headers={"x-api-key": key}
        ) as client:
            yield Graph("dynamodb-local", app, client, settings, cognito)


async def page_of(app: Graph) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The product page's data and errors."""
    body = await app.post(PAGE, {"id": PRODUCT_ID})
    return body["data"]["product"], body.get("errors", [])


def assert_intact(product: dict[str, Any], demo: DemoData) -> None:
    """Everything but the recommendations is there, as DynamoDB has it."""
    record = next(p for p in demo.products if p.id == PRODUCT_ID)
    assert product["id"] == PRODUCT_ID
    assert product["name"] == record.name
    assert product["brand"]["name"]
    assert product["category"]["name"]
    assert [v["sku"] for v in product["variants"]] == [v.sku for v in record.variants]
    assert all(v["price"]["price"]["amount"] for v in product["variants"])
    assert all(v["availability"]["quantityAvailable"] >= 0 for v in product["variants"])


def recommendation_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    (error,) = errors
    assert error["path"] == ["product", "recommendations"]
    assert error["errorInfo"]["source"] == "Neptune"
    return error


async def test_no_graph_configured_answers_unavailable(
    engine_endpoints: dict[str, str], demo: DemoData, cognito: CognitoPool
) -> None:
    # given an app without CG_NEPTUNE_ENDPOINT (the embedded default without Java)
    neptune = NeptuneSettings(endpoint=None)
    async with app_with_graph(neptune, engine_endpoints, demo, cognito) as app:
        for _ in range(6):  # never CircuitOpen: nothing is called, nothing fails
            # when
            product, errors = await page_of(app)
            # then
            assert product["recommendations"] is None
            assert recommendation_error(errors)["errorType"] == "Neptune:Unavailable"
            assert_intact(product, demo)
        # and the service is still ready: the graph is optional
        ready = await app.client.get("/readyz")
        assert (ready.status_code, ready.json()["sources"]) == (200, {"DynamoDB": True})
        assert app.sources.neptune.round_trips == 0


@pytest.fixture
def doomed() -> Iterator[GremlinServer]:
    """A Gremlin Server of this test's own, to stop."""
    server = GremlinServer()
    server.start()
    yield server
    server.close()


async def test_graph_stopped_then_breaker_opens(
    doomed: GremlinServer,
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
) -> None:
    # given an app on a graph of its own, holding the demo purchases; a fresh JVM plans its
    # first traversals slowly, so the timeout is generous: this test is about a dead server
    neptune = neptune_settings_for(doomed.url, timeout_seconds=3.0, failure_threshold=3, retries=0)
    async with open_neptune(neptune) as client, BatchWriter(client) as writer:
        for order in demo.orders:
            await writer.add(order_upserts(order))
    async with app_with_graph(neptune, engine_endpoints, demo, cognito) as app:
        product, errors = await page_of(app)
        assert errors == []
        assert [r["id"] for r in product["recommendations"]] == [
            "prd_00008",
            "prd_00067",
            "prd_00094",
            "prd_00133",
            "prd_00174",
        ]
        # when the graph dies
        await asyncio.to_thread(doomed.stop, kill=True)
        # then three pages come back whole but for their recommendations: Unavailable ...
        for _ in range(3):
            product, errors = await page_of(app)
            assert product["recommendations"] is None
            assert recommendation_error(errors)["errorType"] == "Neptune:Unavailable"
            assert_intact(product, demo)
        # ... and then the breaker stops calling it: CircuitOpen, without a round trip
        breaker = app.sources.neptune.resilience.breaker
        assert breaker.state is BreakerState.OPEN
        trips = app.sources.neptune.round_trips
        product, errors = await page_of(app)
        assert product["recommendations"] is None
        error = recommendation_error(errors)
        assert error["errorType"] == "Neptune:CircuitOpen"
        assert error["errorInfo"]["retryable"] is True
        assert_intact(product, demo)
        assert app.sources.neptune.round_trips == trips
        # and readiness reports the graph, without going unready over it
        ready = await app.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["sources"] == {"DynamoDB": True, "Neptune": False}


@pytest.fixture
def proxy(demo_gremlin: GremlinServer) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", demo_gremlin.port) as p:
        yield p


async def test_slow_graph_times_out_at_300_ms_and_the_page_does_not_wait(
    proxy: TcpProxy,
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
) -> None:
    # given an app with the default 300 ms timeout, on the shared graph behind a proxy
    neptune = NeptuneSettings(endpoint=f"ws://127.0.0.1:{proxy.port}/gremlin")
    assert neptune.timeout_seconds == 0.3
    async with app_with_graph(neptune, engine_endpoints, demo, cognito) as app:
        product, errors = await page_of(app)
        assert errors == []
        expected = product["recommendations"]
        assert expected
        # when every packet comes 0.6 s late
        proxy.delay(0.6)
        began = time.monotonic()
        product, errors = await page_of(app)
        waited = time.monotonic() - began
        # then Neptune:Timeout, the rest of the page intact, and no waiting for the answer
        assert product["recommendations"] is None
        error = recommendation_error(errors)
        assert error["errorType"] == "Neptune:Timeout"
        assert "300 ms" in error["message"]
        assert_intact(product, demo)
        assert waited < 0.6
        # and once the graph is fast again, so is the page
        proxy.heal()
        product, errors = await page_of(app)
        assert (errors, product["recommendations"]) == ([], expected)


async def test_an_order_is_placed_even_when_the_graph_cannot_record_it(
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given an app whose graph is unavailable, and a cart
    (variant,) = in_stock_variants(demo, 1, minimum=10)
    neptune = NeptuneSettings(endpoint=None)
    async with app_with_graph(neptune, engine_endpoints, demo, cognito) as app:
        created = await app.data(CREATE, {"input": {"channel": "WEB"}})
        cart_id = created["createCart"]["cart"]["id"]
        lines = [{"variantId": variant, "quantity": 1}]
        assert (await app.data(ADD, {"cartId": cart_id, "lines": lines}))["addCartLines"][
            "userErrors"
        ] == []
        # when
        with caplog.at_level(logging.WARNING, logger="resolvers.order"):
            placed = await app.post(
                PLACE,
                {
                    "input": {
                        "cartId": cart_id,
                        "idempotencyKey": str(uuid.uuid4()),
                        "paymentMethodId": "pm_card_visa",
                    }
                },
            )
    # then the order stands, and the missed graph write is logged for the rebuild to repair
    assert "errors" not in placed, placed
    order = placed["data"]["placeOrder"]["order"]
    assert placed["data"]["placeOrder"]["userErrors"] == []
    assert order["status"] == "UNFULFILLED"
    (warning,) = [r for r in caplog.records if r.name == "resolvers.order"]
    assert order["id"] in warning.getMessage()
    assert "Neptune:Unavailable" in warning.getMessage()
    assert "graph rebuild" in warning.getMessage()
