"""AppSync Direct Lambda resolver events (APPSYNC.md §4) run against the graph in process."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from appsync import lambda_handler
from appsync.auth import AuthMode
from appsync.lambda_handler import (
    LAMBDA_UNHANDLED,
    BadEventError,
    LambdaResolver,
    LambdaResolverError,
    caller_from_event,
    operation_from_event,
)
from conftest import Graph
from datasources.demo.generate import DemoData

PRODUCT_SELECTION = """{
  id
  name
  brand {
    name
  }
  category {
    name
  }
  variants {
    sku
    price(channel: $channel) {
      price {
        amount
      }
    }
    stock {
      available
    }
  }
}"""
CART_SELECTION = """{
  cart {
    id
    channel
    status
    totalQuantity
  }
  userErrors {
    field
    message
  }
}"""
COGNITO_IDENTITY = {
    "sub": "8f0c-cus_0001",
    "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test",
    "username": "cus_0001",
    "claims": {"cognito:username": "cus_0001"},
    "sourceIp": ["1.2.3.4"],
    "defaultAuthStrategy": "ALLOW",
    "groups": None,
}


def event(
    parent: str,
    field: str,
    arguments: dict[str, Any],
    selection: str,
    *,
    variables: dict[str, Any] | None = None,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event shaped as AppSync sends a Direct Lambda resolver (§4.1)."""
    return {
        "arguments": arguments,
        "identity": identity,
        "source": None,
        "request": {
            "headers": {
                "host": "example.appsync-api.us-east-1.amazonaws.com",
                "x-forwarded-for": "1.1.1.1, 2.2.2.2",
                "content-type": "application/json",
            },
            "domainName": None,
        },
        "prev": None,
        "info": {
            "selectionSetList": [],
            "selectionSetGraphQL": selection,
            "parentTypeName": parent,
            "fieldName": field,
            "variables": variables or {},
        },
        "stash": {},
    }


def product_event(product_id: str) -> dict[str, Any]:
    return event(
        "Query", "product", {"id": product_id}, PRODUCT_SELECTION, variables={"channel": "WEB"}
    )


@pytest.fixture
def resolver(graph: Graph) -> LambdaResolver:
    return LambdaResolver(graph.settings, sources=graph.sources)


async def test_query_product_matches_the_http_answer(
    graph: Graph, resolver: LambdaResolver, demo: DemoData
) -> None:
    # given
    product_id = demo.products[0].id
    over_http = await graph.data(
        f'query($channel: Channel!) {{ product(id: "{product_id}") {PRODUCT_SELECTION} }}',
        {"channel": "WEB"},
    )
    # when
    value = await resolver.resolve(product_event(product_id))
    # then
    assert value == over_http["product"]
    assert value["id"] == product_id


async def test_mutation_create_cart_takes_enum_and_input_arguments(
    resolver: LambdaResolver,
) -> None:
    # when
    value = await resolver.resolve(
        event("Mutation", "createCart", {"input": {"channel": "WEB"}}, CART_SELECTION)
    )
    # then
    assert value["userErrors"] == []
    assert value["cart"]["channel"] == "WEB"
    assert value["cart"]["totalQuantity"] == 0


async def test_unknown_id_fails_with_the_field_errortype(resolver: LambdaResolver) -> None:
    # when
    with pytest.raises(LambdaResolverError) as failed:
        await resolver.resolve(product_event("prod_does_not_exist"))
    # then: what the HTTP edge would put in the field's error entry (§3.5: the field is null)
    assert failed.value.error_type == "NotFound"
    assert failed.value.message == "No product has id 'prod_does_not_exist'."
    assert failed.value.errors[0]["path"] == ["product"]
    assert type(failed.value.for_runtime("exception")).__name__ == "NotFound"


async def test_unknown_field_fails_the_invocation(resolver: LambdaResolver) -> None:
    # when
    with pytest.raises(LambdaResolverError) as failed:
        await resolver.resolve(event("Query", "product", {"id": "x"}, "{\n  id\n  nope\n}"))
    # then
    assert "nope" in failed.value.message
    assert failed.value.errors[0]["path"] is None  # a validation error, as AppSync shapes it


async def test_unauthorized_root_field_fails_with_errortype(resolver: LambdaResolver) -> None:
    # given: Query.customer admits no API key, and an API key's identity is null (§4.2)
    customer = event("Query", "customer", {"id": "cus_0001"}, "{\n  id\n}")
    # when
    with pytest.raises(LambdaResolverError) as failed:
        await resolver.resolve(customer)
    # then
    assert failed.value.error_type == "Unauthorized"
    assert failed.value.message == "Not Authorized to access customer on type Query"
    runtime = failed.value.for_runtime("exception")
    assert type(runtime).__name__ == "Unauthorized"  # what the Lambda runtime reports
    assert type(failed.value.for_runtime("unhandled")).__name__ == LAMBDA_UNHANDLED


async def test_cognito_identity_reaches_authorization_and_the_actor(
    resolver: LambdaResolver,
) -> None:
    # given
    customer = event(
        "Query", "customer", {"id": "cus_0001"}, "{\n  id\n}", identity=COGNITO_IDENTITY
    )
    # when
    value = await resolver.resolve(customer)
    # then
    assert value == {"id": "cus_0001"}


def test_caller_from_each_identity_shape() -> None:
    iam = {"accountId": "1", "userArn": "arn:aws:iam::1:user/x", "username": "x", "sourceIp": []}
    cases = {
        None: AuthMode.API_KEY,
        "iam": AuthMode.AWS_IAM,
        "cognito": AuthMode.AMAZON_COGNITO_USER_POOLS,
        "oidc": AuthMode.OPENID_CONNECT,
        "lambda": AuthMode.AWS_LAMBDA,
    }
    identities: dict[str | None, dict[str, Any] | None] = {
        None: None,
        "iam": iam,
        "cognito": COGNITO_IDENTITY,
        "oidc": {"sub": "s", "issuer": "https://idp.example", "claims": {}},
        "lambda": {"resolverContext": {"customerId": "cus_0001"}},
    }
    for name, mode in cases.items():
        caller = caller_from_event(event("Query", "product", {}, "", identity=identities[name]))
        assert caller.mode is mode, name
    cognito = caller_from_event(event("Query", "product", {}, "", identity=COGNITO_IDENTITY))
    assert cognito.source_ip == "1.2.3.4"
    anonymous = caller_from_event(event("Query", "product", {}, ""))
    assert anonymous.source_ip == "1.1.1.1"  # from x-forwarded-for


def test_the_rebuilt_operation_declares_arguments_and_variables(
    resolver: LambdaResolver,
) -> None:
    operation = operation_from_event(resolver.schema, product_event("p1"))
    assert "query Lambda_Query_product($lambdaArg_id: ID, $channel: Channel!)" in operation.document
    assert operation.variables == {"lambdaArg_id": "p1", "channel": "WEB"}


def test_events_of_one_shape_share_the_rebuilt_document(resolver: LambdaResolver) -> None:
    # given: AppSync sends one resolver the same selection set with new values every time
    first = product_event("p1")
    second = event(
        "Query", "product", {"id": "p2"}, PRODUCT_SELECTION, variables={"channel": "POS"}
    )
    other_shape = event("Query", "product", {"id": "p3"}, "{ id name }")
    lambda_handler._template.cache_clear()  # earlier tests sent these shapes too
    parses = Counter[str]()
    real_parse = lambda_handler.parse

    def counting_parse(source: Any, **kwargs: Any) -> Any:
        parses[str(source)] += 1
        return real_parse(source, **kwargs)

    # when
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lambda_handler, "parse", counting_parse)
        one = operation_from_event(resolver.schema, first)
        two = operation_from_event(resolver.schema, second)
        three = operation_from_event(resolver.schema, other_shape)
        again = operation_from_event(resolver.schema, first)
    # then: one document per shape, each event with its own values
    assert two.document == one.document == again.document
    assert two.variables == {"lambdaArg_id": "p2", "channel": "POS"}
    assert again.variables == {"lambdaArg_id": "p1", "channel": "WEB"}
    assert three.document != one.document
    assert three.variables == {"lambdaArg_id": "p3"}
    assert parses == {PRODUCT_SELECTION: 1, "{ id name }": 1}
    # and a bad event fails every time, not once
    for _ in range(2):
        with pytest.raises(BadEventError, match="has no argument nope"):
            operation_from_event(resolver.schema, event("Query", "product", {"nope": "x"}, ""))


async def test_events_for_other_than_root_fields_are_refused(resolver: LambdaResolver) -> None:
    with pytest.raises(BadEventError):
        await resolver.resolve(event("Product", "brand", {}, "{ name }"))


async def calls_for_batch(graph: Graph, resolver: LambdaResolver, ids: list[str]) -> Counter[str]:
    calls = graph.sources.dynamo.calls
    before = Counter(calls)
    results = await resolver.resolve([product_event(i) for i in ids])
    assert [r["data"]["id"] for r in results] == ids  # in order
    assert all(r["errorMessage"] is None for r in results)
    return Counter(calls) - before


async def test_batch_invoke_costs_what_one_event_costs(
    graph: Graph, resolver: LambdaResolver, demo: DemoData
) -> None:
    # given
    ids = [p.id for p in demo.products]
    # when
    one = await calls_for_batch(graph, resolver, ids[:1])
    ten = await calls_for_batch(graph, resolver, ids[1:11])
    hundred = await calls_for_batch(graph, resolver, ids[11:111])
    # then
    print(f"{graph.engine}: 1 -> {dict(one)}, 10 -> {dict(ten)}, 100 -> {dict(hundred)}")
    assert ten == one
    assert hundred == one
    assert set(one) == {"batch_get_item"}


async def test_batch_invoke_errors_are_per_item(resolver: LambdaResolver, demo: DemoData) -> None:
    # given
    unauthorized = event("Query", "customer", {"id": "cus_0001"}, "{\n  id\n}")
    events = [product_event(demo.products[0].id), unauthorized, product_event("nope")]
    # when
    results = await resolver.resolve(events)
    # then
    assert results[0]["data"]["id"] == demo.products[0].id
    assert results[1] == {
        "data": None,
        "errorMessage": "Not Authorized to access customer on type Query",
        "errorType": "Unauthorized",
        "errorInfo": None,
    }
    assert results[2] == {
        "data": None,
        "errorMessage": "No product has id 'nope'.",
        "errorType": "NotFound",
        "errorInfo": None,
    }


def test_handler_reports_the_errortype_as_the_exception_class(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the container's resolver (its sources are not touched by a refused event)
    import appsync.lambda_handler as module

    monkeypatch.setattr(module, "_resolver", LambdaResolver(graph.settings, sources=graph.sources))
    # when
    with pytest.raises(LambdaResolverError) as failed:
        module.handler(event("Product", "brand", {}, "{ name }"), None)
    # then: the Lambda runtime reports type(exc).__name__ as errorType
    assert type(failed.value).__name__ == "BadEvent"


def test_the_default_auth_mode_comes_from_cg_auth_default_mode(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an API whose default mode is Cognito (no user pool settings: AppSync holds them)
    monkeypatch.setenv("CG_AUTH_DEFAULT_MODE", "AMAZON_COGNITO_USER_POOLS")
    # when
    resolver = LambdaResolver(graph.settings, sources=graph.sources)
    # then
    assert resolver.authorization.default_mode is AuthMode.AMAZON_COGNITO_USER_POOLS
    assert (
        LambdaResolver(
            graph.settings, sources=graph.sources, default_mode="AWS_IAM"
        ).authorization.default_mode
        is AuthMode.AWS_IAM
    )


def test_the_errortype_mapping_is_a_setting(graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("CG_LAMBDA_ERROR_TYPES", "unhandled")
    # when
    resolver = LambdaResolver(graph.settings, sources=graph.sources)
    error = LambdaResolverError("No product has id 'x'.", "NotFound")
    # then
    assert resolver.error_types == "unhandled"
    assert type(error.for_runtime(resolver.error_types)).__name__ == LAMBDA_UNHANDLED
    assert LambdaResolver(graph.settings, sources=graph.sources).error_types == "unhandled"
    monkeypatch.delenv("CG_LAMBDA_ERROR_TYPES")
    assert LambdaResolver(graph.settings, sources=graph.sources).error_types == "exception"
