"""A variant's price on one channel."""

from typing import Self

import strawberry

from datasources.pricing import PriceRecord
from schema.access import PUBLIC
from schema.channel import Channel
from schema.money import Money


@strawberry.type(
    description="List price on a channel, with the compare-at (was) price if any.",
    directives=PUBLIC,
)
class VariantPrice:
    channel: Channel
    price: Money
    compare_at_price: Money | None
    is_contract_price: bool = strawberry.field(
        description="The customer's negotiated price (ERP price condition); the list price is "
        "then the compare-at price."
    )

    @classmethod
    def of(cls, channel: Channel, r: PriceRecord) -> Self:
        return cls(
            channel=channel,
            price=Money.of(r.price),
            compare_at_price=Money.of(r.compare_at) if r.compare_at else None,
            is_contract_price=r.contract,
        )
