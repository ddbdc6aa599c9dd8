"""Conformance: every document of the corpus answers alike through the HTTP server and
through the Lambda handler behind (simulated) AppSync Direct Lambda resolvers.

Both runtimes share the engines and the demo data; each run gets its own fresh carts and
idempotency keys from the case's setup. Values minted per run (ids, numbers, timestamps) are
compared by position: the n-th distinct fresh value of one answer must sit where the n-th of
the other does.

The one documented difference (appsync/lambda_handler.py, docs/deploy.md): a Direct Lambda
resolver either returns a value or fails, so a root field with an error anywhere under it
arrives as that field null with one error at the root field (the first error's message and
errorType, errorInfo and data null), where the HTTP server keeps the partial data and the
nested path. `through_direct_lambda` derives that view from the HTTP answer; everything
else must be equal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from graphql import (
    FieldNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    get_operation_ast,
    parse,
    visit,
)

from appsync.lambda_handler import LambdaResolver
from appsync_sim import AppSyncFront, location
from conformance_corpus import CORPUS, Case, Setup, Who
from conftest import CUSTOMER, OTHER_CUSTOMER, STAFF, As, Graph
from datasources.demo.generate import DemoData
from test_cart import in_stock_variants
from test_place_order import cart_with

FRESH = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuid
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"  # AWSDateTime
    r"|(?:crt|cart|ord|pi|line|ln|pay)_[0-9A-Za-z_-]{6,})$"  # minted ids
)
PLACE = """mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number } userErrors { code } } }"""
LINES = "query Lines($id: ID!) { cart(id: $id) { lines { id } } }"


def as_of(graph: Graph, who: Who) -> As | None:
    match who:
        case "key":
            return None
        case "customer":
            return graph.signed_in(CUSTOMER)
        case "other":
            return graph.signed_in(OTHER_CUSTOMER)
        case "staff":
            return graph.signed_in(STAFF)
        case "device":
            return As(device=True)


def stocked(demo: DemoData, count: int = 3) -> list[tuple[str, str]]:
    """(variant id, sku) of `count` variants with plenty of stock in the WEB warehouses."""
    skus = {v.id: v.sku for p in demo.products for v in p.variants}
    return [(v, skus[v]) for v in in_stock_variants(demo, count)]


@dataclass
class CaseSetup(Setup):
    graph: Graph
    demo: DemoData
    minted: list[str] = field(default_factory=list)

    def product(self, n: int = 0) -> str:
        return self.demo.products[n].id

    def variant(self, n: int = 0) -> tuple[str, str]:
        return stocked(self.demo)[n]

    def category(self, n: int = 0) -> str:
        return next(c.id for c in self.demo.categories if c.parent_id is not None)

    def customer_id(self, who: Who) -> str:
        return {"customer": CUSTOMER, "other": OTHER_CUSTOMER}[who]

    async def order(self, who: Who) -> str:
        cart_id = await self.cart(who)
        key = str(uuid.uuid4())
        self.minted.append(key)
        placed = await self.graph.data(
            PLACE,
            {
                "input": {
                    "cartId": cart_id,
                    "idempotencyKey": key,
                    "paymentMethodId": "pm_card_visa",
                }
            },
            as_=as_of(self.graph, who),
        )
        assert placed["placeOrder"]["userErrors"] == [], placed
        order_id: str = placed["placeOrder"]["order"]["id"]
        self.minted += [order_id, placed["placeOrder"]["order"]["number"]]
        return order_id

    async def cart(self, who: Who = "key", lines: int = 1, **input: Any) -> str:
        wanted = [{"variantId": v, "quantity": 1} for v, _ in stocked(self.demo)[:lines]]
        cart_id = await cart_with(self.graph, wanted, as_of(self.graph, who), **input)
        self.minted.append(cart_id)
        return cart_id

    async def first_line(self, cart_id: str) -> str:
        data = await self.graph.data(LINES, {"id": cart_id})
        line: str = data["cart"]["lines"][0]["id"]
        return line


def canonical(answer: Any, minted: list[str]) -> Any:
    """The answer with each value minted by this run replaced by its order of appearance."""
    seen: dict[str, str] = {}

    def token(value: str) -> str:
        if value not in seen:
            seen[value] = f"<fresh {len(seen)}>"
        return seen[value]

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            if value in minted or FRESH.match(value):
                return token(value)
            for fresh in minted:
                value = value.replace(fresh, token(fresh))
        return value

    for value in minted:
        token(value)
    result = walk(answer)
    if isinstance(result, dict) and result.get("errors"):
        result["errors"] = sorted(result["errors"], key=lambda e: orjson.dumps(e).decode())
    return result


def through_direct_lambda(schema: GraphQLSchema, case: Case, answer: dict[str, Any]) -> Any:
    """What AppSync returns for the HTTP answer's request when each root field is a Direct
    Lambda resolver: a root field with any error under it fails as a whole (see module doc)."""
    document = parse(case.query)
    operation = get_operation_ast(document)
    assert operation is not None
    root = schema.get_root_type(operation.operation)
    assert isinstance(root, GraphQLObjectType)
    nodes = {
        (n.alias or n.name).value: n
        for n in operation.selection_set.selections
        if isinstance(n, FieldNode)
    }
    data = answer.get("data")
    data = dict(data) if data is not None else None
    failed: dict[str, dict[str, Any]] = {}
    for error in answer.get("errors", []):
        key = error["path"][0]
        failed.setdefault(key, error)
    errors = []
    for key, first in failed.items():
        node = nodes[key]
        errors.append(
            {
                "path": [key],
                "data": None,
                "errorType": first["errorType"],
                "errorInfo": None,
                "locations": [location(node)],
                "message": first["message"],
            }
        )
        if isinstance(root.fields[node.name.value].type, GraphQLNonNull):
            data = None
        elif data is not None:
            data[key] = None
    if data is None and not errors:
        return answer
    expected: dict[str, Any] = {"data": data}
    if errors:
        expected["errors"] = errors
    return expected


@pytest.fixture(scope="module")
def lambda_resolver(graph: Graph) -> LambdaResolver:
    return LambdaResolver(graph.settings, sources=graph.sources)


@dataclass
class Runs:
    http: Any
    lambda_: Any
    events: list[dict[str, Any]]


async def run_both(graph: Graph, resolver: LambdaResolver, demo: DemoData, case: Case) -> Runs:
    # over HTTP
    http_setup = CaseSetup(graph, demo)
    variables = await case.variables(http_setup)
    as_ = as_of(graph, case.who)
    over_http = await graph.post(case.query, variables, as_=as_)
    # through AppSync's Direct Lambda resolvers: the edge authenticates the same request
    lambda_setup = CaseSetup(graph, demo)
    variables = await case.variables(lambda_setup)
    body = orjson.dumps({"query": case.query, "variables": variables})
    headers = {**dict(graph.client.headers), **Graph.headers_for(body, as_)}
    caller = await graph.app.state.authenticator.authenticate(headers, body)
    front = AppSyncFront(
        resolver.schema._schema, resolver.resolve, error_types=resolver.error_types
    )
    through_lambda = await front.execute(case.query, variables, caller)
    return Runs(
        http=canonical(
            through_direct_lambda(resolver.schema._schema, case, over_http), http_setup.minted
        ),
        lambda_=canonical(through_lambda, lambda_setup.minted),
        events=front.events,
    )


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
async def test_http_and_lambda_answer_alike(
    graph: Graph, lambda_resolver: LambdaResolver, demo: DemoData, case: Case
) -> None:
    runs = await run_both(graph, lambda_resolver, demo, case)
    assert runs.lambda_ == runs.http
    assert runs.events, "no root field was invoked"


def _fields_of(schema: GraphQLSchema, query: str) -> Iterator[str]:
    info = TypeInfo(schema)
    found: list[str] = []

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                found.append(f"{parent.name}.{node.name.value}")

    visit(parse(query), TypeInfoVisitor(info, Fields()))
    return iter(found)


def reachable_fields(schema: GraphQLSchema) -> set[str]:
    """Every `Type.field` a Query or Mutation document can select."""
    seen: set[str] = set()
    pending = [schema.query_type, schema.mutation_type]
    types: set[str] = set()
    while pending:
        current = pending.pop()
        if current is None or current.name in types:
            continue
        types.add(current.name)
        for name, definition in current.fields.items():
            seen.add(f"{current.name}.{name}")
            named = get_named_type(definition.type)
            if isinstance(named, GraphQLObjectType):
                pending.append(named)
    return seen


def test_the_corpus_selects_every_field_of_the_schema(lambda_resolver: LambdaResolver) -> None:
    schema = lambda_resolver.schema._schema
    covered = {f for case in CORPUS for f in _fields_of(schema, case.query)}
    missing = sorted(reachable_fields(schema) - covered)
    assert not missing, (
        f"fields no conformance document selects (add them to the corpus): {missing}"
    )


def test_the_corpus_has_queries_mutations_errors_and_denials() -> None:
    kinds = {get_operation_ast(parse(c.query)).operation for c in CORPUS}  # type: ignore[union-attr]
    assert kinds == {OperationType.QUERY, OperationType.MUTATION}
    assert {c.who for c in CORPUS} == {"key", "customer", "other", "staff", "device"}
