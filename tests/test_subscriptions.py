"""Subscription semantics (APPSYNC.md §5.4): what is pushed, to whom, and who may subscribe."""

from __future__ import annotations

import json
from typing import Any

import pytest

import realtime_support
from appsync.realtime.filters import FilterError, parse_filter
from auth_helpers import API_HOST, CognitoPool
from conftest import CUSTOMER, OTHER_CUSTOMER
from realtime_support import (
    CREATE_CART,
    LiveServer,
    RealtimeClient,
    iam_start_authorization,
    in_stock_variant,
    open_realtime,
)
from test_realtime_protocol import PUBLISH_STOCK, stock_change

# Session fixtures shared by the realtime tests (a live uvicorn server on moto).
live = realtime_support.live
realtime_demo = realtime_support.realtime_demo

ADD_SELECTING = """
mutation Add($cartId: ID!, $variantId: ID!) {
  added: addCartLines(cartId: $cartId, lines: [{variantId: $variantId, quantity: 1}]) {
    %s
  }
}"""
PUBLISH_ORDER = """
mutation P($input: OrderStatusChangeInput!) {
  publishOrderStatusChanged(input: $input) { orderId customerId status occurredAt }
}"""
ON_ORDER = "subscription O($c: ID) { onOrderStatusChanged(customerId: $c) { orderId status } }"


async def subscriber(
    live: LiveServer,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    sid: str = "s",
    authorization: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> RealtimeClient:
    client = await open_realtime(live)
    await client.init()
    await client.start(
        sid,
        query,
        variables,
        authorization=authorization or live.api_key_headers(),
        extensions=extensions,
    )
    assert await client.receive() == {"id": sid, "type": "start_ack"}
    return client


async def new_cart(live: LiveServer) -> str:
    cart_id: str = (await live.post(CREATE_CART))["data"]["createCart"]["cartId"]
    return cart_id


# --- what is pushed -----------------------------------------------------------------------


async def test_payload_is_the_mutation_result_under_the_subscribers_selection(
    live: LiveServer, realtime_demo: Any
) -> None:
    # given a subscriber using aliases, fragments, __typename and @include with a variable
    cart_id = await new_cart(live)
    query = """
    subscription S($id: ID!, $withLines: Boolean!) {
      onCartUpdated(cartId: $id) {
        kind: __typename
        ...Ids
        cart { ... on Cart { quantity: totalQuantity lines @include(if: $withLines) { quantity } } }
      }
    }
    fragment Ids on CartPayload { cartId userErrors { code } }"""
    client = await subscriber(live, query, {"id": cart_id, "withLines": False})
    # when the mutation (aliased) selects more than the subscriber wants
    selection = "cartId cart { id totalQuantity lines { quantity } } userErrors { code message }"
    variant = in_stock_variant(realtime_demo)
    await live.post(ADD_SELECTING % selection, {"cartId": cart_id, "variantId": variant})
    # then the subscriber gets its own shape of the mutation's result
    assert await client.receive() == {
        "id": "s",
        "type": "data",
        "payload": {"data": {"onCartUpdated": {
            "kind": "CartPayload",
            "cartId": cart_id,
            "userErrors": [],
            "cart": {"quantity": 1},
        }}},
    }  # fmt: skip
    await client.socket.close()


async def test_fields_the_mutation_did_not_select_are_null_with_graphql_java_errors(
    live: LiveServer, realtime_demo: Any
) -> None:
    cart_id = await new_cart(live)
    query = """subscription S($id: ID!) {
      onCartUpdated(cartId: $id) { cartId cart { id totalQuantity } } }"""
    client = await subscriber(live, query, {"id": cart_id})
    await live.post(
        ADD_SELECTING % "cartId cart { id }",
        {"cartId": cart_id, "variantId": in_stock_variant(realtime_demo)},
    )
    assert await client.receive() == {
        "id": "s",
        "type": "data",
        "payload": {
            "data": {"onCartUpdated": {"cartId": cart_id, "cart": None}},
            "errors": [{
                "path": ["onCartUpdated", "cart", "totalQuantity"],
                "locations": None,
                "message": "Cannot return null for non-nullable type: 'Int' within parent"
                " 'Cart' (/onCartUpdated/cart/totalQuantity)",
            }],
        },
    }  # fmt: skip
    await client.socket.close()


# --- to whom: argument and enhanced filters -----------------------------------------------


async def test_arguments_are_equality_filters(live: LiveServer, realtime_demo: Any) -> None:
    mine, other = await new_cart(live), await new_cart(live)
    query = "subscription S($id: ID!) { onCartUpdated(cartId: $id) { cartId } }"
    watching_mine = await subscriber(live, query, {"id": mine})
    watching_other = await subscriber(live, query, {"id": other})
    await live.post(
        ADD_SELECTING % "cartId", {"cartId": mine, "variantId": in_stock_variant(realtime_demo)}
    )
    assert (await watching_mine.receive())["payload"]["data"]["onCartUpdated"]["cartId"] == mine
    await watching_other.nothing_within(0.5)
    await watching_mine.socket.close()
    await watching_other.socket.close()


async def test_a_filter_on_a_field_the_mutation_did_not_select_never_matches(
    live: LiveServer, realtime_demo: Any
) -> None:
    cart_id = await new_cart(live)
    query = "subscription S($id: ID!) { onCartUpdated(cartId: $id) { cart { id } } }"
    client = await subscriber(live, query, {"id": cart_id})
    await live.post(
        ADD_SELECTING % "cart { id }",
        {"cartId": cart_id, "variantId": in_stock_variant(realtime_demo)},
    )
    await client.nothing_within(0.5)
    await client.socket.close()


async def test_omitted_arguments_do_not_filter_and_several_are_and_ed(live: LiveServer) -> None:
    everything = await subscriber(live, "subscription { onStockChanged { sku } }", sid="all")
    narrow = await subscriber(
        live,
        'subscription { onStockChanged(sku: "SKU-A", locationId: "loc-2") { sku locationId } }',
        sid="narrow",
    )
    for sku, location in (("SKU-A", "loc-1"), ("SKU-B", "loc-2"), ("SKU-A", "loc-2")):
        await live.post(PUBLISH_STOCK, {"input": stock_change(sku, location=location)}, iam=True)
    got_all = [
        (await everything.receive())["payload"]["data"]["onStockChanged"]["sku"] for _ in range(3)
    ]
    assert got_all == ["SKU-A", "SKU-B", "SKU-A"]
    assert (await narrow.receive())["payload"]["data"]["onStockChanged"] == {
        "sku": "SKU-A",
        "locationId": "loc-2",
    }
    await narrow.nothing_within(0.3)
    await everything.socket.close()
    await narrow.socket.close()


async def test_enhanced_filters_from_the_start_message(live: LiveServer) -> None:
    low_stock = {
        "filterGroup": [
            {"filters": [{"fieldName": "available", "operator": "lt", "value": 5}]},
            {"filters": [
                {"fieldName": "sku", "operator": "beginsWith", "value": "VIP-"},
                {"fieldName": "locationId", "operator": "in", "value": ["loc-1", "loc-9"]},
            ]},
        ]
    }  # fmt: skip
    client = await subscriber(
        live, "subscription { onStockChanged { sku available } }", extensions={"filter": low_stock}
    )
    for sku, location, available in (
        ("SKU-1", "loc-1", 50),  # no group matches
        ("SKU-2", "loc-1", 3),  # low stock
        ("VIP-3", "loc-2", 50),  # VIP, but not at loc-1/loc-9
        ("VIP-4", "loc-9", 50),  # VIP at loc-9
    ):
        change = stock_change(sku, location=location, available=available)
        await live.post(PUBLISH_STOCK, {"input": change}, iam=True)
    received = [(await client.receive())["payload"]["data"]["onStockChanged"] for _ in range(2)]
    assert received == [{"sku": "SKU-2", "available": 3}, {"sku": "VIP-4", "available": 50}]
    await client.nothing_within(0.3)
    await client.socket.close()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"filterGroup": [{"filters": [
                {"fieldName": "sku", "operator": "in", "value": list("abcdef")}]}]},
            "subscription exceeds maximum value limit 5 for operator `in`.",
        ),
        (
            {"filterGroup": [{"filters": [
                {"fieldName": f"f{n}", "operator": "eq", "value": 1} for n in range(6)]}]},
            "Filters exceed maximum attributes limit 5 for subscription",
        ),
        (
            {"filterGroup": [{"filters": [
                {"fieldName": "sku", "operator": "like", "value": "x"}]}]},
            "Unsupported operator 'like' in the subscription filter.",
        ),
    ],
)  # fmt: skip
async def test_enhanced_filter_limits_refuse_the_start(
    live: LiveServer, document: dict[str, Any], message: str
) -> None:
    client = await open_realtime(live)
    await client.init()
    await client.start(
        "f",
        "subscription { onStockChanged { sku } }",
        authorization=live.api_key_headers(),
        extensions={"filter": document},
    )
    assert await client.receive() == {
        "id": "f",
        "type": "error",
        "payload": {
            "errors": [{"errorType": "BadRequestException", "message": message, "errorCode": 400}]
        },
    }
    await client.socket.close()


def test_the_thirteen_operators() -> None:
    payload = {"n": 5, "s": "hello", "tags": ["a", "b"], "loc": {"country": "DE"}}

    def matches(operator: str, value: Any, field: str = "n") -> bool:
        group = {"filters": [{"fieldName": field, "operator": operator, "value": value}]}
        return parse_filter({"filterGroup": [group]}).matches(payload)

    assert matches("eq", 5)
    assert not matches("eq", 6)
    assert not matches("eq", True)
    assert matches("ne", 6)
    assert matches("ne", 1, "missing")
    assert matches("le", 5)
    assert matches("lt", 6)
    assert matches("ge", 5)
    assert matches("gt", 4)
    assert not matches("gt", "4")  # numbers compare with numbers only
    assert matches("contains", "ell", "s")
    assert matches("contains", "a", "tags")
    assert matches("notContains", "z", "tags")
    assert matches("beginsWith", "he", "s")
    assert matches("in", [1, 5])
    assert matches("notIn", [1, 2])
    assert matches("between", [5, 9])
    assert matches("containsAny", ["x", "b"], "tags")
    assert matches("eq", "DE", "loc.country")
    with pytest.raises(FilterError, match="between"):
        matches("between", [1])


# --- invalidation -------------------------------------------------------------------------


async def test_invalidation_completes_the_matching_subscriptions(live: LiveServer) -> None:
    cart_id, other_id = await new_cart(live), await new_cart(live)
    query = "subscription S($id: ID!) { onCartUpdated(cartId: $id) { cartId } }"
    doomed = await subscriber(live, query, {"id": cart_id})
    spared = await subscriber(live, query, {"id": other_id})
    before = live.realtime.active
    live.call(live.realtime.invalidate_subscriptions("onCartUpdated", {"cartId": cart_id}))
    assert await doomed.receive() == {"id": "s", "type": "complete"}
    await spared.nothing_within(0.3)
    assert live.realtime.active == before - 1
    await doomed.socket.close()
    await spared.socket.close()


# --- who may subscribe --------------------------------------------------------------------


async def test_iam_only_mutations_refuse_api_keys(live: LiveServer) -> None:
    body = await live.post(PUBLISH_STOCK, {"input": stock_change("SKU-X")})
    assert body["data"] is None
    assert body["errors"][0]["errorType"] == "Unauthorized"
    assert body["errors"][0]["message"] == (
        "Not Authorized to access publishStockChanged on type Mutation"
    )


async def test_order_subscriptions_are_for_signed_in_owners(
    live: LiveServer, cognito: CognitoPool
) -> None:
    token, _ = cognito.sign_in(CUSTOMER)
    as_customer = {"host": API_HOST, "Authorization": token}
    # a customer may follow their own orders, and only those
    mine = await subscriber(live, ON_ORDER, {"c": CUSTOMER}, authorization=as_customer)
    client = await open_realtime(live)
    await client.init()
    await client.start("other", ON_ORDER, {"c": OTHER_CUSTOMER}, authorization=as_customer)
    refused = await client.receive()
    assert refused["payload"]["errors"][0]["errorType"] == "Unauthorized"
    # a store device (IAM) may follow any order
    data = json.dumps({"query": ON_ORDER, "variables": {}})
    await client.send(
        {
            "id": "device",
            "type": "start",
            "payload": {
                "data": data,
                "extensions": {"authorization": iam_start_authorization(data)},
            },
        }
    )
    assert await client.receive() == {"id": "device", "type": "start_ack"}
    # when the relay announces status changes
    for customer in (OTHER_CUSTOMER, CUSTOMER):
        change = {
            "orderId": f"ord-{customer}",
            "customerId": customer,
            "status": "FULFILLED",
            "occurredAt": "2026-01-01T00:00:00Z",
        }
        assert "errors" not in await live.post(PUBLISH_ORDER, {"input": change}, iam=True)
    # then the customer sees theirs, the device both
    assert (await mine.receive())["payload"]["data"]["onOrderStatusChanged"] == {
        "orderId": f"ord-{CUSTOMER}",
        "status": "FULFILLED",
    }
    await mine.nothing_within(0.3)
    device = [
        (await client.receive())["payload"]["data"]["onOrderStatusChanged"]["orderId"]
        for _ in range(2)
    ]
    assert device == [f"ord-{OTHER_CUSTOMER}", f"ord-{CUSTOMER}"]
    await mine.socket.close()
    await client.socket.close()


async def test_publish_result_serves_in_process_execution(live: LiveServer) -> None:
    client = await subscriber(live, "subscription { onStockChanged { sku available } }")
    document = "mutation { publishStockChanged(input: {}) { sku available quantity } }"
    data = {"publishStockChanged": {"sku": "SKU-IN", "available": 1, "quantity": 2}}
    assert live.call(live.realtime.publish_result(document, data)) == 1
    assert (await client.receive())["payload"]["data"] == {
        "onStockChanged": {"sku": "SKU-IN", "available": 1}
    }
    await client.socket.close()


async def test_subscribers_sharing_a_document_share_its_projection_but_not_others(
    live: LiveServer,
) -> None:
    # given: two subscribers with one document, one whose variables drop a field, one other
    query = """subscription S($sku: String, $full: Boolean!) {
      onStockChanged(sku: $sku) { sku available quantity @include(if: $full) } }"""
    sku = "SKU-SHARED-1"
    first = await subscriber(live, query, {"sku": sku, "full": True}, sid="a")
    second = await subscriber(live, query, {"sku": sku, "full": True}, sid="b")
    brief = await subscriber(live, query, {"sku": sku, "full": False}, sid="c")
    other = await subscriber(live, "subscription { onStockChanged { locationId } }", sid="d")
    # when
    await live.post(PUBLISH_STOCK, {"input": stock_change(sku, available=7)}, iam=True)
    # then: each shape as its own document and variables select it
    full = {"sku": sku, "available": 7, "quantity": 8}
    assert (await first.receive())["payload"]["data"]["onStockChanged"] == full
    assert (await second.receive())["payload"]["data"]["onStockChanged"] == full
    assert (await brief.receive())["payload"]["data"]["onStockChanged"] == {
        "sku": sku,
        "available": 7,
    }
    assert (await other.receive())["payload"]["data"]["onStockChanged"] == {"locationId": "loc-1"}
    for client in (first, second, brief, other):
        await client.socket.close()
