"""Order mutations."""

from __future__ import annotations

import strawberry

from resolvers import order as orders
from schema.access import PUBLIC
from schema.cart.mutations import evict_cart
from schema.errors import OrderUserError
from schema.info import Info
from schema.order.types import Order


@strawberry.input
class PlaceOrderInput:
    cart_id: strawberry.ID
    idempotency_key: strawberry.ID = strawberry.field(
        description="Same key and cart: the original order. Same key, other cart: "
        "IDEMPOTENCY_KEY_REUSED."
    )


@strawberry.type(directives=PUBLIC)
class PlaceOrderPayload:
    order: Order | None
    user_errors: list[OrderUserError]


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description="Turn a cart into an order: reserves stock and checks the cart out in one "
        "transaction; nothing is written if any part fails.",
        directives=PUBLIC,
    )
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        result = await orders.place_order(
            info.context, cart_id=str(input.cart_id), idempotency_key=str(input.idempotency_key)
        )
        if result.order is not None:
            await evict_cart(info, result.order.cart_id)  # the cart is now checked out
        return PlaceOrderPayload(
            order=Order.of(result.order) if result.order else None,
            user_errors=[OrderUserError.of(e) for e in result.user_errors],
        )
