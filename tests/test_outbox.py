"""The transactional outbox: a mutation's events commit with its state change, or not at all."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from conftest import Graph
from datasources.demo.generate import DemoData
from datasources.dynamodb.client import from_wire
from datasources.dynamodb.tables import OUTBOX
from datasources.errors import ConditionFailedError, SourceRejectedError
from datasources.events.records import DomainEvent
from datasources.order import (
    CheckoutConflictError,
    IdempotencyRecord,
    OrderRecord,
    OrderStatus,
    StockReservation,
)
from datasources.records import MoneyRecord
from events_fixtures import detail_of, outbox_items
from resolvers.events import cart_updated, order_placed
from test_cart import ADD, REMOVE, UPDATE, in_stock_variants, new_cart
from test_place_order import cart_with, place, product_of


async def event_exists(graph: Graph, event: DomainEvent) -> bool:
    dynamo = graph.sources.dynamo
    item = await dynamo.get(
        dynamo.table(OUTBOX.name), {"pk": f"EVENT#{event.event_id}", "sk": "EVENT"}
    )
    return item is not None


async def test_each_cart_mutation_writes_one_cart_updated_event(
    graph: Graph, demo: DemoData
) -> None:
    # given
    a, b = in_stock_variants(demo, 2)
    cart_id = await new_cart(graph)
    # when
    added = await graph.data(
        ADD,
        {
            "cartId": cart_id,
            "lines": [{"variantId": a, "quantity": 2}, {"variantId": b, "quantity": 1}],
        },
    )
    line_a = added["addCartLines"]["cart"]["lines"][0]["id"]
    line_b = added["addCartLines"]["cart"]["lines"][1]["id"]
    await graph.data(UPDATE, {"cartId": cart_id, "lineId": line_a, "quantity": 5})
    await graph.data(REMOVE, {"cartId": cart_id, "lineId": line_b})
    # then: createCart, addCartLines, updateCartLine, removeCartLine: one event each
    items = await outbox_items(graph.sources.dynamo, cart_id)
    details = sorted((detail_of(i) for i in items), key=lambda d: d["payload"]["version"])
    assert [d["payload"]["version"] for d in details] == [1, 2, 3, 4]
    assert {i["source"] for i in items} == {"commerce-graph.cart"}
    assert {i["detailType"] for i in items} == {"CART_UPDATED"}
    assert [d["payload"]["totalQuantity"] for d in details] == [0, 3, 6, 5]
    last = details[-1]
    assert set(last) == {"eventId", "occurredAt", "version", "channel", "payload"}
    assert last["version"] == 1
    assert last["channel"] == "WEB"
    assert last["occurredAt"].endswith("Z")
    assert last["payload"]["cartId"] == cart_id
    assert last["payload"]["lines"] == [
        {"lineId": line_a, "productId": product_of(demo, a), "variantId": a, "quantity": 5}
    ]
    assert len({d["eventId"] for d in details}) == 4
    assert all(i["eventId"] == detail_of(i)["eventId"] for i in items)


async def test_a_cart_write_that_loses_its_version_race_writes_no_event(graph: Graph) -> None:
    # given: a cart at version 1, and a writer that read it at version 0
    cart_id = await new_cart(graph)
    carts = graph.sources.cart
    current = await carts.get_cart(cart_id)
    assert current is not None
    assert current.version == 1
    stale = cart_updated(replace(current, version=1))
    # when / then
    with pytest.raises(ConditionFailedError):
        await carts.replace_cart(current, expected_version=0, events=[stale])
    assert not await event_exists(graph, stale)
    fresh = cart_updated(replace(current, version=2))
    written = await carts.replace_cart(current, expected_version=1, events=[fresh])
    assert written.version == 2
    assert await event_exists(graph, fresh)


async def test_creating_an_existing_cart_writes_no_event(graph: Graph) -> None:
    cart_id = await new_cart(graph)
    current = await graph.sources.cart.get_cart(cart_id)
    assert current is not None
    event = cart_updated(current)
    with pytest.raises(ConditionFailedError):
        await graph.sources.cart.create_cart(current, events=[event])
    assert not await event_exists(graph, event)


async def test_a_reused_event_id_cancels_the_write_and_is_not_a_lost_race(graph: Graph) -> None:
    # given: an event already in the outbox
    cart_id = await new_cart(graph)
    carts = graph.sources.cart
    current = await carts.get_cart(cart_id)
    assert current is not None
    (existing,) = await outbox_items(graph.sources.dynamo, cart_id)
    reused = replace(cart_updated(replace(current, version=2)), event_id=existing["eventId"])
    # when / then: rejected (retrying cannot help), and the cart is unchanged
    with pytest.raises(SourceRejectedError) as raised:
        await carts.replace_cart(current, expected_version=1, events=[reused])
    assert not isinstance(raised.value, ConditionFailedError)
    after = await carts.get_cart(cart_id)
    assert after is not None
    assert after.version == 1


async def test_place_order_writes_order_created_and_stock_reserved(
    graph: Graph, demo: DemoData
) -> None:
    # given
    (a,) = in_stock_variants(demo, 1, minimum=10)
    cart_id = await cart_with(graph, [{"variantId": a, "quantity": 2}])
    # when
    data = await place(graph, cart_id)
    # then
    order = data["placeOrder"]["order"]
    items = await outbox_items(graph.sources.dynamo, order["id"])
    by_type = {i["detailType"]: detail_of(i) for i in items}
    assert len(items) == 2
    assert set(by_type) == {"ORDER_CREATED", "STOCK_RESERVED"}
    assert {i["source"] for i in items} == {"commerce-graph.order", "commerce-graph.inventory"}
    created = by_type["ORDER_CREATED"]["payload"]
    assert created["orderId"] == order["id"]
    assert created["cartId"] == cart_id
    assert created["totals"]["total"]["amount"] == order["total"]["gross"]["amount"]
    assert [ln["quantity"] for ln in created["lines"]] == [2]
    reserved = by_type["STOCK_RESERVED"]["payload"]["reservations"]
    assert reserved == [
        {
            "productId": product_of(demo, a),
            "variantId": a,
            "locationId": order["lines"][0]["locationId"],
            "quantity": 2,
        }
    ]


async def test_a_place_order_that_fails_on_stock_writes_no_event(
    graph: Graph, demo: DemoData
) -> None:
    # given: a cart, and an order transaction reserving more than there is
    (a,) = in_stock_variants(demo, 1, minimum=10)
    cart_id = await cart_with(graph, [{"variantId": a, "quantity": 1}])
    cart = await graph.sources.cart.get_cart(cart_id)
    assert cart is not None
    store = next(loc for loc in demo.locations if "WEB" in loc.channels)
    zero = MoneyRecord.zero("USD")
    order = OrderRecord(
        id=f"ord_{uuid.uuid4().hex}",
        number="TEST",
        cart_id=cart_id,
        channel=cart.channel,
        status=OrderStatus.UNFULFILLED,
        lines=(),
        subtotal=zero,
        tax=zero,
        total=zero,
        placed_at=cart.updated_at,
    )
    reservations = [StockReservation(product_of(demo, a), a, store.id, 10_000_000)]
    events = order_placed(order, reservations)
    # when
    with pytest.raises(CheckoutConflictError) as raised:
        await graph.sources.order.place_order(
            order,
            cart_version=cart.version,
            reservations=reservations,
            idempotency=IdempotencyRecord(str(uuid.uuid4()), "hash", order.id),
            events=events,
        )
    # then
    assert raised.value.short_stock
    assert not raised.value.cart_changed
    assert not [e for e in events if await event_exists(graph, e)]
    assert await outbox_items(graph.sources.dynamo, order.id) == []


async def test_outbox_items_wait_in_the_pending_index(graph: Graph) -> None:
    cart_id = await new_cart(graph)
    (item,) = await outbox_items(graph.sources.dynamo, cart_id)
    raw = await graph.sources.dynamo.raw.get_item(
        TableName=graph.sources.dynamo.table(OUTBOX.name),
        Key={"pk": {"S": item["pk"]}, "sk": {"S": "EVENT"}},
    )
    stored = from_wire(raw["Item"])
    # pending until a relay publishes it (if the app runs one, it may already have)
    if "publishedAt" not in stored:
        assert str(stored["gsi1pk"]).startswith("PENDING#")
        assert str(stored["gsi1sk"]).endswith(f"#{stored['eventId']}")
    else:
        assert "gsi1pk" not in stored
        assert int(stored["expiresAt"]) > 0
