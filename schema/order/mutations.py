"""Order mutations."""

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
        description="Same key and input: the original order (and the same payment: a "
        "retried checkout never charges twice). Same key, other input: IDEMPOTENCY_KEY_REUSED."
    )
    payment_method_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The payment provider's token for the shopper's payment method (Stripe: "
        "pm_...; test pm_card_visa). Needed unless points cover the whole order.",
    )
    redeem_points: int | None = strawberry.field(
        default=None,
        description="Loyalty points to spend on the order (the customer's cart only); each "
        "takes the configured point value off the gross total.",
    )


@strawberry.type(directives=PUBLIC)
class PlaceOrderPayload:
    order: Order | None
    user_errors: list[OrderUserError]


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description="Turn a cart into an order: taxes it, redeems points, authorizes the "
        "payment, then reserves stock and checks the cart out in one transaction. A declined "
        "payment or an unavailable tax, loyalty or payment service is a userError and writes "
        "nothing; if the transaction fails the payment is cancelled and the points returned. Emits "
        "ORDER_CREATED and STOCK_RESERVED, in the order's transaction.",
        directives=PUBLIC,
    )
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        result = await orders.place_order(
            info.context,
            cart_id=str(input.cart_id),
            idempotency_key=str(input.idempotency_key),
            payment_method=str(input.payment_method_id) if input.payment_method_id else None,
            redeem_points=input.redeem_points or 0,
        )
        if result.order is not None:
            await evict_cart(info, result.order.cart_id)  # the cart is now checked out
        return PlaceOrderPayload(
            order=Order.of(result.order) if result.order else None,
            user_errors=[OrderUserError.of(e) for e in result.user_errors],
        )
