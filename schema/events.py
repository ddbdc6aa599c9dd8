"""Domain events for subscribers: IAM-only mutations that echo their input.

AppSync's "NONE data source" pattern: an EventBridge rule (or the outbox relay) calls these
mutations signed with IAM, they write nothing and return their input, and the realtime
endpoint pushes the result to the `onStockChanged` / `onPriceChanged` /
`onOrderStatusChanged` subscribers (schema/subscriptions.py). Heads never call them: only
`@aws_iam` is allowed, while the returned types are readable by the subscribers' modes.
"""

import strawberry

from datasources.order import OrderStatus
from schema.access import PUBLIC, SIGNED_IN
from schema.channel import Channel
from schema.directives import AwsIam
from schema.money import CurrencyCode
from schema.order.types import Order  # noqa: F401  (registers OrderStatus first)
from schema.scalars import AWSDateTime

IAM_ONLY = (AwsIam(),)


@strawberry.type(description="A variant's stock changed at one location.", directives=PUBLIC)
class StockChange:
    sku: str
    product_id: strawberry.ID
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int = strawberry.field(description="On hand.")
    available: int = strawberry.field(description="On hand less reserved.")
    occurred_at: AWSDateTime


@strawberry.input(description="What `publishStockChanged` echoes.", directives=IAM_ONLY)
class StockChangeInput:
    sku: str
    product_id: strawberry.ID
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    available: int
    occurred_at: AWSDateTime


@strawberry.type(description="A variant's price changed in one channel.", directives=PUBLIC)
class PriceChange:
    sku: str
    product_id: strawberry.ID
    variant_id: strawberry.ID
    channel: Channel
    amount: str = strawberry.field(description='Decimal string, e.g. "19.99".')
    currency_code: CurrencyCode
    occurred_at: AWSDateTime


@strawberry.input(description="What `publishPriceChanged` echoes.", directives=IAM_ONLY)
class PriceChangeInput:
    sku: str
    product_id: strawberry.ID
    variant_id: strawberry.ID
    channel: Channel
    amount: str
    currency_code: CurrencyCode
    occurred_at: AWSDateTime


@strawberry.type(description="An order moved to a new status.", directives=SIGNED_IN)
class OrderStatusChange:
    order_id: strawberry.ID
    customer_id: strawberry.ID | None = strawberry.field(description="None for guest orders.")
    status: OrderStatus
    occurred_at: AWSDateTime


@strawberry.input(description="What `publishOrderStatusChanged` echoes.", directives=IAM_ONLY)
class OrderStatusChangeInput:
    order_id: strawberry.ID
    customer_id: strawberry.ID | None = None
    status: OrderStatus
    occurred_at: AWSDateTime


@strawberry.type
class EventMutation:
    @strawberry.mutation(
        description="Announce a stock change to `onStockChanged` (IAM: the event relay).",
        directives=IAM_ONLY,
    )
    def publish_stock_changed(self, input: StockChangeInput) -> StockChange:
        return StockChange(**vars(input))

    @strawberry.mutation(
        description="Announce a price change to `onPriceChanged` (IAM: the event relay).",
        directives=IAM_ONLY,
    )
    def publish_price_changed(self, input: PriceChangeInput) -> PriceChange:
        return PriceChange(**vars(input))

    @strawberry.mutation(
        description="Announce an order status change to `onOrderStatusChanged` (IAM).",
        directives=IAM_ONLY,
    )
    def publish_order_status_changed(self, input: OrderStatusChangeInput) -> OrderStatusChange:
        return OrderStatusChange(**vars(input))
