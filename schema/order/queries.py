"""Order root fields."""

import strawberry

from resolvers import order as orders
from schema.access import PUBLIC
from schema.info import Info
from schema.order.types import Order


@strawberry.type
class OrderQuery:
    @strawberry.field(directives=PUBLIC)
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        return Order.of(await orders.order(info.context, id=str(id)))
