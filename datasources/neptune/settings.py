"""Neptune's knobs, from the environment (`CG_NEPTUNE_` prefix).

A class of its own so the graph can be configured without touching the main `Settings`;
`datasources.build` reads both.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from datasources.resilience import Policy


class NeptuneSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CG_NEPTUNE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    endpoint: str | None = Field(
        default=None,
        description=(
            "Gremlin websocket URL: ws://127.0.0.1:8182/gremlin locally, "
            "wss://<cluster>:8182/gremlin on Neptune. None: the graph is unavailable."
        ),
    )
    iam: bool = Field(default=False, description="Sign the websocket handshake with SigV4.")
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("CG_NEPTUNE_REGION", "CG_AWS_REGION", "AWS_REGION"),
    )
    # Signed handshake headers go stale after ~5 minutes: connections are re-signed sooner.
    resign_seconds: float = Field(default=240.0, gt=0)

    # --- calls ---
    timeout_seconds: float = Field(default=0.3, gt=0)
    write_timeout_seconds: float = Field(default=5.0, gt=0)
    pool_size: int = Field(default=8, ge=1)
    # The driver's own guard on a websocket read; frees its threads if an answer never comes.
    socket_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- resilience ---
    failure_threshold: int = Field(default=5, ge=1)
    reset_seconds: float = Field(default=30.0, ge=0)
    retries: int = Field(default=1, ge=0)

    # --- recommendations ---
    recent_views: int = Field(default=20, ge=0)
    bestsellers_ttl_seconds: float = Field(default=300.0, ge=0)

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
