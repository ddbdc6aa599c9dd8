"""The Subscription root: each field is fed by the mutations its `@aws_subscribe` names.

Nothing here runs: the AppSync realtime endpoint (appsync/realtime) pushes the listed
mutations' results to subscribers, with the arguments as equality filters on the payload's
top-level fields (APPSYNC.md §5.4). Strawberry wants async generators for subscription
fields; these never yield. A field's return type must be the listed mutations' return type.
"""

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from schema.access import PUBLIC, SIGNED_IN
from schema.cart.mutations import CartPayload
from schema.channel import Channel
from schema.directives import AwsSubscribe
from schema.events import OrderStatusChange, PriceChange, StockChange

CART_MUTATIONS = ["createCart", "addCartLines", "updateCartLine", "removeCartLine"]


async def _pushed_by_the_realtime_endpoint() -> AsyncGenerator[Any, None]:
    return
    yield  # an async generator that ends at once


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A cart's changes, as the cart mutations return them.",
        directives=(*PUBLIC, AwsSubscribe(mutations=list(CART_MUTATIONS))),
    )
    def on_cart_updated(self, cart_id: strawberry.ID) -> AsyncGenerator[CartPayload, None]:
        return _pushed_by_the_realtime_endpoint()

    @strawberry.subscription(
        description="An order's status changes; a customer may only follow their own orders.",
        directives=(*SIGNED_IN, AwsSubscribe(mutations=["publishOrderStatusChanged"])),
    )
    def on_order_status_changed(
        self,
        customer_id: strawberry.ID | None = strawberry.UNSET,
        order_id: strawberry.ID | None = strawberry.UNSET,
    ) -> AsyncGenerator[OrderStatusChange, None]:
        return _pushed_by_the_realtime_endpoint()

    @strawberry.subscription(
        description="Stock changes of a SKU, optionally at one location.",
        directives=(*PUBLIC, AwsSubscribe(mutations=["publishStockChanged"])),
    )
    def on_stock_changed(
        self,
        sku: str | None = strawberry.UNSET,
        location_id: strawberry.ID | None = strawberry.UNSET,
    ) -> AsyncGenerator[StockChange, None]:
        return _pushed_by_the_realtime_endpoint()

    @strawberry.subscription(
        description="Price changes of a SKU, optionally in one channel.",
        directives=(*PUBLIC, AwsSubscribe(mutations=["publishPriceChanged"])),
    )
    def on_price_changed(
        self, sku: str | None = strawberry.UNSET, channel: Channel | None = strawberry.UNSET
    ) -> AsyncGenerator[PriceChange, None]:
        return _pushed_by_the_realtime_endpoint()
