"""No N+1: the DynamoDB calls a query makes do not grow with the number of items."""

from __future__ import annotations

from collections import Counter

from conftest import Graph
from datasources.demo.generate import DemoData

LISTING_WITH_EVERYTHING = """
query Listing($limit: Int!) {
  products(limit: $limit) {
    items {
      id name
      brand { name }
      category { name }
      variants {
        sku
        price(channel: WEB) { price { amount currencyCode } compareAtPrice { amount } }
        stock { locationId available }
        availability(channel: WEB) { quantityAvailable }
      }
    }
    nextToken
  }
}
"""

PRODUCT_PAGE = """
query Page($id: ID!) {
  product(id: $id) {
    name brand { name } category { name }
    variants { sku price(channel: POS) { price { amount } } stock { available }
               availability(channel: POS, locationId: "loc_04") { quantityAvailable } }
  }
}
"""


async def calls_for(graph: Graph, query: str, variables: dict[str, object]) -> Counter[str]:
    # Warm the API-key cache first: the key's lookup is per caller and few seconds, not per query.
    await graph.data("{ __typename }")
    calls = graph.sources.dynamo.calls
    before = Counter(calls)
    await graph.data(query, variables)
    return Counter(calls) - before


async def test_listing_of_10_and_100_products_make_the_same_calls(graph: Graph) -> None:
    # when
    ten = await calls_for(graph, LISTING_WITH_EVERYTHING, {"limit": 10})
    hundred = await calls_for(graph, LISTING_WITH_EVERYTHING, {"limit": 100})
    # then: one query for the page, one batch each for brands, categories, prices, stock,
    # and one read of the locations that serve the channel
    assert ten == hundred
    assert ten == Counter({"query": 2, "batch_get_item": 4})


async def test_product_page_calls_are_counted(graph: Graph, demo: DemoData) -> None:
    calls = await calls_for(graph, PRODUCT_PAGE, {"id": demo.products[0].id})
    assert sum(calls.values()) <= 6
    assert calls["batch_get_item"] >= 1
