"""The three standard operations: their GraphQL documents and the request bodies they rotate.

Bodies are chosen from the demo set itself (`DemoData`), deterministically, so every run and
every server sees the same keys: many product ids (no single hot key), every category big
enough for a full page, and (cart, variant) pairs that stay valid however often they repeat.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasources.demo.generate import DemoData
from datasources.records import Channel

PRODUCT_PAGE = """
query ProductPage($id: ID!) {
  product(id: $id) {
    id name
    brand { name }
    category { name }
    images { url alt }
    priceRange(channel: WEB) { min { amount currencyCode } max { amount currencyCode } }
    variants {
      sku
      price(channel: WEB) { price { amount currencyCode } compareAtPrice { amount } }
      stock { locationId available }
      availability(channel: WEB) { quantityAvailable }
    }
  }
}
"""

CATEGORY_LISTING = """
query CategoryListing($categoryId: ID!) {
  products(filter: {categoryId: $categoryId}, limit: 50) {
    items {
      id name
      brand { name }
      priceRange(channel: WEB) { min { amount currencyCode } max { amount currencyCode } }
      variants {
        sku
        price(channel: WEB) { price { amount currencyCode } }
        availability(channel: WEB) { quantityAvailable }
      }
    }
    nextToken
  }
}
"""

ADD_TO_CART = """
mutation AddToCart($cartId: ID!, $variantId: ID!) {
  addCartLines(cartId: $cartId, lines: [{variantId: $variantId, quantity: 1}]) {
    cart { id totalQuantity lines { id quantity } }
    userErrors { field message code }
  }
}
"""

CREATE_CART = """
mutation CreateCart { createCart(input: {channel: WEB}) { cart { id } userErrors { code } } }
"""

TYPENAME = "query Ping { __typename }"

PAGE_SIZE = 50
PRODUCT_ROTATION = 1000
# Distinct variants per cart: a cart grows to at most this many lines (the limit is 100).
LINES_PER_CART = 12
# Only variants with at least this much WEB stock are added, so a pair repeated this often
# still passes the stock check (and the 999-per-line cap).
MIN_AVAILABLE = 60


@dataclass(frozen=True, slots=True)
class Operation:
    key: str
    name: str
    description: str
    bodies: tuple[str, ...]

    @property
    def first_body(self) -> str:
        return self.bodies[0]


def body(query: str, variables: dict[str, Any]) -> str:
    """One request body, compact JSON on one line (the Lua script reads one per line)."""
    return json.dumps({"query": query, "variables": variables}, separators=(",", ":"))


def product_page(data: DemoData, *, seed: int = 1) -> Operation:
    ids = [p.id for p in data.products]
    picked = random.Random(seed).sample(ids, min(PRODUCT_ROTATION, len(ids)))
    return Operation(
        "product-page",
        "product page",
        f"`product(id)` rotating over {len(picked)} product ids",
        tuple(body(PRODUCT_PAGE, {"id": pid}) for pid in picked),
    )


def category_listing(data: DemoData) -> Operation:
    sizes: dict[str, int] = {}
    for p in data.products:
        if p.category_id:
            sizes[p.category_id] = sizes.get(p.category_id, 0) + 1
    full = sorted(c for c, n in sizes.items() if n >= PAGE_SIZE)
    chosen = full or [max(sizes, key=lambda c: sizes[c])]
    what = f"{len(full)} categories of ≥ {PAGE_SIZE} products" if full else "the largest category"
    return Operation(
        "category-listing",
        "category listing",
        f"`products(filter: {{categoryId}}, limit: {PAGE_SIZE})` rotating over {what}",
        tuple(body(CATEGORY_LISTING, {"categoryId": c}) for c in chosen),
    )


def web_available(data: DemoData) -> dict[str, int]:
    """Units of each variant the WEB channel can sell (as `Variant.availability(WEB)`)."""
    serving = {loc.id for loc in data.locations if Channel.WEB in loc.channels}
    return {
        variant_id: sum(level.available for loc, level in levels.items() if loc in serving)
        for stock in data.stock
        for variant_id, levels in stock.by_variant.items()
    }


def web_priced(data: DemoData) -> set[str]:
    return {
        variant_id
        for prices in data.prices
        for variant_id, by_channel in prices.by_variant.items()
        if Channel.WEB in by_channel
    }


def add_to_cart(data: DemoData, cart_ids: Sequence[str], *, seed: int = 2) -> Operation:
    """Body k adds one unit of a variant to cart k mod len(cart_ids): consecutive requests hit
    different carts (few lost optimistic-concurrency races), and each cart cycles through
    `LINES_PER_CART` variants, so one body repeats once per len(bodies) requests."""
    available = web_available(data)
    priced = web_priced(data)
    variants = sorted(v for v, n in available.items() if n >= MIN_AVAILABLE and v in priced)
    rng = random.Random(seed)
    rng.shuffle(variants)
    need = len(cart_ids) * LINES_PER_CART
    if len(variants) < need:
        raise ValueError(f"only {len(variants)} variants have {MIN_AVAILABLE}+ units on WEB")
    bodies = tuple(
        body(ADD_TO_CART, {"cartId": cart_ids[k % len(cart_ids)], "variantId": variants[k]})
        for k in range(need)
    )
    return Operation(
        "add-to-cart",
        "add-to-cart",
        f"`addCartLines` of 1 unit over {len(cart_ids)} carts x {LINES_PER_CART} in-stock variants",
        bodies,
    )
