"""Opening the loyalty source chosen by `LoyaltySettings` (called from `datasources.build`).

    dsn set            PostgresLoyaltySource: migrations applied first, then the pool opened
    dsn unset, embedded   InMemoryLoyaltySource (make run), seeded with the demo accounts
    dsn unset          UnconfiguredLoyaltySource: every call fails with Loyalty:Unavailable

Unlike the graph, an unreachable loyalty database stops start-up: the schema must be known
to be current before the first redemption, and that takes the database.

A backend's modules are imported when it is chosen: without a DSN, asyncpg is never loaded
(cold start of the Lambda handler, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from datasources.erp.loyalty_settings import LoyaltySettings
from datasources.errors import SourceUnavailableError
from datasources.loyalty import SOURCE, LoyaltyRecord, RedemptionRecord
from datasources.resilience import Resilience

if TYPE_CHECKING:
    import asyncpg

    from datasources.erp.loyalty import Enrollment, PostgresLoyaltySource
    from datasources.erp.loyalty_memory import InMemoryLoyaltySource
    from datasources.erp.migrate import Migration

_CLOSE_SECONDS = 10.0


class UnconfiguredLoyaltySource:
    """No loyalty database configured: customers' loyalty fields fail, checkout without
    points works (it never calls this)."""

    def __init__(self, resilience: Resilience) -> None:
        self.resilience = resilience

    async def accounts_by_customer(
        self, customer_ids: Sequence[str]
    ) -> Sequence[LoyaltyRecord | None]:
        raise self._error()

    async def redeem(self, *, order_id: str, customer_id: str, points: int) -> RedemptionRecord:
        raise self._error()

    async def compensate(self, order_id: str) -> RedemptionRecord | None:
        raise self._error()

    async def earn(self, *, order_id: str, customer_id: str, points: int) -> LoyaltyRecord:
        raise self._error()

    async def enroll(self, enrollments: Sequence[Enrollment]) -> None:
        raise self._error()

    async def ping(self) -> bool:
        return False

    @staticmethod
    def _error() -> SourceUnavailableError:
        return SourceUnavailableError(
            SOURCE, "Loyalty is not configured (CG_LOYALTY_DSN is not set)."
        )


if TYPE_CHECKING:
    LoyaltyBackend = PostgresLoyaltySource | InMemoryLoyaltySource | UnconfiguredLoyaltySource


async def apply_migrations(
    settings: LoyaltySettings, migrations: Sequence[Migration] | None = None
) -> tuple[Migration, ...]:
    """Bring the loyalty schema up to date on a connection of its own (no statement timeout:
    DDL may take longer than any request may). Returns what was applied now."""
    import asyncpg

    from datasources.erp.loyalty import translate
    from datasources.erp.migrate import LOYALTY_MIGRATIONS, load_migrations, migrate

    assert settings.dsn is not None
    try:
        conn = await asyncpg.connect(
            settings.dsn.get_secret_value(),
            timeout=settings.connect_timeout_seconds,
            server_settings={"application_name": "commerce-graph-migrate"},
        )
    except Exception as exc:
        raise translate(exc) from exc
    try:
        return await migrate(
            conn,
            load_migrations(LOYALTY_MIGRATIONS) if migrations is None else migrations,
            timeout_seconds=settings.migrate_timeout_seconds,
        )
    finally:
        await conn.close(timeout=_CLOSE_SECONDS)


async def create_loyalty_pool(settings: LoyaltySettings) -> asyncpg.Pool[asyncpg.Record]:
    import asyncpg

    from datasources.erp.loyalty import translate

    assert settings.dsn is not None
    statement_ms = math.ceil(settings.timeout_seconds * 1000)
    try:
        return await asyncpg.create_pool(
            settings.dsn.get_secret_value(),
            min_size=min(settings.pool_min_size, settings.pool_max_size),
            max_size=settings.pool_max_size,
            timeout=settings.connect_timeout_seconds,
            command_timeout=settings.timeout_seconds,
            server_settings={
                "application_name": "commerce-graph",
                # The server stops a statement its caller has given up on, and frees the row
                # locks of a transaction whose client vanished mid-way.
                "statement_timeout": str(statement_ms),
                "idle_in_transaction_session_timeout": str(max(10 * statement_ms, 5000)),
            },
        )
    except Exception as exc:
        raise translate(exc) from exc


@asynccontextmanager
async def open_loyalty(
    settings: LoyaltySettings,
    *,
    embedded: bool,
    demo_customers: Sequence[str] = (),
    resilience: Resilience | None = None,
) -> AsyncIterator[LoyaltyBackend]:
    """The process's loyalty source, opened at start-up and closed at shutdown.

    `demo_customers`: enroll their demo accounts (existing accounts are left alone).
    """
    resilience = resilience or Resilience(SOURCE, settings.policy())
    if settings.dsn is None:
        if not embedded:
            yield UnconfiguredLoyaltySource(resilience)
            return
        from datasources.erp.loyalty_demo import seed_loyalty
        from datasources.erp.loyalty_memory import InMemoryLoyaltySource

        memory = InMemoryLoyaltySource(resilience)
        await seed_loyalty(memory, demo_customers)
        yield memory
        return
    from datasources.erp.loyalty import PostgresLoyaltySource
    from datasources.erp.loyalty_demo import seed_loyalty

    if settings.migrate:
        await apply_migrations(settings)
    pool = await create_loyalty_pool(settings)
    try:
        source = PostgresLoyaltySource(pool, resilience)
        await seed_loyalty(source, demo_customers)
        yield source
    finally:
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_SECONDS)
        except TimeoutError:
            pool.terminate()  # a connection stuck in a call must not hang shutdown
