"""The AppSync HTTP edge: statuses, bodies and GraphiQL, against a small schema of its own."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.extensions import ParserCache, ValidationCache

from appsync.errors import AppSyncError, UnauthorizedError
from appsync.http import GraphQLEndpoint

MAX_BODY_BYTES = 4096
API_KEY = "da2-testapikey0123456789abcdefgh"

HELLO = "query Hello($name: String) { hello(name: $name) }"
TWO_OPERATIONS = "query A { hello } query B { hello }"
PARTIAL = "{ hello failing }"
SOLD_OUT = 'mutation { reserve(sku: "A-1") }'
LEAKY = "{ leaky }"
UNKNOWN_FIELD = "{ hello nope }"
BROKEN_SYNTAX = "{ hello "
TICKS = "subscription { ticks }"
INTROSPECTION = "{ __schema { queryType { name } } }"


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str | None = None) -> str:
        return f"Hello {name or 'world'}"

    @strawberry.field
    def failing(self) -> str | None:
        raise AppSyncError("Source down", "ERP:CircuitOpen")

    @strawberry.field
    def leaky(self) -> str | None:
        raise RuntimeError("connect to db.internal:5432 as admin/hunter2 failed")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def reserve(self, sku: str) -> str | None:
        raise AppSyncError(
            "Sold out", "Inventory:SoldOut", {"sku": sku, "price": Decimal("9.99")}, {"left": 0}
        )


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncIterator[int]:
        yield 1


SCHEMA = strawberry.Schema(
    Query,
    Mutation,
    Subscription,
    extensions=[lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)],
)


async def plain_context(request: Request) -> dict[str, Any]:
    return {"request": request}


async def locked_context(request: Request) -> dict[str, Any]:
    if request.headers.get("x-api-key") != API_KEY:
        raise UnauthorizedError("Valid authorization header not provided.")
    return {"request": request}


async def broken_context(request: Request) -> dict[str, Any]:
    raise RuntimeError("context wiring bug: secret-token-123")


def make_client(context_getter: Any = plain_context, *, graphiql: bool = True) -> httpx.AsyncClient:
    endpoint = GraphQLEndpoint(
        SCHEMA,
        context_getter=context_getter,
        max_body_bytes=MAX_BODY_BYTES,
        graphiql=graphiql,
        graphiql_headers={"x-api-key": API_KEY},
    )
    app = Starlette(routes=[Route("/graphql", endpoint)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        yield client


def assert_refused(response: httpx.Response, status: int, error_type: str) -> str:
    """The AppSync body of a refused request; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-amzn-errortype"] == error_type
    body = response.json()
    assert list(body) == ["errors"]
    [entry] = body["errors"]
    assert list(entry) == ["errorType", "message"]
    assert entry["errorType"] == error_type
    message: str = entry["message"]
    assert message
    return message


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in all_keys(item)}
    return set()


# --- 200 --------------------------------------------------------------------------------


async def test_query_answers_with_data_and_no_errors_key(client: httpx.AsyncClient) -> None:
    # given
    payload = {"query": HELLO, "variables": {"name": "Ada"}, "operationName": "Hello"}

    # when
    response = await client.post("/graphql", json=payload)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["x-amzn-requestid"]
    assert response.json() == {"data": {"hello": "Hello Ada"}}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
async def test_json_content_type_may_carry_a_utf8_charset(
    client: httpx.AsyncClient, content_type: str
) -> None:
    # given
    body = json.dumps({"query": HELLO})

    # when
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello world"}}


@pytest.mark.parametrize("empty", [None, {}, ""], ids=["null", "object", "empty-string"])
async def test_null_variables_and_operation_name_are_absent(
    client: httpx.AsyncClient, empty: Any
) -> None:
    # given
    payload = {"query": HELLO, "variables": empty or None, "operationName": empty or None}

    # when
    response = await client.post("/graphql", json=payload)

    # then
    assert response.json() == {"data": {"hello": "Hello world"}}


async def test_parse_error_is_200_with_null_data(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": BROKEN_SYNTAX})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "path": None,
                "locations": [{"line": 1, "column": 9, "sourceName": None}],
                "message": "Invalid Syntax : offending token '<EOF>' at line 1 column 9",
            }
        ],
    }


async def test_validation_error_is_200_with_null_data(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": UNKNOWN_FIELD})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "path": None,
                "locations": [{"line": 1, "column": 9, "sourceName": None}],
                "message": "Validation error of type FieldUndefined: Field 'nope' in type"
                " 'Query' is undefined @ 'nope'",
            }
        ],
    }


async def test_unknown_operation_name_is_a_request_error(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": HELLO, "operationName": "Nope"})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [{"path": None, "locations": None, "message": "Unknown operation named 'Nope'."}],
    }


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": TWO_OPERATIONS})

    # then
    [entry] = response.json()["errors"]
    assert entry["message"] == "Must provide operation name if query contains multiple operations."


async def test_subscription_over_http_is_an_unsupported_operation(
    client: httpx.AsyncClient,
) -> None:
    # when
    response = await client.post("/graphql", json={"query": TICKS})

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [entry] = body["errors"]
    assert entry["errorType"] == "UnsupportedOperation"
    assert list(entry) == ["path", "data", "errorType", "errorInfo", "locations", "message"]


async def test_resolver_error_keeps_sibling_data(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": PARTIAL})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": {"hello": "Hello world", "failing": None},
        "errors": [
            {
                "path": ["failing"],
                "data": None,
                "errorType": "ERP:CircuitOpen",
                "errorInfo": None,
                "locations": [{"line": 1, "column": 9, "sourceName": None}],
                "message": "Source down",
            }
        ],
    }


async def test_error_data_is_serialised_with_decimals(client: httpx.AsyncClient) -> None:
    # when
    response = await client.post("/graphql", json={"query": SOLD_OUT})

    # then
    [entry] = response.json()["errors"]
    assert entry["data"] == {"sku": "A-1", "price": 9.99}
    assert entry["errorInfo"] == {"left": 0}


async def test_unexpected_resolver_exception_does_not_leak(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # when
    with caplog.at_level(logging.ERROR, logger="appsync.errors"):
        response = await client.post("/graphql", json={"query": LEAKY})

    # then
    assert response.status_code == 200
    assert "hunter2" not in response.text
    assert "db.internal" not in response.text
    [entry] = response.json()["errors"]
    assert entry["errorType"] == "InternalFailure"
    assert entry["path"] == ["leaky"]
    [record] = [r for r in caplog.records if r.name == "appsync.errors"]
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"query": HELLO}, id="data"),
        pytest.param({"query": PARTIAL}, id="field-error"),
        pytest.param({"query": LEAKY}, id="unexpected"),
        pytest.param({"query": UNKNOWN_FIELD}, id="validation"),
        pytest.param({"query": BROKEN_SYNTAX}, id="syntax"),
        pytest.param({"query": TICKS}, id="subscription"),
        pytest.param({"query": INTROSPECTION}, id="introspection"),
        pytest.param({"query": 5}, id="malformed"),
    ],
)
async def test_no_response_has_extensions(
    client: httpx.AsyncClient, payload: dict[str, Any]
) -> None:
    # when
    response = await client.post("/graphql", json=payload)

    # then
    assert "extensions" not in all_keys(response.json())


# --- 400 --------------------------------------------------------------------------------


MALFORMED_BODIES = [
    pytest.param(b"{not json", "The request body is not valid JSON.", id="not-json"),
    pytest.param(b"", "The request body is not valid JSON.", id="empty"),
    pytest.param(
        b'[{"query": "{ hello }"}]',
        "Batched requests are not supported; send one JSON object per request.",
        id="batch",
    ),
    pytest.param(b'"{ hello }"', "The request body must be a JSON object.", id="not-object"),
    pytest.param(b"{}", "The request body has no 'query'.", id="no-query"),
    pytest.param(b'{"query": null}', "The request body has no 'query'.", id="null-query"),
    pytest.param(b'{"query": 5}', "'query' must be a string.", id="query-number"),
    pytest.param(b'{"query": "  "}', "'query' must not be empty.", id="blank-query"),
    pytest.param(
        b'{"query": "{ hello }", "variables": "{}"}',
        "'variables' must be a JSON object.",
        id="variables-string",
    ),
    pytest.param(
        b'{"query": "{ hello }", "variables": []}',
        "'variables' must be a JSON object.",
        id="variables-list",
    ),
    pytest.param(
        b'{"query": "{ hello }", "operationName": 5}',
        "'operationName' must be a string.",
        id="operation-name-number",
    ),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED_BODIES)
async def test_malformed_request_is_400(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    # when
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    # then
    assert assert_refused(response, 400, "MalformedHttpRequestException") == message


# --- 401, 500 from the context ----------------------------------------------------------


async def test_request_error_from_context_getter_sets_the_status() -> None:
    # given
    async with make_client(locked_context) as client:
        # when
        refused = await client.post("/graphql", json={"query": HELLO})
        allowed = await client.post(
            "/graphql", json={"query": HELLO}, headers={"x-api-key": API_KEY}
        )

    # then
    message = assert_refused(refused, 401, "UnauthorizedException")
    assert message == "Valid authorization header not provided."
    assert allowed.json() == {"data": {"hello": "Hello world"}}


async def test_edge_failure_is_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    # given
    async with make_client(broken_context) as client:
        # when
        with caplog.at_level(logging.ERROR, logger="appsync.http"):
            response = await client.post("/graphql", json={"query": HELLO})

    # then
    assert_refused(response, 500, "InternalFailureException")
    assert "secret-token-123" not in response.text
    assert "Traceback" not in response.text
    assert any(record.exc_info for record in caplog.records if record.name == "appsync.http")


# --- 405 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "accept"),
    [
        ("GET", "application/json"),
        ("GET", "*/*"),
        ("PUT", "text/html"),
        ("DELETE", "*/*"),
        ("PATCH", "application/json"),
        ("OPTIONS", "*/*"),
    ],
)
async def test_other_methods_are_405(client: httpx.AsyncClient, method: str, accept: str) -> None:
    # when
    response = await client.request(method, "/graphql", headers={"accept": accept})

    # then
    message = assert_refused(response, 405, "MethodNotAllowedException")
    assert method in message
    assert response.headers["allow"] == "GET, POST"


async def test_get_html_is_405_when_graphiql_is_off() -> None:
    # given
    async with make_client(graphiql=False) as client:
        # when
        response = await client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert_refused(response, 405, "MethodNotAllowedException")
    assert response.headers["allow"] == "POST"


# --- 413 --------------------------------------------------------------------------------


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    # given
    body = json.dumps({"query": HELLO, "variables": {"name": "x" * MAX_BODY_BYTES}})

    # when
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    # then
    message = assert_refused(response, 413, "PayloadTooLargeException")
    assert str(MAX_BODY_BYTES) in message


async def test_streamed_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    # given: no Content-Length, 100 chunks of 1 KiB
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            sent.append(index)
            yield b" " * 1024

    # when
    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    # then
    assert_refused(response, 413, "PayloadTooLargeException")
    assert len(sent) <= MAX_BODY_BYTES // 1024 + 2


async def test_understated_content_length_is_not_trusted(client: httpx.AsyncClient) -> None:
    # given
    body = json.dumps({"query": HELLO, "variables": {"name": "x" * MAX_BODY_BYTES}}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    # when
    response = await client.post(
        "/graphql",
        content=chunks(),
        headers={"content-type": "application/json", "content-length": "20"},
    )

    # then
    assert_refused(response, 413, "PayloadTooLargeException")


# --- 415 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/graphql",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ],
)
async def test_other_media_types_are_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    # given
    headers = {"content-type": content_type} if content_type else {}

    # when
    response = await client.post("/graphql", content=json.dumps({"query": HELLO}), headers=headers)

    # then
    assert_refused(response, 415, "UnsupportedMediaTypeException")


# --- GraphiQL ---------------------------------------------------------------------------


async def test_graphiql_page_prefills_the_api_key_header(client: httpx.AsyncClient) -> None:
    # when
    response = await client.get("/graphql", headers={"accept": "text/html,*/*;q=0.8"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    prefilled = json.dumps(json.dumps({"x-api-key": API_KEY}, indent=2))
    assert f"React.useState(parameters.headers || {prefilled})" in response.text


async def test_graphiql_headers_cannot_break_out_of_the_script() -> None:
    # given
    endpoint = GraphQLEndpoint(
        SCHEMA,
        context_getter=plain_context,
        max_body_bytes=MAX_BODY_BYTES,
        graphiql=True,
        graphiql_headers={"x-note": "</script><script>alert(1)</script>"},
    )
    app = Starlette(routes=[Route("/graphql", endpoint)])

    # when
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert "alert(1)" in response.text
    assert "<script>alert(1)" not in response.text


# --- construction -----------------------------------------------------------------------


def test_schema_without_parse_and_validation_caches_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    bare = strawberry.Schema(Query)

    # when
    with caplog.at_level(logging.WARNING, logger="appsync.http"):
        GraphQLEndpoint(bare, context_getter=plain_context, max_body_bytes=1, graphiql=False)

    # then
    [record] = [r for r in caplog.records if r.name == "appsync.http"]
    assert "ParserCache or ValidationCache" in record.getMessage()


def test_max_body_bytes_must_be_positive() -> None:
    # when / then
    with pytest.raises(ValueError, match="max_body_bytes"):
        GraphQLEndpoint(SCHEMA, context_getter=plain_context, max_body_bytes=0, graphiql=False)
