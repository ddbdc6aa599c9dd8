"""Cart root fields."""

import strawberry

from resolvers import cart as carts
from schema.access import PUBLIC
from schema.cart.types import Cart, cart_for
from schema.info import Info


@strawberry.type
class CartQuery:
    @strawberry.field(directives=PUBLIC)
    async def cart(self, info: Info, id: strawberry.ID) -> Cart | None:
        return await cart_for(info, await carts.cart(info.context, id=str(id)))
