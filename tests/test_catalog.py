"""Catalog reads against the seeded demo data, on every engine."""

from __future__ import annotations

from conftest import Graph
from datasources.demo.generate import DemoData

PRODUCT_PAGE = """
query ProductPage($id: ID, $sku: String) {
  product(id: $id, sku: $sku) {
    id name slug attributes
    images { url alt }
    brand { id name }
    category { id name ancestors { id } }
    priceRange(channel: WEB) { min { amount currencyCode } max { amount } }
    variants {
      id sku name attributes
      price(channel: WEB) { price { amount currencyCode } compareAtPrice { amount } }
      stock { locationId quantity reserved available }
      availability(channel: WEB) { quantityAvailable inStock }
    }
  }
}
"""

LISTING = """
query Listing($limit: Int, $nextToken: String, $categoryId: ID) {
  products(filter: {categoryId: $categoryId}, limit: $limit, nextToken: $nextToken) {
    items { id name }
    nextToken
  }
}
"""

CATEGORIES = """
query Roots { categories(limit: 100) { items { id name children(limit: 100) { items { id } } } } }
"""


async def test_product_page_returns_seeded_data(graph: Graph, demo: DemoData) -> None:
    # given
    product = demo.products[7]
    prices = next(p for p in demo.prices if p.product_id == product.id)
    # when
    data = await graph.data(PRODUCT_PAGE, {"id": product.id})
    # then
    got = data["product"]
    assert got["name"] == product.name
    assert [v["sku"] for v in got["variants"]] == [v.sku for v in product.variants]
    first = product.variants[0]
    web = prices.by_variant[first.id]["WEB"]  # type: ignore[index]
    assert got["variants"][0]["price"]["price"] == {
        "amount": f"{web.price.amount:.2f}",
        "currencyCode": "USD",
    }
    assert got["brand"]["id"] == product.brand_id
    assert got["category"]["id"] == product.category_id
    assert isinstance(got["attributes"], str)  # AWSJSON goes out as a JSON string
    assert len(got["variants"][0]["stock"]) == len(demo.locations)


async def test_product_by_sku_is_the_same_product(graph: Graph, demo: DemoData) -> None:
    product = demo.products[3]
    data = await graph.data(PRODUCT_PAGE, {"sku": product.variants[-1].sku})
    assert data["product"]["id"] == product.id


async def test_unknown_product_is_null_with_a_not_found_error(graph: Graph) -> None:
    body = await graph.post(PRODUCT_PAGE, {"id": "prd_nope"})
    assert body["data"] == {"product": None}
    (error,) = body["errors"]
    assert error["errorType"] == "NotFound"
    assert error["path"] == ["product"]
    assert "prd_nope" in error["message"]


async def test_listing_pages_through_every_product_once(graph: Graph, demo: DemoData) -> None:
    # given
    seen: list[str] = []
    token = None
    # when
    while True:
        data = await graph.data(LISTING, {"limit": 100, "nextToken": token})
        seen += [p["id"] for p in data["products"]["items"]]
        token = data["products"]["nextToken"]
        if token is None:
            break
    # then
    assert sorted(seen) == sorted(p.id for p in demo.products)


async def test_category_listing_holds_only_that_category(graph: Graph, demo: DemoData) -> None:
    category_id = demo.products[0].category_id
    data = await graph.data(LISTING, {"limit": 100, "categoryId": category_id})
    expected = {p.id for p in demo.products if p.category_id == category_id}
    assert {p["id"] for p in data["products"]["items"]} == expected


async def test_forged_next_token_is_a_clear_error(graph: Graph) -> None:
    # given a real token, altered by one character
    data = await graph.data(LISTING, {"limit": 5})
    token = data["products"]["nextToken"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    # when
    body = await graph.post(LISTING, {"limit": 5, "nextToken": forged})
    # then
    assert body["data"] is None or body["data"]["products"] is None
    (error,) = body["errors"]
    assert error["errorType"] == "DynamoDB:InvalidNextToken"


async def test_token_of_one_list_is_refused_by_another(graph: Graph, demo: DemoData) -> None:
    data = await graph.data(LISTING, {"limit": 1})
    body = await graph.post(
        LISTING,
        {
            "limit": 1,
            "nextToken": data["products"]["nextToken"],
            "categoryId": demo.products[0].category_id,
        },
    )
    assert body["errors"][0]["errorType"] == "DynamoDB:InvalidNextToken"


async def test_limit_over_100_is_refused(graph: Graph) -> None:
    body = await graph.post(LISTING, {"limit": 101})
    (error,) = body["errors"]
    assert error["errorType"] == "InvalidArgument"
    assert "limit" in error["message"]


async def test_category_tree_has_60_nodes_when_walked(graph: Graph, demo: DemoData) -> None:
    data = await graph.data(CATEGORIES)
    roots = data["categories"]["items"]
    assert {r["id"] for r in roots} == {c.id for c in demo.categories if c.parent_id is None}
    children = {c["id"] for r in roots for c in r["children"]["items"]}
    assert children == {c.id for c in demo.categories if c.parent_id in {r["id"] for r in roots}}
