"""The graph with every connector on its real engine: payments and tax on stripe-mock, the
ERP on SAP CAP, loyalty on PostgreSQL, DynamoDB Local for the rest.

Each connector sits behind a proxy of this module's own (HTTP for Stripe, TCP for the ERP
and PostgreSQL), so a test can fail one source and watch only its fields go null, and count
what reached the source. Checkout runs end to end: tax, points, payment, one transaction,
and the compensations when a later step fails.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from auth_helpers import CognitoPool
from conftest import CUSTOMER, OTHER_CUSTOMER, As, Graph, auth_settings_for, settings_for
from datasources.build import ConnectorSettings, Sources
from datasources.demo.generate import DemoData
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import INVENTORY, create_tables
from datasources.envsettings import SecretStr
from datasources.erp.demo import contract_amount
from datasources.erp.loyalty_demo import seed_loyalty
from datasources.erp.loyalty_settings import LoyaltySettings
from datasources.erp.settings import ErpSettings
from datasources.neptune.settings import NeptuneSettings
from datasources.saas.settings import PaymentsSettings, TaxSettings
from engines.http_fault_proxy import HttpFaultProxy
from engines.odata_service import ODataService
from engines.postgres_server import PostgresServer
from engines.stripe_mock import install_stripe_test_mode
from engines.tcp_proxy import TcpProxy
from server import create_app

pytestmark = pytest.mark.engine

PAYMENT_INTENTS = "/v1/payment_intents"
TAX_CALCULATIONS = "/v1/tax/calculations"
ERP_TIMEOUT = 1.0
RESET_SECONDS = 2.0

PRODUCT_PAGE = """
query Page($id: ID!) {
  product(id: $id) {
    id name
    variants {
      id sku
      price(channel: WEB) { price { amount } compareAtPrice { amount } isContractPrice }
      availability(channel: WEB) { quantityAvailable }
      stock { locationId quantity reserved available }
    }
  }
}
"""
CREATE_CART = """
mutation Create($customerId: ID, $lines: [CartLineInput!]) {
  createCart(input: {channel: WEB, customerId: $customerId, lines: $lines}) {
    cart { id } userErrors { code message }
  }
}
"""
CART = """
query Cart($id: ID!) {
  cart(id: $id) {
    id lines { id quantity unitPrice { amount } }
    totals { net { amount } tax { amount } gross { amount } }
  }
}
"""
PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order {
      id total { net { amount } tax { amount } gross { amount } }
      pointsRedeemed discount { amount } amountDue { amount }
      payment { id provider status amount { amount } }
    }
    userErrors { code message field }
  }
}
"""
LOYALTY = "query L($id: ID!) { customer(id: $id) { loyalty { tier points nextTierAt } } }"
STOCK_ITEM = "query S($id: ID!) { product(id: $id) { variants { id stock { reserved } } } }"


@dataclass
class Connected(Graph):
    """The graph (`conftest.Graph`'s client) and the proxies in front of its connectors."""

    stripe: HttpFaultProxy
    erp: TcpProxy
    loyalty_db: TcpProxy
    demo: DemoData

    def guard(self, source: str) -> Any:
        return next(g for g in self.sources.guards if g.source == source)


@pytest.fixture(scope="module")
def stripe_here(stripe_mock: str) -> Iterator[HttpFaultProxy]:
    with HttpFaultProxy(stripe_mock) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def connected(
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
    stripe_here: HttpFaultProxy,
    cap_service: ODataService,
    postgres_server: PostgresServer,
) -> AsyncIterator[Connected]:
    with (
        TcpProxy("127.0.0.1", cap_service.port) as erp,
        TcpProxy("127.0.0.1", postgres_server.port) as loyalty_db,
    ):
        erp_root = f"http://127.0.0.1:{erp.port}"
        connectors = ConnectorSettings(
            neptune=NeptuneSettings(endpoint=None),
            payments=PaymentsSettings(
                provider="stripe",
                api_base=stripe_here.url,
                stripe_api_key=SecretStr("sk_test_connected"),
                timeout_seconds=2.0,
                failure_threshold=3,
                reset_seconds=RESET_SECONDS,
            ),
            tax=TaxSettings(
                provider="stripe",
                api_base=stripe_here.url,
                stripe_api_key=SecretStr("sk_test_connected"),
                timeout_seconds=2.0,
                failure_threshold=3,
                reset_seconds=RESET_SECONDS,
            ),
            erp=ErpSettings(
                stock_url=cap_service.stock_url.replace(cap_service.url, erp_root),
                pricing_url=cap_service.pricing_url.replace(cap_service.url, erp_root),
                timeout_seconds=ERP_TIMEOUT,
                failure_threshold=2,
                reset_seconds=RESET_SECONDS,
                retries=0,
            ),
            loyalty=LoyaltySettings(
                dsn=SecretStr(
                    postgres_server.dsn.replace(f":{postgres_server.port}/", f":{loyalty_db.port}/")
                ),
                timeout_seconds=2.0,
                connect_timeout_seconds=1.0,
                failure_threshold=2,
                reset_seconds=RESET_SECONDS,
                retries=0,
            ),
        )
        # Tax is not cached here: tests fail it and expect the next read to see it.
        settings = settings_for(engine_endpoints["dynamodb-local"], prefix="cg-conn-")
        settings = settings.replace(tax_cache_seconds=0.0)
        app = create_app(
            settings, auth_settings=auth_settings_for(cognito), connector_settings=connectors
        )
        async with app.router.lifespan_context(app):
            sources: Sources = app.state.sources
            await create_tables(sources.dynamo)
            await load_demo(sources.dynamo, demo, progress=False)
            await seed_loyalty(sources.loyalty, [CUSTOMER, OTHER_CUSTOMER])  # type: ignore[arg-type]
            key = (await create_api_key(sources.dynamo, description="tests")).key
            install_stripe_test_mode(stripe_here)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test",
                headers={"x-api-key": key},
            ) as client:
                here = Connected(
                    "dynamodb-local",
                    app,
                    client,
                    settings,
                    cognito,
                    stripe_here,
                    erp,
                    loyalty_db,
                    demo,
                )
                # A cold CAP compiles each query on first use: not what the timeouts are for.
                erp.heal()
                await here.post(
                    PRODUCT_PAGE, {"id": demo.products[0].id}, as_=here.signed_in(CUSTOMER)
                )
                yield here


@pytest.fixture
async def healthy(connected: Connected) -> AsyncIterator[Connected]:
    """Every proxy passing, every breaker given time to close, Stripe in test mode."""
    await _heal(connected)
    yield connected
    await _heal(connected)


async def _heal(c: Connected) -> None:
    c.erp.heal()
    c.loyalty_db.heal()
    c.stripe.clear()
    install_stripe_test_mode(c.stripe)
    if any(g.breaker.state.value != "closed" for g in c.sources.guards):
        await asyncio.sleep(RESET_SECONDS + 0.1)


def error_types(body: dict[str, Any]) -> set[str]:
    return {e["errorType"] for e in body.get("errors", [])}


async def new_cart(c: Connected, *, customer: str | None, as_: As | None, qty: int = 1) -> str:
    for product in c.demo.products[40:]:
        page = await c.data(PRODUCT_PAGE, {"id": product.id}, as_=as_)
        for variant in page["product"]["variants"]:
            if variant["price"] and variant["availability"]["quantityAvailable"] >= qty + 2:
                data = await c.data(
                    CREATE_CART,
                    {
                        "customerId": customer,
                        "lines": [{"variantId": variant["id"], "quantity": qty}],
                    },
                    as_=as_,
                )
                assert data["createCart"]["userErrors"] == [], data
                cart_id: str = data["createCart"]["cart"]["id"]
                return cart_id
    raise AssertionError("no stocked, priced variant in the demo set")


# --- ERP: live stock and contract prices -----------------------------------------------------


async def test_a_contract_customer_sees_contract_prices_and_live_stock(healthy: Connected) -> None:
    # given
    c = healthy
    product = c.demo.products[3]
    before = c.guard("ERP").metrics.attempts
    # when
    anonymous = await c.data(PRODUCT_PAGE, {"id": product.id})
    customer = await c.data(PRODUCT_PAGE, {"id": product.id}, as_=c.signed_in(CUSTOMER))
    # then: the ERP's 10 % contract price replaces the list price, which becomes compare-at
    for public, own in zip(
        anonymous["product"]["variants"], customer["product"]["variants"], strict=True
    ):
        if public["price"] is None:
            continue
        listed = Decimal(public["price"]["price"]["amount"])
        assert public["price"]["isContractPrice"] is False
        assert own["price"]["isContractPrice"] is True
        assert Decimal(own["price"]["price"]["amount"]) == contract_amount(listed)
        assert Decimal(own["price"]["compareAtPrice"]["amount"]) == listed
        assert own["stock"] == public["stock"]
        for level in own["stock"]:
            assert level["available"] == max(level["quantity"] - level["reserved"], 0)
    # and: one stock request per page, plus one price request for the signed-in customer
    assert c.guard("ERP").metrics.attempts - before == 3


async def test_a_listing_page_costs_one_erp_request_per_kind(healthy: Connected) -> None:
    # given
    c = healthy
    listing = """query($cat: ID!) { category(id: $cat) { products(limit: 50) { items {
        variants { price(channel: WEB) { price { amount } } availability(channel: WEB) {
        quantityAvailable } } } } } }"""
    category = next(p.category_id for p in c.demo.products)
    before = c.guard("ERP").metrics.attempts
    # when
    data = await c.data(listing, {"cat": category}, as_=c.signed_in(CUSTOMER))
    # then
    assert data["category"]["products"]["items"]
    assert c.guard("ERP").metrics.attempts - before == 2  # stock + contract prices


async def test_erp_down_nulls_stock_and_contract_prices_only(healthy: Connected) -> None:
    # given
    c = healthy
    product = c.demo.products[5]
    c.erp.delay(ERP_TIMEOUT * 2)
    # when
    anonymous = await c.post(PRODUCT_PAGE, {"id": product.id})
    customer = await c.post(PRODUCT_PAGE, {"id": product.id}, as_=c.signed_in(CUSTOMER))
    # then: the product and its list prices are there; stock and availability are not
    variants = anonymous["data"]["product"]["variants"]
    assert anonymous["data"]["product"]["name"] == product.name
    assert all(v["stock"] is None and v["availability"] is None for v in variants)
    assert any(v["price"] is not None for v in variants)
    assert error_types(anonymous) == {"ERP:Timeout"}
    assert all(e["errorInfo"] == {"source": "ERP", "retryable": True} for e in anonymous["errors"])
    # and: the contract customer's prices are unknown, not wrong; the breaker is now open
    assert all(v["price"] is None for v in customer["data"]["product"]["variants"])
    assert error_types(customer) <= {"ERP:Timeout", "ERP:CircuitOpen"}
    assert c.guard("ERP").breaker.state.value == "open"


async def test_an_open_erp_breaker_stops_calls_until_the_probe_succeeds(
    healthy: Connected,
) -> None:
    # given: the ERP resets every connection until the breaker opens
    c = healthy
    product = c.demo.products[6]
    c.erp.reset()
    # An open breaker past its cool-down still reads "open" until the next call probes it.
    await c.post(PRODUCT_PAGE, {"id": product.id})
    while c.guard("ERP").breaker.state.value != "open":
        await c.post(PRODUCT_PAGE, {"id": product.id})
    await asyncio.sleep(0.2)  # the proxy counts on its own thread: let it catch up
    accepted, attempts = c.erp.accepted, c.guard("ERP").metrics.attempts
    # when: more pages while open
    bodies = [await c.post(PRODUCT_PAGE, {"id": product.id}) for _ in range(5)]
    # then: none reached the ERP, each says so
    await asyncio.sleep(0.2)
    assert c.erp.accepted == accepted
    assert c.guard("ERP").metrics.attempts == attempts
    assert all(error_types(b) == {"ERP:CircuitOpen"} for b in bodies)
    # when: healed, after the cool-down, the probe goes through and closes the breaker
    c.erp.heal()
    await asyncio.sleep(RESET_SECONDS + 0.1)
    healed = await c.data(PRODUCT_PAGE, {"id": product.id})
    assert all(v["stock"] is not None for v in healed["product"]["variants"])
    assert c.guard("ERP").breaker.state.value == "closed"


# --- tax -----------------------------------------------------------------------------------


async def test_cart_totals_are_taxed_by_stripe_tax(healthy: Connected) -> None:
    # given
    c = healthy
    cart_id = await new_cart(c, customer=None, as_=None, qty=2)
    # when
    cart = (await c.data(CART, {"id": cart_id}))["cart"]
    # then: the net is ours, the tax is the calculation's (stripe-mock's fixture: 1.48)
    totals = {k: Decimal(v["amount"]) for k, v in cart["totals"].items()}
    net = sum(Decimal(ln["unitPrice"]["amount"]) * ln["quantity"] for ln in cart["lines"])
    assert totals["net"] == net
    assert totals["tax"] == Decimal("1.48")
    assert totals["gross"] == totals["net"] + totals["tax"]
    sent = [r for r in c.stripe.requests if r.path == TAX_CALCULATIONS]
    assert sent
    assert sent[-1].params["line_items[0][amount]"] == str(int(net * 100))
    assert sent[-1].params["customer_details[address][country]"] == "US"


async def test_tax_down_nulls_cart_totals_but_keeps_the_lines(healthy: Connected) -> None:
    # given
    c = healthy
    cart_id = await new_cart(c, customer=None, as_=None)
    c.stripe.respond("POST", TAX_CALCULATIONS, status=500, json=_api_error())
    # when
    body = await c.post(CART, {"id": cart_id})
    # then
    assert body["data"]["cart"]["totals"] is None
    assert len(body["data"]["cart"]["lines"]) == 1
    assert body["data"]["cart"]["lines"][0]["unitPrice"] is not None
    assert error_types(body) == {"Tax:Unavailable"}


# --- checkout ------------------------------------------------------------------------------


def place_input(cart_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "cartId": cart_id,
            "idempotencyKey": str(uuid.uuid4()),
            "paymentMethodId": "pm_card_visa",
            **extra,
        }
    }


async def reserved(c: Connected, cart_id: str) -> int:
    cart = await c.sources.cart.get_cart(cart_id)
    assert cart is not None
    (stock,) = await c.sources.inventory.stock_by_product([cart.lines[0].product_id])
    assert stock is not None
    return sum(lv.reserved for lv in stock.levels(cart.lines[0].variant_id).values())


async def points(c: Connected, customer: str) -> int:
    data = await c.data(LOYALTY, {"id": customer}, as_=c.signed_in(customer))
    value: int = data["customer"]["loyalty"]["points"]
    return value


async def test_checkout_taxes_redeems_and_authorizes_once(healthy: Connected) -> None:
    # given
    c = healthy
    me = c.signed_in(CUSTOMER)
    cart_id = await new_cart(c, customer=CUSTOMER, as_=me)
    balance = await points(c, CUSTOMER)
    variables = place_input(cart_id, redeemPoints=100)
    # when: five concurrent duplicates of one checkout, then a replay
    results = await asyncio.gather(*(c.data(PLACE, variables, as_=me) for _ in range(5)))
    replay = await c.data(PLACE, variables, as_=me)
    # then: one order, one payment, one redemption
    orders = {r["placeOrder"]["order"]["id"] for r in [*results, replay]}
    assert len(orders) == 1
    order = replay["placeOrder"]["order"]
    assert order["pointsRedeemed"] == 100
    assert order["discount"]["amount"] == "1.00"
    gross = Decimal(order["total"]["gross"]["amount"])
    assert Decimal(order["amountDue"]["amount"]) == gross - Decimal("1.00")
    assert order["payment"]["provider"] == "stripe"
    assert order["payment"]["status"] == "AUTHORIZED"
    assert order["payment"]["amount"] == order["amountDue"]
    assert await points(c, CUSTOMER) == balance - 100
    authorizations = [r for r in c.stripe.requests if r.path == PAYMENT_INTENTS]
    assert len({r.idempotency_key for r in authorizations}) == 1
    assert authorizations[0].params["capture_method"] == "manual"
    assert authorizations[0].params["amount"] == str(
        int(Decimal(order["amountDue"]["amount"]) * 100)
    )


async def test_a_declined_payment_writes_nothing_and_returns_the_points(
    healthy: Connected,
) -> None:
    # given
    c = healthy
    me = c.signed_in(CUSTOMER)
    cart_id = await new_cart(c, customer=CUSTOMER, as_=me)
    balance, held = await points(c, CUSTOMER), await reserved(c, cart_id)
    # when
    data = await c.data(
        PLACE,
        place_input(cart_id, redeemPoints=50, paymentMethodId="pm_card_chargeDeclined"),
        as_=me,
    )
    # then
    result = data["placeOrder"]
    assert result["order"] is None
    assert [e["code"] for e in result["userErrors"]] == ["PAYMENT_DECLINED"]
    assert await points(c, CUSTOMER) == balance
    assert await reserved(c, cart_id) == held
    cart = await c.sources.cart.get_cart(cart_id)
    assert cart is not None
    assert cart.status.value == "ACTIVE"


async def test_tax_down_at_checkout_writes_nothing(healthy: Connected) -> None:
    # given
    c = healthy
    cart_id = await new_cart(c, customer=None, as_=None)
    held = await reserved(c, cart_id)
    c.stripe.respond("POST", TAX_CALCULATIONS, status=503, json=_api_error())
    # when
    data = await c.data(PLACE, place_input(cart_id))
    # then
    assert data["placeOrder"]["order"] is None
    assert [e["code"] for e in data["placeOrder"]["userErrors"]] == ["TAX_UNAVAILABLE"]
    assert c.stripe.count("POST", PAYMENT_INTENTS) == 0
    assert await reserved(c, cart_id) == held


async def test_payments_down_at_checkout_gives_the_points_back(healthy: Connected) -> None:
    # given
    c = healthy
    me = c.signed_in(CUSTOMER)
    cart_id = await new_cart(c, customer=CUSTOMER, as_=me)
    balance = await points(c, CUSTOMER)
    c.stripe.respond("POST", PAYMENT_INTENTS, status=500, json=_api_error())
    # when
    data = await c.data(PLACE, place_input(cart_id, redeemPoints=10), as_=me)
    # then
    assert [e["code"] for e in data["placeOrder"]["userErrors"]] == ["PAYMENT_UNAVAILABLE"]
    assert await points(c, CUSTOMER) == balance


async def test_stock_gone_after_payment_cancels_it_and_returns_the_points(
    healthy: Connected,
) -> None:
    # given: the authorization is held back while another shopper buys the last units
    c = healthy
    me = c.signed_in(CUSTOMER)
    cart_id = await new_cart(c, customer=CUSTOMER, as_=me)
    cart = await c.sources.cart.get_cart(cart_id)
    assert cart is not None
    balance = await points(c, CUSTOMER)
    c.stripe.delay("POST", PAYMENT_INTENTS, 0.5, times=1)
    # when
    placing = asyncio.create_task(c.data(PLACE, place_input(cart_id, redeemPoints=10), as_=me))
    await asyncio.sleep(0.25)
    await _sell_out(c, cart.lines[0].product_id, cart.lines[0].variant_id)
    data = await placing
    # then
    assert [e["code"] for e in data["placeOrder"]["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert c.stripe.count("POST", r"/v1/payment_intents/[^/]+/cancel") == 1
    assert await points(c, CUSTOMER) == balance


async def test_redeeming_more_points_than_held_is_a_user_error(healthy: Connected) -> None:
    c = healthy
    me = c.signed_in(OTHER_CUSTOMER)
    cart_id = await new_cart(c, customer=OTHER_CUSTOMER, as_=me, qty=3)
    balance = await points(c, OTHER_CUSTOMER)
    data = await c.data(PLACE, place_input(cart_id, redeemPoints=balance + 1), as_=me)
    codes = [e["code"] for e in data["placeOrder"]["userErrors"]]
    assert codes in (["INSUFFICIENT_POINTS"], ["INVALID"])  # INVALID: worth more than the order
    assert c.stripe.count("POST", PAYMENT_INTENTS) == 0


async def test_loyalty_down_nulls_loyalty_and_refuses_redemption(healthy: Connected) -> None:
    # given
    c = healthy
    me = c.signed_in(CUSTOMER)
    cart_id = await new_cart(c, customer=CUSTOMER, as_=me)
    c.loyalty_db.reset()
    # when
    body = await c.post(
        "query($id: ID!) { customer(id: $id) { id email loyalty { points } } }",
        {"id": CUSTOMER},
        as_=me,
    )
    placed = await c.data(PLACE, place_input(cart_id, redeemPoints=10), as_=me)
    # then
    assert body["data"]["customer"]["email"]
    assert body["data"]["customer"]["loyalty"] is None
    assert error_types(body) <= {"Loyalty:Unavailable", "Loyalty:CircuitOpen"}
    assert [e["code"] for e in placed["placeOrder"]["userErrors"]] == ["LOYALTY_UNAVAILABLE"]
    assert c.stripe.count("POST", PAYMENT_INTENTS) == 0


async def test_metrics_show_every_source(healthy: Connected) -> None:
    response = await healthy.client.get("/metrics")
    assert response.status_code == 200
    for source in ("DynamoDB", "Neptune", "Payments", "Tax", "ERP", "Loyalty"):
        assert f'commerce_graph_source_calls_total{{source="{source}"}}' in response.text


async def _sell_out(c: Connected, product_id: str, variant_id: str) -> None:
    """Reserve everything left of the variant, as concurrent orders elsewhere would."""
    (stock,) = await c.sources.inventory.stock_by_product([product_id])
    assert stock is not None
    for location in stock.levels(variant_id):
        await c.sources.dynamo.raw.update_item(
            TableName=c.sources.dynamo.table(INVENTORY.name),
            Key={"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": "STOCK"}},
            UpdateExpression="SET #s.#v.#l.#r = #s.#v.#l.#q, #s.#v.#l.#a = :zero",
            ExpressionAttributeNames={
                "#s": "stock",
                "#v": variant_id,
                "#l": location,
                "#r": "reserved",
                "#q": "quantity",
                "#a": "available",
            },
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )


def _api_error() -> dict[str, Any]:
    return {"error": {"type": "api_error", "message": "An unknown error occurred."}}
