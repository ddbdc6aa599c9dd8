"""placeOrder: one transaction, idempotent by key, all or nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from conftest import As, Graph
from datasources.demo.generate import DemoData
from test_cart import ADD, CREATE, in_stock_variants

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id status origin cartId lines { sku quantity locationId unitPrice { amount } }
            subtotal { amount } total { net { amount } gross { amount } } placedAt }
    userErrors { field message code }
  }
}
"""
CART_STATUS = "query Cart($id: ID!) { cart(id: $id) { status } }"
STOCK = """query Stock($id: ID!) {
  product(id: $id) { variants { id stock { locationId reserved available } } } }"""


async def cart_with(
    graph: Graph, lines: list[dict[str, Any]], as_: As | None = None, **input: Any
) -> str:
    data = await graph.data(CREATE, {"input": {"channel": "WEB", **input}}, as_=as_)
    cart_id: str = data["createCart"]["cart"]["id"]
    added = await graph.data(ADD, {"cartId": cart_id, "lines": lines}, as_=as_)
    assert added["addCartLines"]["userErrors"] == []
    return cart_id


async def place(graph: Graph, cart_id: str) -> dict[str, Any]:
    """placeOrder with a fresh idempotency key."""
    key = str(uuid.uuid4())
    return await graph.data(
        PLACE,
        {"input": {"cartId": cart_id, "idempotencyKey": key, "paymentMethodId": "pm_card_visa"}},
    )


async def orders_for_cart(graph: Graph, cart_id: str) -> int:
    table = graph.sources.dynamo.table("orders")
    count = 0
    paginator = graph.sources.dynamo.raw.get_paginator("scan")
    async for page in paginator.paginate(
        TableName=table,
        FilterExpression="cartId = :c",
        ExpressionAttributeValues={":c": {"S": cart_id}},
    ):
        count += len(page.get("Items", []))
    return count


async def reserved(graph: Graph, product_id: str, variant_id: str) -> dict[str, int]:
    data = await graph.data(STOCK, {"id": product_id})
    (variant,) = [v for v in data["product"]["variants"] if v["id"] == variant_id]
    return {s["locationId"]: s["reserved"] for s in variant["stock"]}


def product_of(demo: DemoData, variant_id: str) -> str:
    return next(p.id for p in demo.products for v in p.variants if v.id == variant_id)


async def test_place_order_reserves_stock_and_checks_the_cart_out(
    graph: Graph, demo: DemoData
) -> None:
    # given
    (a,) = in_stock_variants(demo, 1, minimum=10)
    product_id = product_of(demo, a)
    before = await reserved(graph, product_id, a)
    cart_id = await cart_with(graph, [{"variantId": a, "quantity": 2}])
    # when
    data = await graph.data(
        PLACE,
        {
            "input": {
                "cartId": cart_id,
                "idempotencyKey": str(uuid.uuid4()),
                "paymentMethodId": "pm_card_visa",
            }
        },
    )
    # then
    order = data["placeOrder"]["order"]
    assert data["placeOrder"]["userErrors"] == []
    assert order["status"] == "UNFULFILLED"
    assert order["origin"] == "WEB"
    assert order["placedAt"].endswith("Z")
    (line,) = order["lines"]
    after = await reserved(graph, product_id, a)
    assert after[line["locationId"]] == before[line["locationId"]] + 2
    assert (await graph.data(CART_STATUS, {"id": cart_id}))["cart"]["status"] == "CHECKED_OUT"


async def test_same_key_concurrently_gives_one_order(graph: Graph, demo: DemoData) -> None:
    # given
    (a,) = in_stock_variants(demo, 1, minimum=10)
    product_id = product_of(demo, a)
    before = sum((await reserved(graph, product_id, a)).values())
    cart_id = await cart_with(graph, [{"variantId": a, "quantity": 1}])
    variables = {
        "input": {
            "cartId": cart_id,
            "idempotencyKey": str(uuid.uuid4()),
            "paymentMethodId": "pm_card_visa",
        }
    }
    # when: five concurrent duplicates, then one more afterwards
    results = await asyncio.gather(*(graph.data(PLACE, variables) for _ in range(5)))
    results.append(await graph.data(PLACE, variables))
    # then
    ids = {r["placeOrder"]["order"]["id"] for r in results}
    assert len(ids) == 1
    assert all(r["placeOrder"]["userErrors"] == [] for r in results)
    assert await orders_for_cart(graph, cart_id) == 1
    assert sum((await reserved(graph, product_id, a)).values()) == before + 1


async def test_same_key_with_another_cart_is_refused(graph: Graph, demo: DemoData) -> None:
    (a,) = in_stock_variants(demo, 1, minimum=10)
    key = str(uuid.uuid4())
    first = await cart_with(graph, [{"variantId": a, "quantity": 1}])
    second = await cart_with(graph, [{"variantId": a, "quantity": 1}])
    await graph.data(
        PLACE,
        {"input": {"cartId": first, "idempotencyKey": key, "paymentMethodId": "pm_card_visa"}},
    )
    data = await graph.data(
        PLACE,
        {"input": {"cartId": second, "idempotencyKey": key, "paymentMethodId": "pm_card_visa"}},
    )
    assert data["placeOrder"]["order"] is None
    assert [e["code"] for e in data["placeOrder"]["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await orders_for_cart(graph, second) == 0


async def test_insufficient_stock_writes_nothing(graph: Graph, demo: DemoData) -> None:
    # given: two POS carts at one store, each holding all of a variant's stock there
    store = next(loc for loc in demo.locations if "POS" in loc.channels)
    variant_id, product_id, units = next(
        (v, s.product_id, levels[store.id].available)
        for s in demo.stock
        for v, levels in s.by_variant.items()
        if 0 < levels[store.id].available <= 50
    )
    line = [{"variantId": variant_id, "quantity": units}]
    device = As(device=True)  # POS carts are started by store devices
    first = await cart_with(graph, line, device, channel="POS", locationId=store.id)
    second = await cart_with(graph, line, device, channel="POS", locationId=store.id)
    ok = await place(graph, first)
    assert ok["placeOrder"]["userErrors"] == []
    stock_after_first = await reserved(graph, product_id, variant_id)
    # when
    data = await graph.data(
        PLACE,
        {
            "input": {
                "cartId": second,
                "idempotencyKey": str(uuid.uuid4()),
                "paymentMethodId": "pm_card_visa",
            }
        },
    )
    # then
    assert [e["code"] for e in data["placeOrder"]["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert await orders_for_cart(graph, second) == 0
    assert (await graph.data(CART_STATUS, {"id": second}))["cart"]["status"] == "ACTIVE"
    assert await reserved(graph, product_id, variant_id) == stock_after_first


async def test_empty_and_unknown_carts_are_user_errors(graph: Graph) -> None:
    empty = (await graph.data(CREATE, {"input": {"channel": "WEB"}}))["createCart"]["cart"]["id"]
    for cart_id, code in ((empty, "CART_EMPTY"), ("crt_nope", "CART_NOT_FOUND")):
        data = await graph.data(
            PLACE,
            {
                "input": {
                    "cartId": cart_id,
                    "idempotencyKey": str(uuid.uuid4()),
                    "paymentMethodId": "pm_card_visa",
                }
            },
        )
        assert [e["code"] for e in data["placeOrder"]["userErrors"]] == [code]
