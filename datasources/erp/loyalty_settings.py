"""Loyalty's knobs, from the environment (`CG_LOYALTY_` prefix); `datasources.build` reads them.

Tier thresholds are not here: they are the loyalty system's own data (`loyalty.tier`, seeded
by migration 0001), as in the product it stands for. The in-memory source keeps a copy
(`loyalty_memory.DEFAULT_TIERS`) that tests/test_loyalty.py compares with the table.
"""

from __future__ import annotations

from typing import ClassVar

from datasources.envsettings import EnvSettings, SecretStr, setting
from datasources.resilience import Policy


class LoyaltySettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_LOYALTY_"

    dsn: SecretStr | None = setting(
        default=None,
        description=(
            "postgresql://user:password@host:5432/loyalty (RDS: add ?sslmode=require). "
            "None: the in-memory demo source when embedded, otherwise every call fails with "
            "Loyalty:Unavailable."
        ),
    )
    # 0: asyncpg's pool restores a non-zero floor in the background, reconnecting to a database
    # that is down whatever the breaker says (measured by bench/faults.py).
    pool_min_size: int = setting(default=0, ge=0)
    pool_max_size: int = setting(default=10, ge=1)

    # --- calls ---
    timeout_seconds: float = setting(
        default=1.0, gt=0, description="Per attempt: pool acquire, statements and commit."
    )
    connect_timeout_seconds: float = setting(default=5.0, gt=0)
    migrate: bool = setting(default=True, description="Apply pending migrations at start-up.")
    migrate_timeout_seconds: float = setting(default=60.0, gt=0)

    # --- resilience ---
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
    # Safe for every call: reads, and redeem/compensate/earn are idempotent by order id.
    retries: int = setting(default=2, ge=0)

    # What a point is worth at checkout is the commerce side's rule: Settings.loyalty_point_value
    # (the same CG_LOYALTY_POINT_VALUE variable).

    def policy(self) -> Policy:
        # The bulkhead matches the pool: a call beyond it would only queue on pool.acquire.
        return Policy(
            timeout_seconds=self.timeout_seconds,
            failure_threshold=self.failure_threshold,
            reset_seconds=self.reset_seconds,
            max_concurrency=self.pool_max_size,
            retries=self.retries,
        )
