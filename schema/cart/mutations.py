"""Cart mutations. Each returns `{cart, userErrors}`; a refused change writes nothing."""

from typing import Self

import strawberry

from resolvers import cart as carts
from resolvers.cart import CartResult, LineInput
from schema.access import PUBLIC
from schema.cart.types import Cart, cart_for
from schema.channel import Channel
from schema.errors import CartUserError
from schema.info import Info


@strawberry.input(description="A variant and how many of it.")
class CartLineInput:
    variant_id: strawberry.ID
    quantity: int

    def record(self) -> LineInput:
        return LineInput(variant_id=str(self.variant_id), quantity=self.quantity)


@strawberry.input
class CreateCartInput:
    channel: Channel
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="The store, for POS carts (required there)."
    )
    customer_id: strawberry.ID | None = None
    country: str | None = None
    lines: list[CartLineInput] | None = None


async def evict_cart(info: Info, cart_id: str) -> None:
    """AppSync's `evictFromApiCache`: a changed cart must not be served stale by Query.cart."""
    cache = info.context.cache
    if cache is not None and cache.evictable("Query", "cart"):
        await cache.evict_from_api_cache(info, "Query", "cart", {"$context.arguments.id": cart_id})


@strawberry.type(directives=PUBLIC)
class CartPayload:
    cart_id: strawberry.ID | None = strawberry.field(
        description="The cart changed; `onCartUpdated(cartId)` filters on it."
    )
    cart: Cart | None
    user_errors: list[CartUserError]

    @classmethod
    async def of(cls, info: Info, result: CartResult) -> Self:
        cart = None
        if result.cart and not result.user_errors:
            await evict_cart(info, result.cart.id)
            cart = await cart_for(info, result.cart, under_path="cart")
        return cls(
            cart_id=strawberry.ID(result.cart.id) if result.cart else None,
            cart=cart,
            user_errors=[CartUserError.of(e) for e in result.user_errors],
        )


@strawberry.type
class CartMutation:
    @strawberry.mutation(description="Start a cart. Emits CART_UPDATED.", directives=PUBLIC)
    async def create_cart(self, info: Info, input: CreateCartInput) -> CartPayload:
        return await CartPayload.of(
            info,
            await carts.create_cart(
                info.context,
                channel=input.channel,
                location_id=str(input.location_id) if input.location_id else None,
                customer_id=str(input.customer_id) if input.customer_id else None,
                country=input.country,
                lines=[ln.record() for ln in input.lines or ()],
            ),
        )

    @strawberry.mutation(
        description="Add variants; an existing line of the same variant grows. Emits CART_UPDATED.",
        directives=PUBLIC,
    )
    async def add_cart_lines(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineInput]
    ) -> CartPayload:
        return await CartPayload.of(
            info,
            await carts.add_cart_lines(
                info.context, cart_id=str(cart_id), lines=[ln.record() for ln in lines]
            ),
        )

    @strawberry.mutation(
        description="Set a line's quantity; 0 removes it. Emits CART_UPDATED.", directives=PUBLIC
    )
    async def update_cart_line(
        self, info: Info, cart_id: strawberry.ID, line_id: strawberry.ID, quantity: int
    ) -> CartPayload:
        return await CartPayload.of(
            info,
            await carts.update_cart_line(
                info.context, cart_id=str(cart_id), line_id=str(line_id), quantity=quantity
            ),
        )

    @strawberry.mutation(description="Remove a line. Emits CART_UPDATED.", directives=PUBLIC)
    async def remove_cart_line(
        self, info: Info, cart_id: strawberry.ID, line_id: strawberry.ID
    ) -> CartPayload:
        return await CartPayload.of(
            info,
            await carts.remove_cart_line(info.context, cart_id=str(cart_id), line_id=str(line_id)),
        )
