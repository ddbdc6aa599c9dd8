"""Recommendations through GraphQL, on the demo set's graph in a real Gremlin Server.

Expected rankings are worked out here from the demo orders, by hand (`HandRanking`), never by
asking the graph: score descending, then product id ascending. The demo set (240 products, 20
orders) holds, among others (cancelled orders record no purchase):

    cus_0003  ord_00019            prd_00189, prd_00174
    cus_0007  ord_00015, ord_00016 prd_00133; prd_00189, prd_00094, prd_00008, prd_00067
              ord_00009 CANCELED   prd_00123, prd_00186, prd_00200, prd_00038
    cus_0022  ord_00013, ord_00014 prd_00057, prd_00061, prd_00051; prd_00079, prd_00095
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest
from gremlin_python.process.traversal import P

from conftest import CUSTOMER, STAFF, As, Graph
from datasources.catalog import ProductRecord
from datasources.demo.generate import DemoData
from datasources.demo.graph import demo_views
from datasources.neptune.graph import PURCHASED, purchased_edge_id
from datasources.order import OrderRecord, OrderStatus
from test_cart import ADD, CREATE
from test_place_order import PLACE

PRODUCT_PAGE = """
query Page($id: ID!, $kind: RecommendationKind!, $limit: Int) {
  product(id: $id) {
    id name brand { name } variants { sku price(channel: WEB) { price { amount } } }
    recommendations(kind: $kind, limit: $limit) {
      id name brand { id } category { id }
      variants { sku price(channel: WEB) { price { amount currencyCode } } }
    }
  }
}
"""
LISTING = """
query Listing($kind: RecommendationKind!) {
  products(limit: 50) { items { id recommendations(kind: $kind) { id name brand { name } } } }
}
"""
LISTING_BOTH = """
query Listing {
  products(limit: 50) {
    items {
      id
      also: recommendations(kind: ALSO_BOUGHT, limit: 3) { id }
      similar: recommendations(kind: SIMILAR, limit: 3) { id }
      alsoAgain: recommendations(kind: ALSO_BOUGHT, limit: 3) { name }
    }
  }
}
"""
CUSTOMER_RECS = """
query Customer($id: ID!, $limit: Int) {
  customer(id: $id) { id recommendations(limit: $limit, channel: WEB) { id name } }
}
"""
CART_RECS = """
query Cart($id: ID!, $limit: Int) { cart(id: $id) { id recommendations(limit: $limit) { id } } }
"""
RECOMMENDATIONS = """
query R($id: ID!, $limit: Int) { product(id: $id) { id recommendations(limit: $limit) { id } } }
"""


class HandRanking:
    """Rankings computed from the demo records with plain Python: the expectations."""

    def __init__(self, demo: DemoData, orders: Iterable[OrderRecord] | None = None) -> None:
        self.products = {p.id: p for p in demo.products}
        self.paths = {c.id: [*c.path, c.id] for c in demo.categories}
        self.views: dict[str, set[str]] = {}  # under 20 views each: all of them are recent
        for view in demo_views(demo):
            self.views.setdefault(view.customer_id, set()).add(view.product_id)
        self.bought: dict[str, set[str]] = {}  # buyer -> products, over all their orders
        for order in demo.orders if orders is None else orders:
            if order.status is OrderStatus.CANCELED:
                continue
            buyer = order.customer_id or f"guest:{order.id}"
            self.bought.setdefault(buyer, set()).update(ln.product_id for ln in order.lines)

    @staticmethod
    def top(scores: Counter[str], limit: int) -> list[str]:
        return [pid for pid, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]

    def also_bought(self, product_id: str, limit: int) -> list[str]:
        # one point per distinct buyer of the product who also bought the other
        scores = Counter(
            other
            for products in self.bought.values()
            if product_id in products
            for other in products
            if other != product_id
        )
        return self.top(scores, limit)

    def similar(self, product_id: str, limit: int) -> list[str]:
        # one point per shared category on the path (root to leaf), one for the same brand
        mine = self.products[product_id]
        path = set(self.paths[mine.category_id])
        scores: Counter[str] = Counter()
        for other in self.products.values():
            if other.id == product_id:
                continue
            score = len(path & set(self.paths[other.category_id]))
            score += other.brand_id == mine.brand_id
            if score:
                scores[other.id] = score
        return self.top(scores, limit)

    def personal(self, customer_id: str, limit: int) -> list[str]:
        # seeds: what the customer bought or viewed; one point per (seed, other buyer of the
        # seed) path to another product that is not the seed and not bought by the customer
        mine = self.bought.get(customer_id, set())
        scores = Counter(
            other
            for seed in mine | self.views.get(customer_id, set())
            for buyer, products in self.bought.items()
            if buyer != customer_id and seed in products
            for other in products
            if other != seed and other not in mine
        )
        return self.top(scores, limit)

    def for_cart(self, cart: list[str], limit: int) -> list[str]:
        # one point per (cart product, its buyer) path to another product, minus the cart
        scores = Counter(
            other
            for product_id in cart
            for products in self.bought.values()
            if product_id in products
            for other in products
            if other not in cart
        )
        return self.top(scores, limit)


def ids(items: list[dict[str, Any]] | None) -> list[str]:
    assert items is not None
    return [item["id"] for item in items]


@pytest.fixture
async def demo_graph(graph: Graph, demo: DemoData) -> None:
    """The shared graph as the demo set made it: the purchases of orders placed by other
    tests are dropped (what else they add, customer and guest vertices, changes no ranking)."""
    demo_orders = [o.id for o in demo.orders]
    await graph.sources.neptune.write(
        lambda g: g.E().has_label(PURCHASED).has("orderId", P.without(demo_orders)).drop(),
        idempotent=True,
    )


def web_variant(demo: DemoData, product_id: str, minimum: int = 20) -> str:
    """A variant of the product with `minimum` units in the WEB warehouses."""
    web = {loc.id for loc in demo.locations if "WEB" in loc.channels}
    stock = next(s for s in demo.stock if s.product_id == product_id)
    return next(
        v
        for v, levels in stock.by_variant.items()
        if sum(lv.available for loc, lv in levels.items() if loc in web) >= minimum
    )


async def place_order(graph: Graph, demo: DemoData, products: list[str], as_: As | None) -> str:
    lines = [{"variantId": web_variant(demo, p), "quantity": 1} for p in products]
    extra = {"customerId": CUSTOMER} if as_ is not None else {}
    created = await graph.data(CREATE, {"input": {"channel": "WEB", **extra}}, as_=as_)
    cart_id = created["createCart"]["cart"]["id"]
    added = await graph.data(ADD, {"cartId": cart_id, "lines": lines}, as_=as_)
    assert added["addCartLines"]["userErrors"] == []
    key = str(uuid.uuid4())
    placed = await graph.data(
        PLACE,
        {"input": {"cartId": cart_id, "idempotencyKey": key, "paymentMethodId": "pm_card_visa"}},
        as_=as_,
    )
    assert placed["placeOrder"]["userErrors"] == []
    order_id: str = placed["placeOrder"]["order"]["id"]
    return order_id


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("demo_graph")
async def test_product_page_also_bought_is_ranked_and_hydrated(
    graph: Graph, demo: DemoData
) -> None:
    # given prd_00189's buyers: cus_0003 (also prd_00174) and cus_0007 (also 8, 67, 94, 133)
    hand = HandRanking(demo)
    expected = hand.also_bought("prd_00189", 5)
    assert expected == ["prd_00008", "prd_00067", "prd_00094", "prd_00133", "prd_00174"]
    # when
    data = await graph.data(PRODUCT_PAGE, {"id": "prd_00189", "kind": "ALSO_BOUGHT", "limit": 5})
    # then the ranking, and every recommended product hydrated from DynamoDB
    product = data["product"]
    assert product["name"] == hand.products["prd_00189"].name
    recs = product["recommendations"]
    assert ids(recs) == expected
    for rec in recs:
        record: ProductRecord = hand.products[rec["id"]]
        assert rec["name"] == record.name
        assert rec["brand"] == {"id": record.brand_id}
        assert rec["category"] == {"id": record.category_id}
        assert [v["sku"] for v in rec["variants"]] == [v.sku for v in record.variants]
        assert all(v["price"]["price"]["currencyCode"] == "USD" for v in rec["variants"])


@pytest.mark.usefixtures("demo_graph")
async def test_also_bought_limit_cancelled_orders_and_unknown_products(
    graph: Graph, demo: DemoData
) -> None:
    hand = HandRanking(demo)
    two = await graph.data(PRODUCT_PAGE, {"id": "prd_00189", "kind": "ALSO_BOUGHT", "limit": 2})
    assert ids(two["product"]["recommendations"]) == ["prd_00008", "prd_00067"]
    # prd_00123 was bought only in a cancelled order: nobody bought it
    assert hand.also_bought("prd_00123", 5) == []
    data = await graph.data(RECOMMENDATIONS, {"id": "prd_00123"})
    assert data["product"]["recommendations"] == []


async def test_similar_is_ranked_by_shared_categories_and_brand(
    graph: Graph, demo: DemoData
) -> None:
    # SIMILAR reads only the catalogue, which no test changes: no reset needed
    hand = HandRanking(demo)
    for product in demo.products[:3]:
        expected = hand.similar(product.id, 10)
        assert len(expected) == 10
        data = await graph.data(PRODUCT_PAGE, {"id": product.id, "kind": "SIMILAR", "limit": 10})
        recs = ids(data["product"]["recommendations"])
        assert recs == expected
        assert product.id not in recs


async def test_limit_must_be_between_1_and_20(graph: Graph) -> None:
    for limit in (0, 21):
        body = await graph.post(RECOMMENDATIONS, {"id": "prd_00189", "limit": limit})
        assert body["data"]["product"] == {"id": "prd_00189", "recommendations": None}
        (error,) = body["errors"]
        assert error["errorType"] == "InvalidArgument"
        assert error["path"] == ["product", "recommendations"]


@pytest.mark.usefixtures("demo_graph")
async def test_cart_recommendations_are_complements_of_its_products(
    graph: Graph, demo: DemoData
) -> None:
    # given a cart of prd_00189 (buyers cus_0003, cus_0007) and prd_00057 (buyer cus_0022)
    cart = ["prd_00189", "prd_00057"]
    expected = HandRanking(demo).for_cart(cart, 5)
    assert expected == ["prd_00008", "prd_00051", "prd_00061", "prd_00067", "prd_00079"]
    lines = [{"variantId": web_variant(demo, p, minimum=1), "quantity": 1} for p in cart]
    created = await graph.data(CREATE, {"input": {"channel": "WEB", "lines": lines}})
    cart_id = created["createCart"]["cart"]["id"]
    # when
    data = await graph.data(CART_RECS, {"id": cart_id, "limit": 5})
    # then
    assert ids(data["cart"]["recommendations"]) == expected
    empty = (await graph.data(CREATE, {"input": {"channel": "WEB"}}))["createCart"]["cart"]["id"]
    assert (await graph.data(CART_RECS, {"id": empty}))["cart"]["recommendations"] == []


async def test_customer_recommendations_never_repeat_a_purchase(
    graph: Graph, demo: DemoData
) -> None:
    # given cus_0007, who bought five products (and a cancelled order's four), as seen by staff
    hand = HandRanking(demo)
    bought = hand.bought["cus_0007"]
    personal = hand.personal("cus_0007", 8)
    assert 0 < len(personal) < 8
    # when
    data = await graph.data(
        CUSTOMER_RECS, {"id": "cus_0007", "limit": 8}, as_=graph.signed_in(STAFF)
    )
    # then: its personal list first, topped up with bestsellers; none bought, no repeats
    recs = ids(data["customer"]["recommendations"])
    assert recs[: len(personal)] == personal
    assert len(recs) == len(set(recs)) == 8
    assert not set(recs) & bought


# --- round trips ------------------------------------------------------------------------------


async def test_a_page_of_50_products_costs_one_round_trip_per_kind(graph: Graph) -> None:
    await graph.data("{ __typename }")  # the API key's lookup is not part of the page
    neptune = graph.sources.neptune
    for kind in ("ALSO_BOUGHT", "SIMILAR"):
        before = neptune.round_trips
        data = await graph.data(LISTING, {"kind": kind})
        assert len(data["products"]["items"]) == 50
        assert neptune.round_trips - before == 1, kind
    # both kinds (and a repeat of one, with other fields) in one query: one per kind
    before = neptune.round_trips
    data = await graph.data(LISTING_BOTH)
    assert neptune.round_trips - before == 2
    similar = [item["similar"] for item in data["products"]["items"]]
    assert all(len(s) == 3 for s in similar)
    assert [len(i["also"]) for i in data["products"]["items"]] == [
        len(i["alsoAgain"]) for i in data["products"]["items"]
    ]


async def test_recommended_products_are_hydrated_in_batches(graph: Graph) -> None:
    # given a warm API key
    await graph.data("{ __typename }")
    calls = graph.sources.dynamo.calls
    before = Counter(calls)
    # when a page of 50 products lists 5 similar products each, with their brands
    data = await graph.data(LISTING, {"kind": "SIMILAR"})
    # then: the page (1 query), the brands of the page, the recommended products (up to 250
    # ids: BatchGetItem takes 100) and their brands: a handful of calls, not 300
    spent = Counter(calls) - before
    recommended = {r["id"] for item in data["products"]["items"] for r in item["recommendations"]}
    assert spent["query"] == 1
    assert spent["batch_get_item"] <= 2 + 2 * -(-len(recommended) // 100)
    assert sum(spent.values()) <= 8


# --- keeping the graph current ----------------------------------------------------------------


@pytest.mark.usefixtures("demo_graph")
async def test_place_order_adds_purchases_and_also_bought_follows(
    graph: Graph, demo: DemoData
) -> None:
    # given prd_00189's also-bought: five products, one buyer each
    page = {"id": "prd_00189", "kind": "ALSO_BOUGHT", "limit": 5}
    before = ids((await graph.data(PRODUCT_PAGE, page))["product"]["recommendations"])
    assert before == ["prd_00008", "prd_00067", "prd_00094", "prd_00133", "prd_00174"]
    # when a guest buys prd_00189 with prd_00174 again, and with prd_00150 (new to it)
    order_id = await place_order(graph, demo, ["prd_00189", "prd_00174", "prd_00150"], None)
    # then prd_00174 now has two buyers and leads; prd_00150 joins with one
    orders = [*demo.orders, *(await graph.sources.order.orders_by_id([order_id]))]
    hand = HandRanking(demo, [o for o in orders if o is not None])
    assert hand.also_bought("prd_00189", 5)[0] == "prd_00174"
    after = ids((await graph.data(PRODUCT_PAGE, page))["product"]["recommendations"])
    assert after == hand.also_bought("prd_00189", 5)
    assert after == ["prd_00174", "prd_00008", "prd_00067", "prd_00094", "prd_00133"]
    # and the purchase hangs off a guest vertex of its own, one edge per product
    neptune = graph.sources.neptune
    edge = purchased_edge_id(order_id, "prd_00150")
    assert await neptune.read(lambda g: g.E(edge).out_v().id_()) == [f"guest:{order_id}"]
    assert await neptune.read(lambda g: g.V(f"guest:{order_id}").out_e().count()) == [3]


@pytest.mark.usefixtures("demo_graph")
async def test_signed_in_orders_are_purchases_of_the_customer(graph: Graph, demo: DemoData) -> None:
    # given a customer with no demo orders (cus_0001)
    me = graph.signed_in(CUSTOMER)
    assert CUSTOMER not in HandRanking(demo).bought
    # when they buy two products
    order_id = await place_order(graph, demo, ["prd_00057", "prd_00200"], me)
    # then the graph knows them as the buyer ...
    neptune = graph.sources.neptune
    edge = purchased_edge_id(order_id, "prd_00057")
    assert await neptune.read(lambda g: g.E(edge).out_v().id_()) == [CUSTOMER]
    # ... starts from those purchases (prd_00057: cus_0022's 51, 61, 79, 95; prd_00200:
    # cus_0029's 69), and never recommends them back
    (placed,) = await graph.sources.order.orders_by_id([order_id])
    assert placed is not None
    personal = HandRanking(demo, [*demo.orders, placed]).personal(CUSTOMER, 10)
    assert {"prd_00051", "prd_00061", "prd_00069", "prd_00079", "prd_00095"} <= set(personal)
    data = await graph.data(CUSTOMER_RECS, {"id": CUSTOMER, "limit": 10}, as_=me)
    recs = ids(data["customer"]["recommendations"])
    assert recs[: len(personal)] == personal
    assert not {"prd_00057", "prd_00200"} & set(recs)
