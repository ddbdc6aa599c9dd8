"""Bad input on the commerce schema: a clear AppSync-shaped error, never a 500 or a trace."""

from __future__ import annotations

import pytest

from conftest import Graph

PRODUCT = "query P($id: ID) { product(id: $id) { id name } }"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"query": ""}', "application/json", 400),
        (b'{"query": "{ product(id: \\"x\\") { id } }"}', "text/plain", 415),
    ],
)
async def test_malformed_requests(
    graph: Graph, body: bytes, content_type: str, status: int
) -> None:
    response = await graph.client.post(
        "/graphql", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert error["message"]
    assert "Traceback" not in response.text


async def test_oversized_body_is_413(graph: Graph) -> None:
    padding = "x" * (graph.settings.max_body_bytes + 1)
    response = await graph.client.post("/graphql", json={"query": f"# {padding}\n{{ __typename }}"})
    assert response.status_code == 413


async def test_unknown_field_reads_like_appsync(graph: Graph) -> None:
    body = await graph.post('{ product(id: "prd_00001") { id colour } }')
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == (
        "Validation error of type FieldUndefined: Field 'colour' in type 'Product' is undefined"
        " @ 'product/colour'"
    )
    assert error["path"] is None
    assert "extensions" not in error


async def test_invalid_scalar_variable(graph: Graph) -> None:
    query = "mutation C($i: CreateCartInput!) { createCart(input: $i) { cart { id } } }"
    body = await graph.post(query, {"i": {"channel": "KIOSK"}})
    assert body["data"] is None
    assert "KIOSK" in body["errors"][0]["message"]


async def test_unparsable_query(graph: Graph) -> None:
    body = await graph.post("{ product(id: ) { id }")
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith("Invalid Syntax")


async def test_unknown_cart_id(graph: Graph) -> None:
    body = await graph.post('query { cart(id: "crt_missing") { id } }')
    assert body["data"] == {"cart": None}
    assert body["errors"][0]["errorType"] == "NotFound"


async def test_no_api_key_is_401_in_appsyncs_shape(graph: Graph) -> None:
    response = await graph.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-api-key": ""}
    )
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["errorType"] == "UnauthorizedException"


async def test_unknown_api_key_is_401(graph: Graph) -> None:
    response = await graph.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"x-api-key": "da2-" + "a" * 26},
    )
    assert response.status_code == 401
