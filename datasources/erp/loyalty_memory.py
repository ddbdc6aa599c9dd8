"""Loyalty in process memory, for `make run` without PostgreSQL.

It passes the same contract suite as `PostgresLoyaltySource` (tests/test_loyalty.py), which
is what allows it to stand in: one `asyncio.Lock` makes each operation as atomic as the
database's transaction, and the rules (exactly once per order, VOIDED fences, tiers that only
go up) are the same. Calls go through Resilience too, so metrics and errors look alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from datasources import frozen
from datasources.erp.loyalty import Enrollment, require_positive
from datasources.errors import SourceRejectedError
from datasources.loyalty import (
    SOURCE,
    InsufficientPointsError,
    LoyaltyRecord,
    LoyaltyTier,
    RedemptionConflictError,
    RedemptionRecord,
    RedemptionStatus,
)
from datasources.resilience import Policy, Resilience

T = TypeVar("T")

# A copy of `loyalty.tier` as migration 0001 seeds it; a test compares the two.
DEFAULT_TIERS: tuple[tuple[LoyaltyTier, int], ...] = (
    (LoyaltyTier.BRONZE, 0),
    (LoyaltyTier.SILVER, 1000),
    (LoyaltyTier.GOLD, 5000),
    (LoyaltyTier.PLATINUM, 20000),
)
_VOIDED = "VOIDED"


@dataclass(slots=True)
class _Account:
    points: int
    lifetime_points: int
    tier: LoyaltyTier


@frozen.record
class _Redemption:
    customer_id: str | None  # None when VOIDED
    points: int
    status: str  # RedemptionStatus or VOIDED


class InMemoryLoyaltySource:
    def __init__(
        self,
        resilience: Resilience | None = None,
        *,
        tiers: Sequence[tuple[LoyaltyTier, int]] = DEFAULT_TIERS,
    ) -> None:
        self.resilience = resilience or Resilience(SOURCE, Policy())
        self._tiers = tuple(tiers)
        self._rank = {tier: rank for rank, (tier, _) in enumerate(self._tiers)}
        self._lock = asyncio.Lock()
        self._accounts: dict[str, _Account] = {}
        self._redemptions: dict[str, _Redemption] = {}
        self._earned: dict[str, tuple[str, int]] = {}

    async def accounts_by_customer(
        self, customer_ids: Sequence[str]
    ) -> Sequence[LoyaltyRecord | None]:
        async def work() -> list[LoyaltyRecord | None]:
            return [self._record(customer_id) for customer_id in customer_ids]

        return await self._call(work)

    async def redeem(self, *, order_id: str, customer_id: str, points: int) -> RedemptionRecord:
        require_positive(points)

        async def work() -> RedemptionRecord:
            taken = self._redemptions.get(order_id)
            if taken is not None:
                if taken.status == _VOIDED:
                    raise RedemptionConflictError(
                        SOURCE, f"Order {order_id} was cancelled before any points were redeemed."
                    )
                if (taken.customer_id, taken.points) != (customer_id, points):
                    raise RedemptionConflictError(
                        SOURCE, f"Order {order_id} already redeemed other points."
                    )
                return self._redemption(order_id, taken)
            account = self._accounts.get(customer_id)
            if account is None:
                raise InsufficientPointsError(SOURCE, f"{customer_id} has no loyalty account.")
            if account.points < points:
                raise InsufficientPointsError(
                    SOURCE, f"{customer_id} has fewer than {points} points."
                )
            account.points -= points
            self._redemptions[order_id] = _Redemption(
                customer_id, points, RedemptionStatus.REDEEMED
            )
            return RedemptionRecord(order_id, customer_id, points, RedemptionStatus.REDEEMED)

        return await self._call(work)

    async def compensate(self, order_id: str) -> RedemptionRecord | None:
        async def work() -> RedemptionRecord | None:
            taken = self._redemptions.get(order_id)
            if taken is None:
                self._redemptions[order_id] = _Redemption(None, 0, _VOIDED)
                return None
            if taken.status == _VOIDED:
                return None
            if taken.status == RedemptionStatus.REDEEMED:
                assert taken.customer_id is not None
                self._accounts[taken.customer_id].points += taken.points
                taken = _Redemption(taken.customer_id, taken.points, RedemptionStatus.COMPENSATED)
                self._redemptions[order_id] = taken
            return self._redemption(order_id, taken)

        return await self._call(work)

    async def earn(self, *, order_id: str, customer_id: str, points: int) -> LoyaltyRecord:
        require_positive(points)

        async def work() -> LoyaltyRecord:
            account = self._accounts.setdefault(customer_id, _Account(0, 0, self._tiers[0][0]))
            first = self._earned.get(order_id)
            if first is None:
                self._earned[order_id] = (customer_id, points)
                account.points += points
                account.lifetime_points += points
                reached = self._tier_for(account.lifetime_points)
                if self._rank[reached] > self._rank[account.tier]:
                    account.tier = reached
            elif first != (customer_id, points):
                raise SourceRejectedError(
                    SOURCE, f"Order {order_id} already earned other points.", reason="EarnConflict"
                )
            record = self._record(customer_id)
            assert record is not None
            return record

        return await self._call(work)

    async def enroll(self, enrollments: Sequence[Enrollment]) -> None:
        async def work() -> None:
            for e in enrollments:
                if e.customer_id not in self._accounts:
                    self._accounts[e.customer_id] = _Account(
                        e.points, e.lifetime_points, self._tier_for(e.lifetime_points)
                    )

        await self._call(work)

    async def tiers(self) -> tuple[tuple[LoyaltyTier, int], ...]:
        return self._tiers

    async def ping(self) -> bool:
        return True

    def _tier_for(self, lifetime_points: int) -> LoyaltyTier:
        reached = [tier for tier, floor in self._tiers if floor <= lifetime_points]
        return reached[-1] if reached else self._tiers[0][0]

    def _record(self, customer_id: str) -> LoyaltyRecord | None:
        account = self._accounts.get(customer_id)
        if account is None:
            return None
        above = self._tiers[self._rank[account.tier] + 1 :]
        return LoyaltyRecord(
            customer_id=customer_id,
            tier=account.tier,
            points=account.points,
            next_tier_at=above[0][1] if above else None,
            lifetime_points=account.lifetime_points,
        )

    @staticmethod
    def _redemption(order_id: str, r: _Redemption) -> RedemptionRecord:
        assert r.customer_id is not None
        return RedemptionRecord(order_id, r.customer_id, r.points, RedemptionStatus(r.status))

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self._lock:
                return await work()

        return await self.resilience.call(attempt, idempotent=True)
