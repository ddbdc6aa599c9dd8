"""Recommendations: the contract every recommendation backend implements, and its records.

Reads are batch-first, the shape of a DataLoader's `load_fn`: N products (or customers) in, N
ranked lists out, in the same order. A list's order is its ranking (score descending, then
product id ascending); scores explain it and compare within one kind only. The one backend is
Neptune (`datasources/neptune/recommendations.py`); docs/graph.md gives the ranking rules.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from datasources import frozen
from datasources.order import OrderRecord, OrderStatus

# A guest order has no customer: its buyer is a vertex of its own, `guest:<order id>`.
GUEST_PREFIX = "guest:"


class RecommendationKind(enum.StrEnum):
    """The recommendations of one product."""

    ALSO_BOUGHT = "ALSO_BOUGHT"
    SIMILAR = "SIMILAR"


@frozen.record
class RankedProduct:
    product_id: str
    score: int


@frozen.record
class PurchaseLine:
    product_id: str
    quantity: int


@frozen.record
class Purchase:
    """What the graph learns from one order (`purchase_of`)."""

    order_id: str
    customer_id: str
    lines: Sequence[PurchaseLine]
    ts: datetime
    channel: str


def purchase_of(order: OrderRecord) -> Purchase | None:
    """The purchase an order records in the graph, or None (a cancelled order records none).

    A guest order is a basket like any other: its products were bought together, so it
    counts as one buyer for also-bought and cart complements. Its buyer is a vertex of its
    own, `guest:<order id>`, which no customer query ever starts from. The live write
    (placeOrder), the demo seed and `graph rebuild` all go through here, so they agree.
    """
    if order.status is OrderStatus.CANCELED or not order.lines:
        return None
    ts = datetime.fromisoformat(order.placed_at)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return Purchase(
        order_id=order.id,
        customer_id=order.customer_id or f"{GUEST_PREFIX}{order.id}",
        lines=tuple(PurchaseLine(ln.product_id, ln.quantity) for ln in order.lines),
        ts=ts,
        channel=order.channel.value,
    )


class RecommendationSource(Protocol):
    async def also_bought(
        self, product_ids: Sequence[str], limit: int
    ) -> Sequence[Sequence[RankedProduct]]: ...

    async def similar(
        self, product_ids: Sequence[str], limit: int
    ) -> Sequence[Sequence[RankedProduct]]: ...

    async def for_customer(
        self, customer_ids: Sequence[str], limit: int, *, channel: str | None = None
    ) -> Sequence[Sequence[RankedProduct]]: ...

    async def for_cart(self, product_ids: Sequence[str], limit: int) -> Sequence[RankedProduct]:
        """One list for the whole cart (complements of every product in it)."""
        ...

    async def add_purchase(
        self,
        order_id: str,
        customer_id: str,
        lines: Sequence[PurchaseLine],
        ts: datetime,
        *,
        channel: str | None = None,
    ) -> None:
        """Record a placed order; idempotent (replaying it changes nothing)."""
        ...

    async def add_view(self, customer_id: str, product_id: str, ts: datetime) -> None: ...
