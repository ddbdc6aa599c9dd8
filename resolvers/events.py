"""The domain events each mutation emits (DOMAIN.md, "Events"), built from its records.

The write paths put them in the mutation's own DynamoDB transaction (the outbox), so an event
exists exactly when its state change committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasources.cart import CartRecord
from datasources.events.records import DomainEvent
from datasources.order import OrderRecord, StockReservation
from datasources.records import MoneyRecord

CART_UPDATED = "CART_UPDATED"
ORDER_CREATED = "ORDER_CREATED"
STOCK_RESERVED = "STOCK_RESERVED"


def _money(m: MoneyRecord) -> dict[str, str]:
    return {"amount": str(m.amount), "currencyCode": m.currency_code}


def cart_updated(cart: CartRecord) -> DomainEvent:
    """`cart` as it will be written (its version included): createCart and every line change."""
    return DomainEvent.new(
        "cart",
        CART_UPDATED,
        {
            "cartId": cart.id,
            "customerId": cart.customer_id,
            "channel": cart.channel.value,
            "locationId": cart.location_id,
            "status": cart.status.value,
            "version": cart.version,
            "lines": [
                {
                    "lineId": ln.id,
                    "productId": ln.product_id,
                    "variantId": ln.variant_id,
                    "quantity": ln.quantity,
                }
                for ln in cart.lines
            ],
            "totalQuantity": sum(ln.quantity for ln in cart.lines),
        },
        channel=cart.channel.value,
        occurred_at=cart.updated_at,
    )


def order_created(order: OrderRecord) -> DomainEvent:
    totals: dict[str, Any] = {
        "subtotal": _money(order.subtotal),
        "tax": _money(order.tax),
        "total": _money(order.total),
        "amountDue": _money(order.amount_due),
    }
    if order.discount is not None:
        totals["discount"] = _money(order.discount)
    return DomainEvent.new(
        "order",
        ORDER_CREATED,
        {
            "orderId": order.id,
            "number": order.number,
            "cartId": order.cart_id,
            "customerId": order.customer_id,
            "channel": order.channel.value,
            "status": order.status.value,
            "placedAt": order.placed_at,
            "totals": totals,
            "pointsRedeemed": order.points_redeemed,
            "paymentStatus": order.payment.status if order.payment else None,
            "lines": [
                {
                    "lineId": ln.id,
                    "productId": ln.product_id,
                    "variantId": ln.variant_id,
                    "sku": ln.sku,
                    "quantity": ln.quantity,
                    "unitPrice": _money(ln.unit_price),
                    "locationId": ln.location_id,
                }
                for ln in order.lines
            ],
        },
        channel=order.channel.value,
        occurred_at=order.placed_at,
    )


def stock_reserved(order: OrderRecord, reservations: Sequence[StockReservation]) -> DomainEvent:
    return DomainEvent.new(
        "inventory",
        STOCK_RESERVED,
        {
            "orderId": order.id,
            "reservations": [
                {
                    "productId": r.product_id,
                    "variantId": r.variant_id,
                    "locationId": r.location_id,
                    "quantity": r.quantity,
                }
                for r in reservations
            ],
        },
        channel=order.channel.value,
        occurred_at=order.placed_at,
    )


def order_placed(
    order: OrderRecord, reservations: Sequence[StockReservation]
) -> tuple[DomainEvent, ...]:
    """placeOrder's events, committed with the order."""
    return (order_created(order), stock_reserved(order, reservations))
