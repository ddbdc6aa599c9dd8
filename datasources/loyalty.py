"""Loyalty (a commercial off-the-shelf system on PostgreSQL, on RDS in production).

Points are redeemed against an order exactly once: `redeem` is idempotent on the order id
(a retried checkout redeems nothing more), and `compensate` gives the points back when the
order fails after redemption, idempotently too.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from datasources import frozen
from datasources.errors import SourceRejectedError

SOURCE = "Loyalty"


class LoyaltyTier(enum.StrEnum):
    BRONZE = "BRONZE"
    SILVER = "SILVER"
    GOLD = "GOLD"
    PLATINUM = "PLATINUM"


@frozen.record
class LoyaltyRecord:
    customer_id: str
    tier: LoyaltyTier
    points: int  # spendable balance
    # Lifetime points needed for the next tier (None at the top tier); tiers go by lifetime
    # points earned, so redeeming does not demote.
    next_tier_at: int | None
    lifetime_points: int


class RedemptionStatus(enum.StrEnum):
    REDEEMED = "REDEEMED"
    COMPENSATED = "COMPENSATED"  # the order failed; the points went back


@frozen.record
class RedemptionRecord:
    order_id: str
    customer_id: str
    points: int
    status: RedemptionStatus


class InsufficientPointsError(SourceRejectedError):
    reason = "InsufficientPoints"


class RedemptionConflictError(SourceRejectedError):
    """The order id was already used to redeem another customer's or another amount."""

    reason = "RedemptionConflict"


class LoyaltySource(Protocol):
    async def accounts_by_customer(
        self, customer_ids: Sequence[str]
    ) -> Sequence[LoyaltyRecord | None]: ...

    async def redeem(self, *, order_id: str, customer_id: str, points: int) -> RedemptionRecord:
        """Take `points` from the balance for `order_id`, once. Raises InsufficientPointsError,
        RedemptionConflictError; a replay with the same arguments returns the first result
        (also after compensation: a compensated order is not redeemed again)."""
        ...

    async def compensate(self, order_id: str) -> RedemptionRecord | None:
        """Give back what `order_id` redeemed (None if it redeemed nothing). Idempotent."""
        ...
