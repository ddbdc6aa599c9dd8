"""AppSync resolver events as others publish and parse them.

- The events the conformance suite builds (tests/appsync_sim.py) parse with AWS Lambda
  Powertools' `AppSyncResolverEvent` into the same type, field, arguments, selection and
  identity class: our builder and Powertools agree on the shape.
- Events in the shapes of Powertools' published samples for Direct Lambda resolvers
  (`tests/events/appSyncDirectResolver.json`: a Cognito identity with its claims and
  CloudFront's headers; `appSyncBatchEvent.json`: a list of events with a minimal identity
  and no `request` or `source`) parse and route in our handler. The values are ours (our
  schema's fields), the keys and nesting are theirs.
- Amplify's `@function` shape (`appSyncResolverEvent.json`: `typeName`/`fieldName` at the top
  level, a `source`, no `info`) for a nested field gets a clear `BadEvent`, not a crash.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aws_lambda_powertools.utilities.data_classes.appsync_resolver_event import (
    AppSyncIdentityCognito,
    AppSyncIdentityIAM,
    AppSyncResolverEvent,
)

from appsync.lambda_handler import BAD_EVENT, LambdaResolver, LambdaResolverError
from appsync_sim import AppSyncFront
from conformance_corpus import CORPUS
from conftest import Graph
from datasources.demo.generate import DemoData
from test_conformance import CaseSetup, as_of

PRODUCT_SELECTION = "{\n  id\n  name\n  brand {\n    name\n  }\n}"
CLOUDFRONT_HEADERS = {
    "x-forwarded-for": "1.1.1.1, 2.2.2.2",
    "cloudfront-viewer-country": "US",
    "cloudfront-is-tablet-viewer": "false",
    "via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
    "cloudfront-forwarded-proto": "https",
    "origin": "https://shop.example.com",
    "content-length": "217",
    "accept-language": "en-US,en;q=0.9",
    "host": "abcdefghijklmnopqrstuvwxyz.appsync-api.us-west-1.amazonaws.com",
    "x-forwarded-proto": "https",
    "user-agent": "Mozilla/5.0",
    "accept": "*/*",
    "cloudfront-is-mobile-viewer": "false",
    "accept-encoding": "gzip, deflate, br",
    "content-type": "application/json",
    "x-amz-cf-id": "3aykhqlUwQeANU-HGY7E_guV5EkNeMMtwyOgiA==",
    "x-amzn-trace-id": "Root=1-5f512f51-fac632066c5e848ae714",
    "authorization": "eyJraWQiOiJScWFCSlJqYVJlM0hrSnBTUFpIcVRXazNOW...",
    "cloudfront-is-desktop-viewer": "true",
    "x-forwarded-port": "443",
}


def direct_resolver_event(product_id: str) -> dict[str, Any]:
    """`appSyncDirectResolver.json`'s shape: Cognito identity with claims, no domainName."""
    sub = "192879fc-a240-4bf1-ab5a-d6a00f3063f9"
    issuer = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_example"
    return {
        "arguments": {"id": product_id},
        "identity": {
            "claims": {
                "sub": sub,
                "email_verified": True,
                "iss": issuer,
                "cognito:username": "jdoe",
                "aud": "7471s60os7h0uu77i1tk27sp9n",
                "token_use": "id",
                "auth_time": 1599154213,
                "exp": 1599157813,
                "iat": 1599154213,
                "email": "jdoe@example.com",
            },
            "defaultAuthStrategy": "ALLOW",
            "groups": None,
            "issuer": issuer,
            "sourceIp": ["1.1.1.1"],
            "sub": sub,
            "username": "jdoe",
        },
        "source": None,
        "request": {"headers": CLOUDFRONT_HEADERS},
        "prev": None,
        "info": {
            "selectionSetList": ["id", "name", "brand", "brand/name"],
            "selectionSetGraphQL": PRODUCT_SELECTION,
            "parentTypeName": "Query",
            "fieldName": "product",
            "variables": {},
        },
        "stash": {},
    }


def batch_item(product_id: str) -> dict[str, Any]:
    """One item of `appSyncBatchEvent.json`: minimal identity, no request, no source."""
    return {
        "arguments": {"id": product_id},
        "identity": {"sub": "192879fc-a240-4bf1-ab5a-d6a00f3063f9", "username": "jdoe"},
        "prev": None,
        "info": {
            "selectionSetList": ["id", "name", "brand", "brand/name"],
            "selectionSetGraphQL": PRODUCT_SELECTION,
            "parentTypeName": "Query",
            "fieldName": "product",
            "variables": {},
        },
        "stash": {},
    }


@pytest.fixture(scope="module")
def resolver(graph: Graph) -> LambdaResolver:
    return LambdaResolver(graph.settings, sources=graph.sources)


async def test_events_built_for_the_corpus_parse_as_powertools_reads_them(
    graph: Graph, resolver: LambdaResolver, demo: DemoData
) -> None:
    front = AppSyncFront(resolver.schema._schema, resolver.resolve, error_types="exception")
    checked = 0
    for case in CORPUS:
        variables = await case.variables(CaseSetup(graph, demo))
        body = orjson.dumps({"query": case.query, "variables": variables})
        as_ = as_of(graph, case.who)
        headers = {**dict(graph.client.headers), **Graph.headers_for(body, as_)}
        caller = await graph.app.state.authenticator.authenticate(headers, body)
        _, planned = front.events_for(case.query, variables, caller)
        for key, node, event in planned:
            parsed = AppSyncResolverEvent(event)
            assert parsed.type_name in {"Query", "Mutation"}
            assert parsed.field_name == node.name.value
            assert parsed.arguments == event["arguments"]
            assert parsed.info.selection_set_list == event["info"]["selectionSetList"]
            assert parsed.info.variables == event["info"]["variables"]
            assert parsed.request_headers.get("content-type") == "application/json"
            expected_identity = {
                "key": type(None),
                "customer": AppSyncIdentityCognito,
                "other": AppSyncIdentityCognito,
                "staff": AppSyncIdentityCognito,
                "device": AppSyncIdentityIAM,
            }[case.who]
            assert isinstance(parsed.identity, expected_identity), (case.name, key)
            checked += 1
    assert checked >= len(CORPUS)


async def test_a_direct_resolver_sample_event_routes_to_its_field(
    graph: Graph, resolver: LambdaResolver, demo: DemoData
) -> None:
    # given
    product = demo.products[3]
    event = direct_resolver_event(product.id)
    over_http = await graph.data(f'{{ product(id: "{product.id}") {PRODUCT_SELECTION} }}')
    # when
    value = await resolver.resolve(event)
    # then
    assert value == over_http["product"]


async def test_a_batch_sample_event_answers_each_item_in_order(
    resolver: LambdaResolver, demo: DemoData
) -> None:
    # given
    ids = [demo.products[5].id, "prd_missing", demo.products[1].id]
    # when
    answers = await resolver.resolve([batch_item(i) for i in ids])
    # then
    assert [a["data"]["id"] if a["data"] else None for a in answers] == [ids[0], None, ids[2]]
    assert [a["errorType"] for a in answers] == [None, "NotFound", None]
    assert answers[1]["errorMessage"] == "No product has id 'prd_missing'."


async def test_an_amplify_function_event_for_a_nested_field_is_a_bad_event(
    resolver: LambdaResolver,
) -> None:
    # given: appSyncResolverEvent.json's shape, on a nested field of ours
    event = {
        "typeName": "Product",
        "fieldName": "variants",
        "arguments": {},
        "identity": None,
        "source": {"id": "prd_00001"},
        "request": {"headers": {"x-forwarded-for": "11.215.2.22"}},
        "prev": {"result": {}},
    }
    # when
    with pytest.raises(LambdaResolverError) as raised:
        await resolver.resolve(event)
    # then
    assert raised.value.error_type == BAD_EVENT
    assert "Product.variants" in raised.value.message
