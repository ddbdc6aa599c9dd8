"""PER_RESOLVER_CACHING on the commerce schema: cached reads, evicted by the cart mutations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from appsync.settings import EdgeSettings
from conftest import Graph, auth_settings_for
from datasources.demo.generate import DemoData
from server import create_app
from test_cart import ADD, CART, CREATE, in_stock_variants


@pytest.fixture
async def cached(graph: Graph) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A second app on the same tables with the API cache on (in memory)."""
    app = create_app(
        graph.settings,
        auth_settings=auth_settings_for(graph.cognito),
        edge_settings=EdgeSettings(caching="PER_RESOLVER_CACHING"),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://cached", headers=graph.client.headers
        ) as client:
            yield client, app.state.sources.dynamo


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


async def test_cart_reads_are_cached_and_mutations_evict_them(
    cached: tuple[httpx.AsyncClient, Any], demo: DemoData
) -> None:
    # given
    client, dynamo = cached
    (variant,) = in_stock_variants(demo, 1)
    cart_id = (await post(client, CREATE, {"input": {"channel": "WEB"}}))["createCart"]["cart"][
        "id"
    ]
    await post(client, CART, {"id": cart_id})  # fills the cache
    # when: a second read, then a mutation and a third read
    before = sum(dynamo.calls.values())
    second = await post(client, CART, {"id": cart_id})
    served_from_cache = sum(dynamo.calls.values()) == before
    await post(client, ADD, {"cartId": cart_id, "lines": [{"variantId": variant, "quantity": 2}]})
    third = await post(client, CART, {"id": cart_id})
    # then
    assert served_from_cache
    assert second["cart"]["totalQuantity"] == 0
    assert third["cart"]["totalQuantity"] == 2  # not the stale cached cart
