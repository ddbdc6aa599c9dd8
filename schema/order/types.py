"""Orders and their lines."""

from typing import Self

import strawberry

from datasources.order import OrderLineRecord, OrderPaymentRecord, OrderRecord, OrderStatus
from datasources.payments import PaymentStatus
from schema.access import PUBLIC
from schema.channel import Channel
from schema.customer.types import Customer
from schema.info import Info
from schema.money import Money, TaxedMoney
from schema.scalars import AWSDateTime

strawberry.enum(OrderStatus, description="Saleor's order lifecycle.")
strawberry.enum(PaymentStatus, description="Where a payment stands at the provider.")


@strawberry.type(description="The payment that settles an order.", directives=PUBLIC)
class Payment:
    id: strawberry.ID = strawberry.field(description="The provider's id (Stripe: pi_...).")
    provider: str
    status: PaymentStatus
    amount: Money

    @classmethod
    def of(cls, r: OrderPaymentRecord) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            provider=r.provider,
            status=PaymentStatus(r.status),
            amount=Money.of(r.amount),
        )


@strawberry.type(directives=PUBLIC)
class OrderLine:
    id: strawberry.ID
    variant_id: strawberry.ID
    sku: str
    product_name: str
    variant_name: str
    quantity: int
    unit_price: Money
    total: Money
    location_id: strawberry.ID

    @classmethod
    def of(cls, r: OrderLineRecord) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            variant_id=strawberry.ID(r.variant_id),
            sku=r.sku,
            product_name=r.product_name,
            variant_name=r.variant_name,
            quantity=r.quantity,
            unit_price=Money.of(r.unit_price),
            total=Money.of(r.unit_price.times(r.quantity)),
            location_id=strawberry.ID(r.location_id),
        )


@strawberry.type(
    description="A placed order; prices are frozen at the time it was placed.", directives=PUBLIC
)
class Order:
    id: strawberry.ID
    number: str
    status: OrderStatus
    origin: Channel
    cart_id: strawberry.ID
    lines: list[OrderLine]
    subtotal: Money
    total: TaxedMoney
    points_redeemed: int = strawberry.field(description="Loyalty points spent on the order.")
    discount: Money | None = strawberry.field(description="What the points took off.")
    amount_due: Money = strawberry.field(description="Gross total less the points discount.")
    payment: Payment | None = strawberry.field(description="Null when points paid it all.")
    placed_at: AWSDateTime
    record: strawberry.Private[OrderRecord]

    @classmethod
    def of(cls, r: OrderRecord) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            number=r.number,
            status=r.status,
            origin=r.channel,
            cart_id=strawberry.ID(r.cart_id),
            lines=[OrderLine.of(ln) for ln in r.lines],
            subtotal=Money.of(r.subtotal),
            total=TaxedMoney.of(r.subtotal, r.tax),
            points_redeemed=r.points_redeemed,
            discount=Money.of(r.discount) if r.discount else None,
            amount_due=Money.of(r.amount_due),
            payment=Payment.of(r.payment) if r.payment else None,
            placed_at=AWSDateTime(r.placed_at),
            record=r,
        )

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        if self.record.customer_id is None:
            return None
        record = await info.context.loaders.customer_by_id.load(self.record.customer_id)
        return Customer.of(record) if record else None
