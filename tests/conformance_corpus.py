"""The conformance corpus: GraphQL documents every runtime of the graph must answer alike.

Each case is a document, the variables it runs with (built per run by `setup`, so each
runtime gets its own fresh carts and idempotency keys), and who sends it. A new field must
appear in some case: `test_conformance.py` fails when a field of the schema reachable from
Query or Mutation is selected by no document here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Who = Literal["key", "customer", "other", "staff", "device"]


class Setup:
    """What a case may prepare before it runs: implemented by the test module."""

    def product(self, n: int = 0) -> str:
        raise NotImplementedError

    def variant(self, n: int = 0) -> tuple[str, str]:
        """(variant id, sku) of a variant with plenty of stock."""
        raise NotImplementedError

    def category(self, n: int = 0) -> str:
        raise NotImplementedError

    async def order(self, who: Who) -> str:
        """A fresh order placed by `who` (checkout of a one-line cart)."""
        raise NotImplementedError

    def customer_id(self, who: Who) -> str:
        raise NotImplementedError

    async def cart(self, who: Who = "key", lines: int = 1, **input: Any) -> str:
        raise NotImplementedError

    async def first_line(self, cart_id: str) -> str:
        raise NotImplementedError


Variables = Callable[[Setup], Awaitable[dict[str, Any]]]


async def no_variables(_: Setup) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    variables: Variables = no_variables
    who: Who = "key"
    # What the case is for, when the name does not say it.
    note: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)


MONEY = "fragment M on Money { amount currencyCode }"
PRODUCT_CARD = """
fragment Card on Product {
  id name slug
  brand { id name }
  images { url alt }
  priceRange(channel: $channel) { min { ...M } max { ...M } }
}
"""
CART_FIELDS = """
fragment CartFields on Cart {
  id channel status currencyCode locationId country createdAt updatedAt totalQuantity
  lines { id quantity variant { id sku name } unitPrice { ...M } total { ...M } }
  totals { net { ...M } tax { ...M } gross { ...M } }
}
"""


def _fresh_key() -> str:
    return str(uuid.uuid4())


async def _product(s: Setup) -> dict[str, Any]:
    return {"id": s.product(0), "channel": "WEB"}


async def _product_by_sku(s: Setup) -> dict[str, Any]:
    return {"sku": s.variant(1)[1]}


async def _category(s: Setup) -> dict[str, Any]:
    return {"id": s.category(0)}


async def _products_in_category(s: Setup) -> dict[str, Any]:
    return {"filter": {"categoryId": s.category(0)}, "channel": "MOBILE", "limit": 3}


async def _cart_of_key(s: Setup) -> dict[str, Any]:
    return {"id": await s.cart("key", lines=2)}


async def _cart_of_customer(s: Setup) -> dict[str, Any]:
    return {"id": await s.cart("customer", lines=1)}


async def _create_cart(s: Setup) -> dict[str, Any]:
    variant, _ = s.variant(0)
    return {"input": {"channel": "WEB", "lines": [{"variantId": variant, "quantity": 2}]}}


async def _create_cart_bad_line(s: Setup) -> dict[str, Any]:
    return {"input": {"channel": "POS", "lines": [{"variantId": "var_nope", "quantity": 1}]}}


async def _add_lines(s: Setup) -> dict[str, Any]:
    variant, _ = s.variant(2)
    return {"cartId": await s.cart(), "lines": [{"variantId": variant, "quantity": 3}]}


async def _add_zero(s: Setup) -> dict[str, Any]:
    variant, _ = s.variant(2)
    return {"cartId": await s.cart(), "lines": [{"variantId": variant, "quantity": 0}]}


async def _line_of_new_cart(s: Setup) -> dict[str, Any]:
    cart = await s.cart(lines=1)
    return {"cartId": cart, "lineId": await s.first_line(cart)}


async def _place(s: Setup) -> dict[str, Any]:
    return {
        "input": {
            "cartId": await s.cart("customer", lines=1),
            "idempotencyKey": _fresh_key(),
            "paymentMethodId": "pm_card_visa",
        }
    }


async def _place_declined(s: Setup) -> dict[str, Any]:
    return {
        "input": {
            "cartId": await s.cart(lines=1),
            "idempotencyKey": _fresh_key(),
            "paymentMethodId": "pm_card_chargeDeclined",
        }
    }


async def _place_missing_cart(_: Setup) -> dict[str, Any]:
    return {
        "input": {
            "cartId": "cart_missing",
            "idempotencyKey": _fresh_key(),
            "paymentMethodId": "pm_card_visa",
        }
    }


async def _order_of_customer(s: Setup) -> dict[str, Any]:
    return {"id": await s.order("customer")}


async def _me(s: Setup) -> dict[str, Any]:
    return {"id": s.customer_id("customer")}


async def _stock_change(s: Setup) -> dict[str, Any]:
    variant, sku = s.variant(0)
    return {
        "input": {
            "sku": sku,
            "productId": s.product(0),
            "variantId": variant,
            "locationId": "loc_web",
            "quantity": 7,
            "available": 5,
            "occurredAt": "2026-11-24T10:00:00.000Z",
        }
    }


async def _price_change(s: Setup) -> dict[str, Any]:
    variant, sku = s.variant(0)
    return {
        "input": {
            "sku": sku,
            "productId": s.product(0),
            "variantId": variant,
            "channel": "WEB",
            "amount": "19.99",
            "currencyCode": "USD",
            "occurredAt": "2026-11-24T10:00:00.000Z",
        }
    }


async def _status_change(s: Setup) -> dict[str, Any]:
    return {
        "input": {
            "orderId": await s.order("customer"),
            "customerId": s.customer_id("customer"),
            "status": "FULFILLED",
            "occurredAt": "2026-11-24T10:00:00.000Z",
        }
    }


CORPUS: tuple[Case, ...] = (
    # --- queries --------------------------------------------------------------------------
    Case(
        "product page",
        """query Page($id: ID!, $channel: Channel!) {
          product(id: $id) {
            ...Card
            description attributes createdAt updatedAt
            category { id name slug }
            variants {
              id sku name attributes
              price(channel: $channel) { channel isContractPrice price { ...M }
                                         compareAtPrice { ...M } }
              stock { locationId quantity reserved available
                      location { id name kind country channels } }
              availability(channel: $channel) { channel locationId quantityAvailable inStock }
              product { id }
            }
            recommendations(kind: ALSO_BOUGHT, limit: 3) { id name }
            similar: recommendations(kind: SIMILAR, limit: 2) { id }
          }
        }"""
        + PRODUCT_CARD
        + MONEY,
        _product,
    ),
    Case(
        "product by sku, variables in nested arguments",
        """query BySku($sku: String, $where: ID = "loc_web") {
          product(sku: $sku) {
            id
            variants { sku availability(channel: POS, locationId: $where) { inStock } }
          }
        }""",
        _product_by_sku,
    ),
    Case(
        "two aliased root fields and @include/@skip",
        """query Two($id: ID!, $withBrand: Boolean = true) {
          first: product(id: $id) { id brand @include(if: $withBrand) { name } }
          missing: product(id: "prd_missing") { id }
          again: product(id: $id) { name @skip(if: true) slug }
        }""",
        _product,
    ),
    Case(
        "products of a category, paginated",
        """query List($filter: ProductFilterInput, $channel: Channel!, $limit: Int) {
          products(filter: $filter, limit: $limit) {
            items { ...Card variants { sku } }
            nextToken
          }
        }"""
        + PRODUCT_CARD
        + MONEY,
        _products_in_category,
    ),
    Case(
        "inline fragments and __typename",
        """{
          products(limit: 2) {
            __typename
            items { ... on Product { id __typename } }
          }
        }""",
    ),
    Case(
        "category tree",
        """query Tree($id: ID!) {
          category(id: $id) {
            id name slug
            parent { id }
            ancestors { id name }
            children(limit: 5) { items { id name } nextToken }
            products(limit: 2) { items { id } nextToken }
          }
          categories(limit: 3) { items { id name parent { id } } nextToken }
        }""",
        _category,
    ),
    Case(
        "locations",
        "{ locations(limit: 10) { items { id name kind country channels } nextToken } }",
    ),
    Case(
        "a bad pagination token is an error on its field only",
        """{ locations(nextToken: "not-a-token") { nextToken }
             categories(limit: 1) { items { id } } }""",
    ),
    Case(
        "an out-of-range limit",
        "{ products(limit: 0) { items { id } } }",
    ),
    Case(
        "cart read with totals and recommendations",
        """query Cart($id: ID!) {
          cart(id: $id) { ...CartFields customer { id } recommendations(limit: 2) { id } }
        }"""
        + CART_FIELDS
        + MONEY,
        _cart_of_key,
    ),
    Case(
        "a customer reads their own cart",
        """query Cart($id: ID!) { cart(id: $id) { ...CartFields customer { id firstName } } }"""
        + CART_FIELDS
        + MONEY,
        _cart_of_customer,
        who="customer",
    ),
    Case(
        "another customer's cart is denied",
        "query Cart($id: ID!) { cart(id: $id) { id } }",
        _cart_of_customer,
        who="other",
    ),
    Case(
        "a cart that does not exist",
        '{ cart(id: "cart_nope") { id } }',
    ),
    Case(
        "customer profile, loyalty, orders, recommendations",
        """query Me($id: ID!) {
          customer(id: $id) {
            id email firstName lastName phone createdAt
            addresses { firstName lastName street city postalCode country phone }
            loyalty { tier points lifetimePoints nextTierAt }
            orders(limit: 2) { items { id number status } nextToken }
            recommendations(limit: 3, channel: WEB) { id }
          }
        }""",
        _me,
        who="customer",
    ),
    Case(
        "another customer's profile is denied",
        "query Me($id: ID!) { customer(id: $id) { id email } }",
        _me,
        who="other",
    ),
    Case(
        "customer with an API key: the root field's auth directive denies",
        "query Me($id: ID!) { customer(id: $id) { id } }",
        _me,
        who="key",
    ),
    Case(
        "staff read a customer",
        """query Me($id: ID!) {
          customer(id: $id) { id lastName orders(limit: 1) { items { id } } }
        }""",
        _me,
        who="staff",
    ),
    Case(
        "an order, in full",
        """query Order($id: ID!) {
          order(id: $id) {
            id number status origin cartId placedAt
            lines { id variantId sku productName variantName quantity locationId
                    unitPrice { ...M } total { ...M } }
            subtotal { ...M }
            total { net { ...M } tax { ...M } gross { ...M } }
            pointsRedeemed discount { ...M } amountDue { ...M }
            payment { id provider status amount { ...M } }
            customer { id }
          }
        }"""
        + MONEY,
        _order_of_customer,
        who="customer",
    ),
    Case(
        "someone else's order",
        "query Order($id: ID!) { order(id: $id) { id status } }",
        _order_of_customer,
        who="other",
    ),
    Case(
        "a store device (IAM) reads stock",
        """query Stock($id: ID!) {
          product(id: $id) { id variants { sku stock { locationId available } } }
        }""",
        _product,
        who="device",
    ),
    # --- mutations ------------------------------------------------------------------------
    Case(
        "create a cart with lines",
        """mutation Create($input: CreateCartInput!) {
          createCart(input: $input) {
            cartId
            cart { ...CartFields }
            userErrors { field message code }
          }
        }"""
        + CART_FIELDS
        + MONEY,
        _create_cart,
    ),
    Case(
        "create a cart with an unknown variant: userErrors",
        """mutation Create($input: CreateCartInput!) {
          createCart(input: $input) { cartId cart { id } userErrors { field message code } }
        }""",
        _create_cart_bad_line,
    ),
    Case(
        "add lines",
        """mutation Add($cartId: ID!, $lines: [CartLineInput!]!) {
          addCartLines(cartId: $cartId, lines: $lines) {
            cart { totalQuantity lines { quantity variant { sku } } }
            userErrors { field message code }
          }
        }""",
        _add_lines,
    ),
    Case(
        "add a zero quantity: userErrors",
        """mutation Add($cartId: ID!, $lines: [CartLineInput!]!) {
          addCartLines(cartId: $cartId, lines: $lines) { cart { totalQuantity }
                                                         userErrors { field message code } }
        }""",
        _add_zero,
    ),
    Case(
        "update then remove a line, in order",
        """mutation Change($cartId: ID!, $lineId: ID!) {
          up: updateCartLine(cartId: $cartId, lineId: $lineId, quantity: 4) {
            cart { totalQuantity } userErrors { code }
          }
          down: removeCartLine(cartId: $cartId, lineId: $lineId) {
            cart { totalQuantity lines { id } } userErrors { code }
          }
        }""",
        _line_of_new_cart,
    ),
    Case(
        "update a line of a cart that does not exist",
        """mutation {
          updateCartLine(cartId: "cart_nope", lineId: "var_x", quantity: 1) {
            cart { id } userErrors { field message code }
          }
        }""",
    ),
    Case(
        "place an order",
        """mutation Place($input: PlaceOrderInput!) {
          placeOrder(input: $input) {
            order { status origin lines { sku quantity } subtotal { ...M }
                    total { gross { ...M } } amountDue { ...M }
                    payment { provider status amount { ...M } } customer { id } }
            userErrors { field message code }
          }
        }"""
        + MONEY,
        _place,
        who="customer",
    ),
    Case(
        "a declined payment",
        """mutation Place($input: PlaceOrderInput!) {
          placeOrder(input: $input) { order { id } userErrors { field message code } }
        }""",
        _place_declined,
    ),
    Case(
        "checkout of a cart that does not exist",
        """mutation Place($input: PlaceOrderInput!) {
          placeOrder(input: $input) { order { id } userErrors { field message code } }
        }""",
        _place_missing_cart,
    ),
    Case(
        "IAM-only event mutations, as an EventBridge target calls them",
        """mutation Events($stock: StockChangeInput!, $price: PriceChangeInput!,
                          $status: OrderStatusChangeInput!) {
          publishStockChanged(input: $stock) {
            sku productId variantId locationId quantity available occurredAt }
          publishPriceChanged(input: $price) {
            sku productId variantId channel amount currencyCode occurredAt }
          publishOrderStatusChanged(input: $status) { orderId customerId status occurredAt }
        }""",
        lambda s: _events(s),
        who="device",
    ),
    Case(
        "an IAM-only mutation with an API key is denied",
        """mutation Stock($input: StockChangeInput!) {
          publishStockChanged(input: $input) { sku }
        }""",
        _stock_change,
        who="key",
    ),
)


async def _events(s: Setup) -> dict[str, Any]:
    return {
        "stock": (await _stock_change(s))["input"],
        "price": (await _price_change(s))["input"],
        "status": (await _status_change(s))["input"],
    }
