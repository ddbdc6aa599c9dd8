"""Carts, their lines and server-computed totals.

Like products, a cart is built with everything its selected fields read (line prices, line
variants) fetched in one batch first, so line fields stay synchronous.
"""

from collections.abc import Mapping
from typing import Self

import strawberry

from datasources.cart import CartLineRecord, CartRecord, CartStatus
from datasources.errors import SourceError
from datasources.pricing import ProductPricesRecord
from resolvers import cart as carts
from resolvers import catalog
from resolvers import recommendations as recs
from resolvers.catalog import ProductView
from schema.access import PUBLIC
from schema.catalog.types import Product, Variant, needs_of_variant, products_for
from schema.channel import Channel
from schema.customer.types import Customer
from schema.info import Info
from schema.lookahead import selected_paths, under
from schema.money import CurrencyCode, Money, TaxedMoney
from schema.scalars import AWSDateTime

strawberry.enum(CartStatus, description="ACTIVE until an order is placed from it.")

Prices = Mapping[str, ProductPricesRecord | None]


async def cart_for(info: Info, record: CartRecord, *, under_path: str | None = None) -> "Cart":
    """Build the `Cart` of the current field, prefetching what the query selects."""
    paths = selected_paths(info)
    if under_path is not None:
        paths = under(paths, under_path)
    ctx = info.context
    prices: Prices = {}
    prices_error: SourceError | None = None
    if paths & {"lines.unitPrice", "lines.total", "totals"}:
        try:
            prices = await carts.line_prices(ctx, record)
        except SourceError as exc:  # only the price fields go null; the lines still show
            prices_error = exc
    views: dict[str, ProductView] = {}
    if "lines.variant" in paths:
        ids = list(dict.fromkeys(ln.product_id for ln in record.lines))
        products = [p for p in await ctx.loaders.product_by_id.load_many(ids) if p]
        needs = needs_of_variant(under(paths, "lines.variant"))
        views = {v.record.id: v for v in await catalog.hydrate(ctx, products, needs)}
    return Cart.of(record, prices, views, prices_error)


@strawberry.type(description="A quantity of one variant in a cart.", directives=PUBLIC)
class CartLine:
    id: strawberry.ID
    quantity: int
    record: strawberry.Private[CartLineRecord]
    cart: strawberry.Private[CartRecord]
    prices: strawberry.Private[Prices]
    view: strawberry.Private[ProductView | None]
    prices_error: strawberry.Private[SourceError | None]

    @strawberry.field(description="Null if the variant is no longer in the catalog.")
    def variant(self) -> Variant | None:
        if self.view is None:
            return None
        found = next((v for v in self.view.record.variants if v.id == self.record.variant_id), None)
        return Variant.of(found, self.view) if found else None

    @strawberry.field(
        description="Current price on the cart's channel (the customer's contract price where "
        "the ERP has one). Null, with the source's errorType, when it cannot be read."
    )
    def unit_price(self) -> Money | None:
        if self.prices_error is not None:
            raise self.prices_error
        return Money.of(carts.unit_price(self.cart, self.record, self.prices))

    @strawberry.field
    def total(self) -> Money | None:
        if self.prices_error is not None:
            raise self.prices_error
        unit = carts.unit_price(self.cart, self.record, self.prices)
        return Money.of(unit.times(self.record.quantity))


@strawberry.type(description="A shopping cart on one channel.", directives=PUBLIC)
class Cart:
    id: strawberry.ID
    channel: Channel
    status: CartStatus
    currency_code: CurrencyCode
    location_id: strawberry.ID | None
    country: str | None
    created_at: AWSDateTime
    updated_at: AWSDateTime
    record: strawberry.Private[CartRecord]
    prices: strawberry.Private[Prices]
    views: strawberry.Private[Mapping[str, ProductView]]
    prices_error: strawberry.Private[SourceError | None]

    @classmethod
    def of(
        cls,
        r: CartRecord,
        prices: Prices,
        views: Mapping[str, ProductView],
        prices_error: SourceError | None = None,
    ) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            channel=r.channel,
            status=r.status,
            currency_code=CurrencyCode(r.currency_code),
            location_id=strawberry.ID(r.location_id) if r.location_id else None,
            country=r.country,
            created_at=AWSDateTime(r.created_at),
            updated_at=AWSDateTime(r.updated_at),
            record=r,
            prices=prices,
            views=views,
            prices_error=prices_error,
        )

    @strawberry.field
    def lines(self) -> list[CartLine]:
        return [
            CartLine(
                id=strawberry.ID(ln.id),
                quantity=ln.quantity,
                record=ln,
                cart=self.record,
                prices=self.prices,
                view=self.views.get(ln.product_id),
                prices_error=self.prices_error,
            )
            for ln in self.record.lines
        ]

    @strawberry.field
    def total_quantity(self) -> int:
        return sum(ln.quantity for ln in self.record.lines)

    @strawberry.field(
        description="Subtotal (net), tax and total (gross) at current prices. Null, with "
        "errorType Tax:<Reason> (or the price source's), when they cannot be computed; the "
        "lines are unaffected."
    )
    async def totals(self, info: Info) -> TaxedMoney | None:
        if self.prices_error is not None:
            raise self.prices_error
        t = await carts.totals(info.context, self.record, self.prices)
        return TaxedMoney.of(t.subtotal, t.tax)

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        if self.record.customer_id is None:
            return None
        record = await info.context.loaders.customer_by_id.load(self.record.customer_id)
        return Customer.of(record) if record else None

    @strawberry.field(
        description="Complements of what is in the cart, best first (limit 1-20); empty for "
        "an empty cart. Null, with errorType Neptune:<Reason>, when the recommendation graph "
        "cannot answer."
    )
    async def recommendations(
        self, info: Info, limit: int | None = recs.DEFAULT_LIMIT
    ) -> list[Product] | None:
        records = await recs.for_cart(info.context, self.record, limit=limit)
        return await products_for(info, records)
