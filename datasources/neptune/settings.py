"""Neptune's knobs, from the environment (`CG_NEPTUNE_` prefix).

A class of its own so the graph can be configured without touching the main `Settings`;
`datasources.build` reads both.
"""

from __future__ import annotations

from typing import ClassVar

from datasources.envsettings import EnvSettings, setting
from datasources.resilience import Policy


class NeptuneSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_NEPTUNE_"

    endpoint: str | None = setting(
        default=None,
        description=(
            "Gremlin websocket URL: ws://127.0.0.1:8182/gremlin locally, "
            "wss://<cluster>:8182/gremlin on Neptune. None: the graph is unavailable."
        ),
    )
    iam: bool = setting(default=False, description="Sign the websocket handshake with SigV4.")
    region: str = setting(
        default="us-east-1",
        env=("CG_NEPTUNE_REGION", "CG_AWS_REGION", "AWS_REGION"),
    )
    # Signed handshake headers go stale after ~5 minutes: connections are re-signed sooner.
    resign_seconds: float = setting(default=240.0, gt=0)

    # --- calls ---
    timeout_seconds: float = setting(default=0.3, gt=0)
    write_timeout_seconds: float = setting(default=5.0, gt=0)
    pool_size: int = setting(default=8, ge=1)
    # The driver's own guard on a websocket read; frees its threads if an answer never comes.
    socket_timeout_seconds: float = setting(default=10.0, gt=0)

    # --- resilience ---
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
    retries: int = setting(default=1, ge=0)

    # --- recommendations ---
    recent_views: int = setting(default=20, ge=0)
    bestsellers_ttl_seconds: float = setting(default=300.0, ge=0)

    def policy(self) -> Policy:
        # The bulkhead matches the driver's pool: a call beyond it would block a thread on
        # the pool's queue instead of waiting, cancellable, on the event loop.
        return Policy(
            timeout_seconds=self.timeout_seconds,
            failure_threshold=self.failure_threshold,
            reset_seconds=self.reset_seconds,
            max_concurrency=self.pool_size,
            retries=self.retries,
        )
