"""Orders, and the one transaction that places them."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from datasources import frozen
from datasources.errors import ConditionFailedError
from datasources.events.records import DomainEvent
from datasources.records import Channel, MoneyRecord, Page


class OrderStatus(enum.StrEnum):
    """Saleor's order lifecycle."""

    UNCONFIRMED = "UNCONFIRMED"
    UNFULFILLED = "UNFULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    CANCELED = "CANCELED"
    RETURNED = "RETURNED"


@frozen.record
class OrderLineRecord:
    id: str
    product_id: str
    variant_id: str
    sku: str
    product_name: str
    variant_name: str
    quantity: int
    unit_price: MoneyRecord
    location_id: str


@frozen.record
class OrderPaymentRecord:
    """The payment that settles an order, as the provider reported it at checkout."""

    id: str
    provider: str
    status: str  # datasources.payments.PaymentStatus
    amount: MoneyRecord


@frozen.record
class OrderRecord:
    id: str
    number: str
    cart_id: str
    channel: Channel
    status: OrderStatus
    lines: Sequence[OrderLineRecord]
    subtotal: MoneyRecord
    tax: MoneyRecord
    total: MoneyRecord
    placed_at: str
    customer_id: str | None = None
    # Loyalty points spent on the order and what they took off the gross total.
    points_redeemed: int = 0
    discount: MoneyRecord | None = None
    payment: OrderPaymentRecord | None = None

    @property
    def amount_due(self) -> MoneyRecord:
        """The gross total less the loyalty discount: what the payment covers."""
        return self.total if self.discount is None else self.total + self.discount.negated()


@frozen.record
class StockReservation:
    product_id: str
    variant_id: str
    location_id: str
    quantity: int


@frozen.record
class IdempotencyRecord:
    key: str
    request_hash: str
    order_id: str


class CheckoutConflictError(ConditionFailedError):
    """The order transaction was cancelled; says which of its conditions failed."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        idempotency_key_taken: bool,
        cart_changed: bool,
        short_stock: Sequence[StockReservation],
    ) -> None:
        super().__init__(source, message)
        self.idempotency_key_taken = idempotency_key_taken
        self.cart_changed = cart_changed
        self.short_stock = tuple(short_stock)


class OrderSource(Protocol):
    async def orders_by_id(self, ids: Sequence[str]) -> Sequence[OrderRecord | None]: ...

    async def list_orders_by_customer(
        self, customer_id: str, *, limit: int, next_token: str | None
    ) -> Page[OrderRecord]: ...

    async def idempotency_record(self, key: str) -> IdempotencyRecord | None: ...

    async def place_order(
        self,
        order: OrderRecord,
        *,
        cart_version: int,
        reservations: Sequence[StockReservation],
        idempotency: IdempotencyRecord,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Write the order, mark the cart checked out, reserve stock, record the
        idempotency key and write `events` to the outbox — all or nothing. Raises
        `CheckoutConflictError`."""
        ...
