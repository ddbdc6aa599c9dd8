"""Events end to end, as the local wiring runs them (docs/events.md):

    ERP → EventBridge (moto) → inbound rule → SQS → consumer → publishStockChanged (IAM,
    in process) → onStockChanged subscribers over the realtime protocol
    placeOrder → outbox (same transaction) → relay → EventBridge → inbound rule → SQS →
    consumer → publishOrderStatusChanged → onOrderStatusChanged subscribers

Real servers throughout: moto for EventBridge and SQS, DynamoDB on moto, the app under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiobotocore.session import get_session

from appsync.settings import EdgeSettings
from auth_helpers import API_HOST, CognitoPool
from conftest import STAFF, auth_settings_for, settings_for
from datasources.demo.generate import DemoData
from datasources.events.settings import EventsSettings
from realtime_support import (
    LiveServer,
    _seed,
    in_stock_variant,
    open_realtime,
    realtime_demo,
    serve,
    wait_for_subscribers,
)
from server import create_app

__all__ = ["realtime_demo"]  # the session fixture, used below

pytestmark = pytest.mark.engine

ON_STOCK = """subscription($sku: String) { onStockChanged(sku: $sku) {
  sku locationId quantity available } }"""
ON_ORDER = """subscription { onOrderStatusChanged { orderId status } }"""


@pytest.fixture(scope="module")
def flowing(
    engine_endpoints: dict[str, str], cognito: CognitoPool, realtime_demo: DemoData
) -> Iterator[tuple[LiveServer, EventsSettings]]:
    moto = engine_endpoints["moto"]
    events = EventsSettings(
        endpoint=moto,
        sqs_endpoint=moto,
        bus_name=f"cg-flow-{uuid.uuid4().hex[:6]}",
        local_wiring=True,
        relay_enabled=True,
        relay_poll_seconds=0.2,
        # The tests' moto serves one request at a time: a long poll would stall the app's
        # DynamoDB calls behind it.
        consumer_wait_seconds=0,
    )
    settings = settings_for(moto, prefix=f"cg-flow-{uuid.uuid4().hex[:6]}-")
    edge = EdgeSettings(rate_limit_per_second=10_000, rate_limit_burst=10_000)
    app = create_app(
        settings,
        auth_settings=auth_settings_for(cognito),
        edge_settings=edge,
        events_settings=events,
    )
    with serve(app) as server:
        server.api_key = server.call(_seed(app, realtime_demo))
        yield server, events


async def test_an_erp_stock_event_reaches_a_subscriber(
    flowing: tuple[LiveServer, EventsSettings], realtime_demo: DemoData
) -> None:
    # given: a subscriber following one SKU
    server, events = flowing
    client = await open_realtime(server)
    await client.init()
    await client.start(
        "s1", ON_STOCK, {"sku": "SKU-000001-0"}, authorization=server.api_key_headers()
    )
    assert (await client.receive())["type"] == "start_ack"
    await wait_for_subscribers(server, 1)
    # when: the ERP publishes a stock change on the bus, as its integration would
    detail = {
        "eventId": uuid.uuid4().hex,
        "occurredAt": "2026-11-24T02:00:00.000Z",
        "version": 1,
        "channel": None,
        "payload": {
            "sku": "SKU-000001-0",
            "productId": "prd_00001",
            "variantId": "var_00001_0",
            "locationId": "loc_01",
            "quantity": 40,
            "available": 37,
        },
    }
    async with get_session().create_client(
        "events", region_name="us-east-1", endpoint_url=events.endpoint
    ) as bus:
        await bus.put_events(
            Entries=[
                {
                    "EventBusName": events.bus_name,
                    "Source": "erp.stock",
                    "DetailType": "STOCK_CHANGED",
                    "Detail": json.dumps(detail),
                }
            ]
        )
    # then
    message = await client.receive(within=20)
    assert message["type"] == "data"
    assert message["payload"]["data"]["onStockChanged"] == {
        "sku": "SKU-000001-0",
        "locationId": "loc_01",
        "quantity": 40,
        "available": 37,
    }
    await client.socket.close()
    await wait_for_subscribers(server, 0)


async def test_a_placed_order_reaches_order_status_subscribers_through_the_outbox(
    flowing: tuple[LiveServer, EventsSettings], realtime_demo: DemoData, cognito: CognitoPool
) -> None:
    # given: staff following every order's status
    server, _ = flowing
    token, _ = cognito.sign_in(STAFF)
    staff = {"host": API_HOST, "Authorization": token}
    client = await open_realtime(server, staff)
    await client.init()
    await client.start("s1", ON_ORDER, authorization=staff)
    assert (await client.receive())["type"] == "start_ack"
    await wait_for_subscribers(server, 1)
    # when: a guest places an order over HTTP
    variant = in_stock_variant(realtime_demo)
    async with httpx.AsyncClient(
        base_url=server.http_url, headers=server.api_key_headers(), timeout=30
    ) as http:
        created = await http.post(
            "/graphql",
            json={
                "query": """mutation($v: ID!) {
            createCart(input: {channel: WEB, lines: [{variantId: $v, quantity: 1}]}) {
            cartId } }""",
                "variables": {"v": variant},
            },
        )
        cart_id = created.json()["data"]["createCart"]["cartId"]
        placed = await http.post(
            "/graphql",
            json={
                "query": """mutation($c: ID!, $k: ID!) {
            placeOrder(input: {cartId: $c, idempotencyKey: $k, paymentMethodId: "pm_card_visa"})
            { order { id } userErrors { code } } }""",
                "variables": {"c": cart_id, "k": uuid.uuid4().hex},
            },
        )
    order_id = placed.json()["data"]["placeOrder"]["order"]["id"]
    # then: the outbox event went through the relay, the bus, the queue and the consumer
    message = await client.receive(within=30)
    assert message["type"] == "data"
    assert message["payload"]["data"]["onOrderStatusChanged"] == {
        "orderId": order_id,
        "status": "UNFULFILLED",
    }
    assert server.app.state.inbound.published >= 1
    await client.socket.close()
    await wait_for_subscribers(server, 0)
    await asyncio.sleep(0)
