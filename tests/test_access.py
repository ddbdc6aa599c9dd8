"""Who may read and change what in the commerce schema (docs/appsync-compat.md, "Access").

Real callers: the API key, Cognito users signed in through moto's user pool (a customer, another
customer, a `staff` clerk), and a store device signing with SigV4.
"""

from __future__ import annotations

from typing import Any

from appsync.authz import DIRECTIVE_MODES, auth_table
from conftest import CUSTOMER, OTHER_CUSTOMER, STAFF, As, Graph
from datasources.demo.generate import DemoData
from schema import build_schema
from schema.access import PUBLIC, SIGNED_IN
from test_cart import ADD, CREATE, in_stock_variants

CUSTOMER_QUERY = "query C($id: ID!) { customer(id: $id) { id email } }"
CART_QUERY = "query C($id: ID!) { cart(id: $id) { id customer { id } } }"
PRODUCT_QUERY = """
query { product(id: "prd_00001") { name variants { price(channel: WEB) { price { amount } } } } }
"""


def unauthorized(body: dict[str, Any], field: str) -> bool:
    return any(
        e.get("errorType") == "Unauthorized" and e["path"][-1] == field
        for e in body.get("errors", [])
    )


async def test_catalog_is_readable_by_every_kind_of_caller(graph: Graph) -> None:
    for caller in (None, graph.signed_in(CUSTOMER), graph.signed_in(STAFF), As(device=True)):
        data = await graph.data(PRODUCT_QUERY, as_=caller)
        assert data["product"]["name"]


async def test_customers_are_never_readable_with_an_api_key(graph: Graph) -> None:
    body = await graph.post(CUSTOMER_QUERY, {"id": CUSTOMER})
    assert body["data"] == {"customer": None}
    assert unauthorized(body, "customer")


async def test_a_customer_reads_only_themself(graph: Graph) -> None:
    me = graph.signed_in(CUSTOMER)
    own = await graph.data(CUSTOMER_QUERY, {"id": CUSTOMER}, as_=me)
    other = await graph.post(CUSTOMER_QUERY, {"id": OTHER_CUSTOMER}, as_=me)
    assert own["customer"]["id"] == CUSTOMER
    assert other["data"]["customer"] is None
    assert unauthorized(other, "customer")


async def test_staff_and_devices_read_any_customer(graph: Graph) -> None:
    for caller in (graph.signed_in(STAFF), As(device=True)):
        data = await graph.data(CUSTOMER_QUERY, {"id": OTHER_CUSTOMER}, as_=caller)
        assert data["customer"]["id"] == OTHER_CUSTOMER


async def test_a_customers_cart_is_theirs(graph: Graph, demo: DemoData) -> None:
    # given: a cart the customer started while signed in
    me = graph.signed_in(CUSTOMER)
    created = await graph.data(
        CREATE, {"input": {"channel": "WEB", "customerId": CUSTOMER}}, as_=me
    )
    cart_id = created["createCart"]["cart"]["id"]
    (variant,) = in_stock_variants(demo, 1)
    line = [{"variantId": variant, "quantity": 1}]
    # when
    by_owner = await graph.data(CART_QUERY, {"id": cart_id}, as_=me)
    by_guest = await graph.post(CART_QUERY, {"id": cart_id})
    by_other = await graph.post(CART_QUERY, {"id": cart_id}, as_=graph.signed_in(OTHER_CUSTOMER))
    by_staff = await graph.data(CART_QUERY, {"id": cart_id}, as_=graph.signed_in(STAFF))
    guest_add = await graph.post(ADD, {"cartId": cart_id, "lines": line})
    # then
    assert by_owner["cart"]["customer"] == {"id": CUSTOMER}
    assert unauthorized(by_guest, "cart")
    assert unauthorized(by_other, "cart")
    assert by_staff["cart"]["id"] == cart_id
    assert guest_add["data"] is None  # addCartLines is non-null: the null reaches the root
    assert unauthorized(guest_add, "addCartLines")


async def test_a_guest_cart_is_reached_by_its_id_but_not_its_customer_field(graph: Graph) -> None:
    created = await graph.data(CREATE, {"input": {"channel": "WEB"}})
    body = await graph.post(CART_QUERY, {"id": created["createCart"]["cart"]["id"]})
    assert body["data"]["cart"]["customer"] is None  # Customer is not readable by an API key
    assert unauthorized(body, "customer")


async def test_api_key_cannot_start_a_cart_for_a_customer(graph: Graph) -> None:
    body = await graph.post(CREATE, {"input": {"channel": "WEB", "customerId": CUSTOMER}})
    assert unauthorized(body, "createCart")


async def test_pos_carts_are_for_store_devices_and_staff(graph: Graph, demo: DemoData) -> None:
    store = next(loc for loc in demo.locations if "POS" in loc.channels)
    pos = {"input": {"channel": "POS", "locationId": store.id}}
    assert unauthorized(await graph.post(CREATE, pos), "createCart")
    assert unauthorized(await graph.post(CREATE, pos, as_=graph.signed_in(CUSTOMER)), "createCart")
    device = await graph.data(CREATE, pos, as_=As(device=True))
    staff = await graph.data(CREATE, pos, as_=graph.signed_in(STAFF))
    assert device["createCart"]["cart"]["channel"] == "POS"
    assert staff["createCart"]["cart"]["channel"] == "POS"


def test_every_object_type_and_root_field_is_annotated() -> None:
    # given
    public = frozenset(DIRECTIVE_MODES[type(d)] for d in PUBLIC)
    signed_in = frozenset(DIRECTIVE_MODES[type(d)] for d in SIGNED_IN)
    # when
    table = auth_table(build_schema())
    # then: no check falls back to "the default mode only" by omission
    by_default = [
        key
        for key, rule in table.items()
        if rule.field.source == "default" or any(g.source == "default" for g in rule.returns)
    ]
    assert by_default == []
    assert table[("Query", "customer")].field.modes == signed_in
    assert table[("Query", "product")].field.modes == public
    assert table[("Product", "variants")].field.modes == public  # from the type
