"""Customers and addresses."""

from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from datasources.customer import AddressRecord, CustomerRecord
from datasources.loyalty import LoyaltyRecord, LoyaltyTier
from resolvers import customer as customers
from resolvers import order as orders
from resolvers import recommendations as recs
from schema.access import SIGNED_IN
from schema.catalog.types import Product, products_for
from schema.channel import Channel
from schema.info import Info
from schema.pagination import Connection
from schema.scalars import AWSDateTime, AWSEmail, AWSPhone

if TYPE_CHECKING:
    from schema.order.types import Order


@strawberry.type(directives=SIGNED_IN)
class Address:
    first_name: str
    last_name: str
    street: str
    city: str
    postal_code: str
    country: str
    phone: AWSPhone | None

    @classmethod
    def of(cls, a: AddressRecord) -> Self:
        return cls(
            first_name=a.first_name,
            last_name=a.last_name,
            street=a.street,
            city=a.city,
            postal_code=a.postal_code,
            country=a.country,
            phone=AWSPhone(a.phone) if a.phone else None,
        )


strawberry.enum(LoyaltyTier, description="Loyalty tiers, by lifetime points.")


@strawberry.type(description="A customer's loyalty account.", directives=SIGNED_IN)
class Loyalty:
    tier: LoyaltyTier
    points: int = strawberry.field(description="Spendable balance.")
    lifetime_points: int
    next_tier_at: int | None = strawberry.field(
        description="Lifetime points that reach the next tier; null at the top tier."
    )

    @classmethod
    def of(cls, r: LoyaltyRecord) -> Self:
        return cls(
            tier=r.tier,
            points=r.points,
            lifetime_points=r.lifetime_points,
            next_tier_at=r.next_tier_at,
        )


@strawberry.type(description="A shopper with an account.", directives=SIGNED_IN)
class Customer:
    id: strawberry.ID
    email: AWSEmail
    first_name: str
    last_name: str
    phone: AWSPhone | None
    addresses: list[Address]
    created_at: AWSDateTime

    @classmethod
    def of(cls, r: CustomerRecord) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            email=AWSEmail(r.email),
            first_name=r.first_name,
            last_name=r.last_name,
            phone=AWSPhone(r.phone) if r.phone else None,
            addresses=[Address.of(a) for a in r.addresses],
            created_at=AWSDateTime(r.created_at),
        )

    @strawberry.field(
        description="Points and tier in the loyalty system; null if not enrolled, or (with "
        "errorType Loyalty:<Reason>) when the loyalty system cannot answer."
    )
    async def loyalty(self, info: Info) -> Loyalty | None:
        record = await customers.loyalty(info.context, str(self.id))
        return Loyalty.of(record) if record else None

    @strawberry.field(description="Newest first.")
    async def orders(
        self, info: Info, limit: int | None = None, next_token: str | None = None
    ) -> Connection[Annotated["Order", strawberry.lazy("schema.order.types")]]:
        from schema.order.types import Order

        page = await orders.orders_of_customer(
            info.context, str(self.id), limit=limit, next_token=next_token
        )
        return Connection.of(page, Order.of)

    @strawberry.field(
        description="Products for this customer, best first (limit 1-20): from what they "
        "bought and recently viewed, never what they already bought, topped up with the "
        "channel's bestsellers (all of them on a first visit). Null, with errorType "
        "Neptune:<Reason>, when the recommendation graph cannot answer."
    )
    async def recommendations(
        self, info: Info, limit: int | None = recs.DEFAULT_LIMIT, channel: Channel | None = None
    ) -> list[Product] | None:
        records = await recs.for_customer(info.context, str(self.id), limit=limit, channel=channel)
        return await products_for(info, records)
