"""Carts, their lines and server-computed totals."""

from __future__ import annotations

import strawberry

from datasources.cart import CartLineRecord, CartRecord, CartStatus
from resolvers import cart as carts
from resolvers import catalog
from schema.catalog.types import Variant
from schema.channel import Channel
from schema.customer.types import Customer
from schema.info import Info
from schema.money import CurrencyCode, Money, TaxedMoney
from schema.scalars import AWSDateTime

strawberry.enum(CartStatus, description="ACTIVE until an order is placed from it.")


@strawberry.type(description="A quantity of one variant in a cart.")
class CartLine:
    id: strawberry.ID
    quantity: int
    record: strawberry.Private[CartLineRecord]
    cart: strawberry.Private[CartRecord]

    @classmethod
    def of(cls, cart: CartRecord, line: CartLineRecord) -> CartLine:
        return cls(id=strawberry.ID(line.id), quantity=line.quantity, record=line, cart=cart)

    @strawberry.field
    async def variant(self, info: Info) -> Variant | None:
        product = await catalog.product(info.context, id=self.record.product_id, sku=None)
        variant = next((v for v in product.variants if v.id == self.record.variant_id), None)
        return Variant.of(variant) if variant else None

    @strawberry.field(description="Current list price on the cart's channel.")
    async def unit_price(self, info: Info) -> Money:
        return Money.of(await carts.line_unit_price(info.context, self.cart, self.record))

    @strawberry.field
    async def total(self, info: Info) -> Money:
        unit = await carts.line_unit_price(info.context, self.cart, self.record)
        return Money.of(unit.times(self.record.quantity))


@strawberry.type(description="A shopping cart on one channel.")
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

    @classmethod
    def of(cls, r: CartRecord) -> Cart:
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
        )

    @strawberry.field
    def lines(self) -> list[CartLine]:
        return [CartLine.of(self.record, ln) for ln in self.record.lines]

    @strawberry.field
    def total_quantity(self) -> int:
        return sum(ln.quantity for ln in self.record.lines)

    @strawberry.field(description="Subtotal (net), tax and total (gross) at current prices.")
    async def totals(self, info: Info) -> TaxedMoney | None:
        t = await carts.totals(info.context, self.record)
        return TaxedMoney.of(t.subtotal, t.tax)

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        if self.record.customer_id is None:
            return None
        record = await info.context.loaders.customer_by_id.load(self.record.customer_id)
        return Customer.of(record) if record else None
