"""Loyalty on PostgreSQL (the COTS product's database; RDS in production), over an asyncpg pool.

Exactly once per order, by construction rather than by checking first:
- `redeem` inserts the redemption row keyed by the order id and takes the points in the same
  transaction. A duplicate running concurrently waits on the first one's primary-key entry,
  then finds its committed row and returns it; the conditional decrement (`points_balance >=
  n`, re-checked by PostgreSQL on the latest row version after waiting on a concurrent
  update) never overdraws. The rollback of a refused redemption removes its row too.
- `compensate` flips REDEEMED to COMPENSATED and credits in one transaction; the flip's row
  lock serializes concurrent compensations and only the one that flipped credits. For an
  order with no redemption it leaves a VOIDED row, so a redemption still in flight (its
  caller timed out) cannot take the points afterwards.
Both are therefore idempotent and retried by Resilience like reads.

Every call runs under the "Loyalty" `Resilience`; asyncpg, server and OS failures are mapped
by `translate` (one boundary). Timeouts exist at three levels, all mapped to Loyalty:Timeout:
Resilience's per attempt, asyncpg's `timeout=` (pool acquire, `command_timeout`), and the
server's `statement_timeout` (so PostgreSQL stops working for a caller that has given up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from datasources import frozen
from datasources.errors import (
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.loyalty import (
    SOURCE,
    InsufficientPointsError,
    LoyaltyRecord,
    LoyaltyTier,
    RedemptionConflictError,
    RedemptionRecord,
    RedemptionStatus,
)
from datasources.resilience import Resilience

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")


class TransactionConflictError(SourceError):
    """PostgreSQL aborted the transaction to keep it serializable (40001) or to break a
    deadlock (40P01). The source is healthy, so the breaker does not count it; every loyalty
    call is idempotent, so it is retried."""

    reason = "TransactionConflict"
    retryable = True


@frozen.record
class Enrollment:
    """An account as the loyalty system's import takes it (the tier follows lifetime points)."""

    customer_id: str
    points: int
    lifetime_points: int


def translate(exc: BaseException) -> SourceError:
    """Map an asyncpg/OS failure to the most specific error of our tree."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return TransactionConflictError(SOURCE, f"Loyalty transaction aborted: {exc}")
    # 57014 is statement_timeout (or our cancel); 55P03 is lock_timeout.
    if isinstance(exc, asyncpg.QueryCanceledError | asyncpg.LockNotAvailableError):
        return SourceTimeoutError(SOURCE, f"Loyalty gave up on the statement: {exc}")
    if isinstance(exc, TimeoutError):  # asyncpg's timeout=, pool acquire, connect
        return SourceTimeoutError(SOURCE, "Loyalty did not answer in time.")
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.OperatorInterventionError  # admin/crash shutdown, starting up
        | asyncpg.InsufficientResourcesError  # too many connections, disk full
        | asyncpg.InterfaceError  # connection closed under us
        | OSError,  # refused, reset, unreachable
    ):
        return SourceUnavailableError(
            SOURCE, f"Loyalty cannot be reached: {type(exc).__name__}: {exc}"
        )
    if isinstance(exc, asyncpg.PostgresError):
        return SourceUnavailableError(
            SOURCE, f"Loyalty failed: {exc.sqlstate} {type(exc).__name__}"
        )
    return SourceUnavailableError(SOURCE, f"Loyalty call failed: {type(exc).__name__}: {exc}")


def require_positive(points: int) -> None:
    if points <= 0:
        raise SourceRejectedError(
            SOURCE, f"Points must be positive, not {points}.", reason="Invalid"
        )


_ACCOUNTS = """
SELECT a.customer_id, a.tier_code, a.points_balance, a.lifetime_points,
       (SELECT min(n.min_lifetime_points) FROM loyalty.tier n WHERE n.rank > t.rank)
         AS next_tier_at
FROM loyalty.account a JOIN loyalty.tier t ON t.code = a.tier_code
WHERE a.customer_id = ANY($1::text[])
"""

_CLAIM = """
INSERT INTO loyalty.redemption (order_id, customer_id, points, status)
VALUES ($1, $2, $3, 'REDEEMED')
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
"""

_DEBIT = """
UPDATE loyalty.account SET points_balance = points_balance - $2, updated_at = now()
WHERE customer_id = $1 AND points_balance >= $2
RETURNING points_balance
"""

_CREDIT = """
UPDATE loyalty.account SET points_balance = points_balance + $2, updated_at = now()
WHERE customer_id = $1
"""

_LEDGER = """
INSERT INTO loyalty.ledger_entry (customer_id, entry_type, points, order_id)
VALUES ($1, $2, $3, $4)
"""

_REDEMPTION = "SELECT customer_id, points, status FROM loyalty.redemption WHERE order_id = $1"

_FLIP = """
UPDATE loyalty.redemption SET status = 'COMPENSATED', compensated_at = now()
WHERE order_id = $1 AND status = 'REDEEMED'
RETURNING customer_id, points
"""

_VOID = """
INSERT INTO loyalty.redemption (order_id, customer_id, points, status, compensated_at)
VALUES ($1, NULL, 0, 'VOIDED', now())
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
"""

_EARN_ENTRY = """
INSERT INTO loyalty.ledger_entry (customer_id, entry_type, points, order_id)
VALUES ($1, 'EARN', $2, $3)
ON CONFLICT (order_id, entry_type) WHERE order_id IS NOT NULL DO NOTHING
RETURNING entry_id
"""

# Tiers only go up: the highest tier reached by lifetime points, never below the current one.
_EARN_ACCOUNT = """
UPDATE loyalty.account a
SET points_balance = a.points_balance + $2,
    lifetime_points = a.lifetime_points + $2,
    tier_code = COALESCE((
        SELECT t.code FROM loyalty.tier t
        WHERE t.min_lifetime_points <= a.lifetime_points + $2
          AND t.rank >= (SELECT c.rank FROM loyalty.tier c WHERE c.code = a.tier_code)
        ORDER BY t.rank DESC LIMIT 1), a.tier_code),
    updated_at = now()
WHERE a.customer_id = $1
"""

_ENROLL = """
WITH new AS (
    INSERT INTO loyalty.account (customer_id, points_balance, lifetime_points, tier_code)
    SELECT e.customer_id, e.points, e.lifetime,
           (SELECT t.code FROM loyalty.tier t WHERE t.min_lifetime_points <= e.lifetime
            ORDER BY t.rank DESC LIMIT 1)
    FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS e(customer_id, points, lifetime)
    ON CONFLICT (customer_id) DO NOTHING
    RETURNING customer_id, points_balance
)
INSERT INTO loyalty.ledger_entry (customer_id, entry_type, points, note)
SELECT customer_id, 'OPENING', points_balance, 'opening balance' FROM new
WHERE points_balance <> 0
"""


class PostgresLoyaltySource:
    """`LoyaltySource` on the loyalty database; `round_trips` counts pool checkouts."""

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        resilience: Resilience,
        *,
        acquire_timeout_seconds: float | None = None,
    ) -> None:
        self._pool = pool
        self.resilience = resilience
        self._acquire_timeout = acquire_timeout_seconds or resilience.policy.timeout_seconds
        self.round_trips = 0

    async def accounts_by_customer(
        self, customer_ids: Sequence[str]
    ) -> Sequence[LoyaltyRecord | None]:
        if not customer_ids:
            return []

        async def work(conn: Conn) -> list[asyncpg.Record]:
            return await conn.fetch(_ACCOUNTS, sorted(set(customer_ids)))

        rows = await self._call(work)
        found = {row["customer_id"]: _account(row) for row in rows}
        return [found.get(customer_id) for customer_id in customer_ids]

    async def redeem(self, *, order_id: str, customer_id: str, points: int) -> RedemptionRecord:
        require_positive(points)

        async def work(conn: Conn) -> RedemptionRecord:
            async with conn.transaction():
                try:
                    claimed = await conn.fetchval(_CLAIM, order_id, customer_id, points)
                except asyncpg.ForeignKeyViolationError:
                    raise InsufficientPointsError(
                        SOURCE, f"{customer_id} has no loyalty account."
                    ) from None
                if claimed is None:
                    return _replay(order_id, customer_id, points, await self._row(conn, order_id))
                if await conn.fetchval(_DEBIT, customer_id, points) is None:
                    raise InsufficientPointsError(
                        SOURCE, f"{customer_id} has fewer than {points} points."
                    )
                await conn.execute(_LEDGER, customer_id, "REDEEM", -points, order_id)
            return RedemptionRecord(order_id, customer_id, points, RedemptionStatus.REDEEMED)

        return await self._call(work)

    async def compensate(self, order_id: str) -> RedemptionRecord | None:
        async def work(conn: Conn) -> RedemptionRecord | None:
            async with conn.transaction():
                # Two passes at most: the void may wait on a redemption committing right now,
                # whose row the second pass then flips.
                for _ in range(2):
                    flipped = await conn.fetchrow(_FLIP, order_id)
                    if flipped is not None:
                        customer_id, points = flipped["customer_id"], flipped["points"]
                        await conn.execute(_CREDIT, customer_id, points)
                        await conn.execute(_LEDGER, customer_id, "REVERSAL", points, order_id)
                        return RedemptionRecord(
                            order_id, customer_id, points, RedemptionStatus.COMPENSATED
                        )
                    if await conn.fetchval(_VOID, order_id) is not None:
                        return None
                    row = await self._row(conn, order_id)
                    if row is None or row["status"] == "VOIDED":
                        return None
                    if row["status"] == RedemptionStatus.COMPENSATED:
                        return _record(order_id, row)
            raise TransactionConflictError(SOURCE, f"Compensating {order_id} kept racing.")

        return await self._call(work)

    async def earn(self, *, order_id: str, customer_id: str, points: int) -> LoyaltyRecord:
        """Credit `points` for `order_id`, once (enrolling the customer if need be)."""
        require_positive(points)

        async def work(conn: Conn) -> LoyaltyRecord:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO loyalty.account (customer_id) VALUES ($1) "
                    "ON CONFLICT (customer_id) DO NOTHING",
                    customer_id,
                )
                if await conn.fetchval(_EARN_ENTRY, customer_id, points, order_id) is not None:
                    await conn.execute(_EARN_ACCOUNT, customer_id, points)
                else:
                    first = await conn.fetchrow(
                        "SELECT customer_id, points FROM loyalty.ledger_entry "
                        "WHERE order_id = $1 AND entry_type = 'EARN'",
                        order_id,
                    )
                    if first is None or (first["customer_id"], first["points"]) != (
                        customer_id,
                        points,
                    ):
                        raise SourceRejectedError(
                            SOURCE,
                            f"Order {order_id} already earned other points.",
                            reason="EarnConflict",
                        )
                row = await conn.fetchrow(_ACCOUNTS, [customer_id])
            assert row is not None
            return _account(row)

        return await self._call(work)

    async def enroll(self, enrollments: Sequence[Enrollment]) -> None:
        """Open accounts that do not exist yet (existing ones are left as they are)."""
        if not enrollments:
            return

        async def work(conn: Conn) -> None:
            await conn.execute(
                _ENROLL,
                [e.customer_id for e in enrollments],
                [e.points for e in enrollments],
                [e.lifetime_points for e in enrollments],
            )

        await self._call(work)

    async def tiers(self) -> tuple[tuple[LoyaltyTier, int], ...]:
        """The tier programme: each tier and the lifetime points it starts at, by rank."""

        async def work(conn: Conn) -> list[asyncpg.Record]:
            return await conn.fetch(
                "SELECT code, min_lifetime_points FROM loyalty.tier ORDER BY rank"
            )

        rows = await self._call(work)
        return tuple((LoyaltyTier(r["code"]), r["min_lifetime_points"]) for r in rows)

    async def ping(self) -> bool:
        """Readiness: does `SELECT 1` come back?"""

        async def work(conn: Conn) -> object:
            return await conn.fetchval("SELECT 1")

        try:
            return await self._call(work) == 1
        except SourceError:
            return False

    async def _row(self, conn: Conn, order_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(_REDEMPTION, order_id)

    async def _call(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        async def attempt() -> T:
            self.round_trips += 1
            try:
                async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                    return await work(conn)
            except SourceError:
                raise
            except Exception as exc:
                raise translate(exc) from exc

        # Every call is idempotent: reads, and writes keyed by order id (module docstring).
        return await self.resilience.call(attempt, idempotent=True)


def _account(row: asyncpg.Record) -> LoyaltyRecord:
    return LoyaltyRecord(
        customer_id=row["customer_id"],
        tier=LoyaltyTier(row["tier_code"]),
        points=row["points_balance"],
        next_tier_at=row["next_tier_at"],
        lifetime_points=row["lifetime_points"],
    )


def _record(order_id: str, row: asyncpg.Record) -> RedemptionRecord:
    return RedemptionRecord(
        order_id, row["customer_id"], row["points"], RedemptionStatus(row["status"])
    )


def _replay(
    order_id: str, customer_id: str, points: int, row: asyncpg.Record | None
) -> RedemptionRecord:
    """What a redemption finds when its order id is taken: the first result, or a conflict."""
    if row is None or row["status"] == "VOIDED":
        raise RedemptionConflictError(
            SOURCE, f"Order {order_id} was cancelled before any points were redeemed for it."
        )
    if (row["customer_id"], row["points"]) != (customer_id, points):
        raise RedemptionConflictError(
            SOURCE, f"Order {order_id} already redeemed other points or another customer's."
        )
    return _record(order_id, row)
