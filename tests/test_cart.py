"""Cart mutations: validation as userErrors, totals on the server, writes that never get lost."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from conftest import As, Graph, auth_settings_for
from datasources.demo.generate import DemoData
from server import create_app

CART_FIELDS = """
  cart { id channel status totalQuantity
         lines { id quantity variant { id sku } unitPrice { amount } total { amount } }
         totals { net { amount currencyCode } tax { amount } gross { amount } } }
  userErrors { field message code }
"""
CREATE = (
    f"mutation Create($input: CreateCartInput!) {{ createCart(input: $input) {{ {CART_FIELDS} }} }}"
)
ADD = f"""mutation Add($cartId: ID!, $lines: [CartLineInput!]!) {{
  addCartLines(cartId: $cartId, lines: $lines) {{ {CART_FIELDS} }} }}"""
UPDATE = f"""mutation Update($cartId: ID!, $lineId: ID!, $quantity: Int!) {{
  updateCartLine(cartId: $cartId, lineId: $lineId, quantity: $quantity) {{ {CART_FIELDS} }} }}"""
REMOVE = f"""mutation Remove($cartId: ID!, $lineId: ID!) {{
  removeCartLine(cartId: $cartId, lineId: $lineId) {{ {CART_FIELDS} }} }}"""
CART = "query Cart($id: ID!) { cart(id: $id) { id totalQuantity lines { quantity } } }"


def in_stock_variants(demo: DemoData, count: int, minimum: int = 60) -> list[str]:
    """Variants with at least `minimum` units across the WEB warehouses."""
    web = {loc.id for loc in demo.locations if "WEB" in loc.channels}
    out = []
    for stock in demo.stock:
        for variant_id, levels in stock.by_variant.items():
            if sum(lv.available for loc, lv in levels.items() if loc in web) >= minimum:
                out.append(variant_id)
                if len(out) == count:
                    return out
    raise AssertionError("demo data has too little stock")


async def new_cart(graph: Graph) -> str:
    data = await graph.data(CREATE, {"input": {"channel": "WEB"}})
    assert data["createCart"]["userErrors"] == []
    cart_id: str = data["createCart"]["cart"]["id"]
    return cart_id


async def test_add_update_remove_with_server_totals(graph: Graph, demo: DemoData) -> None:
    # given
    a, b = in_stock_variants(demo, 2)
    cart_id = await new_cart(graph)
    # when
    added = (
        await graph.data(
            ADD,
            {
                "cartId": cart_id,
                "lines": [{"variantId": a, "quantity": 2}, {"variantId": b, "quantity": 1}],
            },
        )
    )["addCartLines"]
    line_a = added["cart"]["lines"][0]
    updated = (
        await graph.data(UPDATE, {"cartId": cart_id, "lineId": line_a["id"], "quantity": 5})
    )["updateCartLine"]
    line_b = updated["cart"]["lines"][1]
    removed = (await graph.data(REMOVE, {"cartId": cart_id, "lineId": line_b["id"]}))[
        "removeCartLine"
    ]
    # then
    assert added["userErrors"] == []
    assert added["cart"]["totalQuantity"] == 3
    net = sum(Decimal(ln["total"]["amount"]) for ln in added["cart"]["lines"])
    assert Decimal(added["cart"]["totals"]["net"]["amount"]) == net
    totals = {k: Decimal(v["amount"]) for k, v in added["cart"]["totals"].items()}
    # The default tax source is the sandbox: a WEB cart without a country is taxed in the US.
    assert totals["tax"] > 0
    assert totals["gross"] == totals["net"] + totals["tax"]
    assert updated["cart"]["lines"][0]["quantity"] == 5
    assert [ln["variant"]["id"] for ln in removed["cart"]["lines"]] == [a]
    unit = Decimal(removed["cart"]["lines"][0]["unitPrice"]["amount"])
    assert Decimal(removed["cart"]["totals"]["net"]["amount"]) == unit * 5


async def test_adding_the_same_variant_grows_its_line(graph: Graph, demo: DemoData) -> None:
    (a,) = in_stock_variants(demo, 1)
    cart_id = await new_cart(graph)
    for _ in range(2):
        await graph.data(ADD, {"cartId": cart_id, "lines": [{"variantId": a, "quantity": 1}]})
    data = await graph.data(CART, {"id": cart_id})
    assert data["cart"]["lines"] == [{"quantity": 2}]


async def test_bad_lines_are_user_errors_and_write_nothing(graph: Graph, demo: DemoData) -> None:
    # given
    (a,) = in_stock_variants(demo, 1)
    cart_id = await new_cart(graph)
    # when
    data = await graph.data(
        ADD,
        {
            "cartId": cart_id,
            "lines": [
                {"variantId": a, "quantity": 1},
                {"variantId": "var_missing", "quantity": 1},
                {"variantId": a, "quantity": 0},
            ],
        },
    )
    # then
    errors = data["addCartLines"]["userErrors"]
    assert {(e["code"], tuple(e["field"])) for e in errors} == {
        ("VARIANT_NOT_FOUND", ("lines", "1", "variantId")),
        ("INVALID", ("lines", "2", "quantity")),
    }
    assert data["addCartLines"]["cart"] is None
    assert (await graph.data(CART, {"id": cart_id}))["cart"]["totalQuantity"] == 0


async def test_more_than_the_stock_is_refused(graph: Graph, demo: DemoData) -> None:
    (a,) = in_stock_variants(demo, 1)
    cart_id = await new_cart(graph)
    data = await graph.data(ADD, {"cartId": cart_id, "lines": [{"variantId": a, "quantity": 999}]})
    assert [e["code"] for e in data["addCartLines"]["userErrors"]] == ["INSUFFICIENT_STOCK"]


async def test_unknown_cart_is_a_user_error(graph: Graph, demo: DemoData) -> None:
    (a,) = in_stock_variants(demo, 1)
    data = await graph.data(ADD, {"cartId": "crt_nope", "lines": [{"variantId": a, "quantity": 1}]})
    assert [e["code"] for e in data["addCartLines"]["userErrors"]] == ["NOT_FOUND"]


async def test_pos_cart_needs_a_store(graph: Graph) -> None:
    data = await graph.data(CREATE, {"input": {"channel": "POS"}}, as_=As(device=True))
    assert [e["field"] for e in data["createCart"]["userErrors"]] == [["locationId"]]


async def test_50_concurrent_adds_to_one_cart_all_land(graph: Graph, demo: DemoData) -> None:
    # given: 50 distinct variants, each with stock
    variants = in_stock_variants(demo, 50, minimum=1)
    cart_id = await new_cart(graph)
    # when
    results = await asyncio.gather(
        *(
            graph.data(ADD, {"cartId": cart_id, "lines": [{"variantId": v, "quantity": 1}]})
            for v in variants
        )
    )
    # then
    refused = [r["addCartLines"]["userErrors"] for r in results if r["addCartLines"]["userErrors"]]
    assert refused == []
    cart = (await graph.data(CART, {"id": cart_id}))["cart"]
    assert cart["totalQuantity"] == 50
    assert len(cart["lines"]) == 50


async def test_writers_in_two_processes_never_lose_a_line(graph: Graph, demo: DemoData) -> None:
    # given: a second server on the same tables, with its own in-process locks as another
    # process has, so only the version condition keeps the two apart
    other = create_app(graph.settings, auth_settings=auth_settings_for(graph.cognito))
    variants = in_stock_variants(demo, 40, minimum=1)
    cart_id = await new_cart(graph)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://other", headers=graph.client.headers
        ) as client:

            async def add_elsewhere(variant: str) -> dict[str, Any]:
                lines = [{"variantId": variant, "quantity": 1}]
                response = await client.post(
                    "/graphql",
                    json={"query": ADD, "variables": {"cartId": cart_id, "lines": lines}},
                )
                body: dict[str, Any] = response.json()
                return body["data"]

            # when
            results = await asyncio.gather(
                *(
                    graph.data(ADD, {"cartId": cart_id, "lines": [{"variantId": v, "quantity": 1}]})
                    if n % 2
                    else add_elsewhere(v)
                    for n, v in enumerate(variants)
                )
            )
    # then
    assert [r["addCartLines"]["userErrors"] for r in results] == [[]] * 40
    cart = (await graph.data(CART, {"id": cart_id}))["cart"]
    assert cart["totalQuantity"] == 40
