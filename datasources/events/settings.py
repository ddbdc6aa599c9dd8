"""The events' knobs, from the environment (`CG_EVENTS_` prefix); docs/events.md lists them.

Endpoints follow boto3's `AWS_ENDPOINT_URL_EVENTS` / `AWS_ENDPOINT_URL_SQS` when the
`CG_EVENTS_` ones are unset; None is the service's real endpoint in the region.
"""

from __future__ import annotations

from typing import ClassVar

from datasources.envsettings import EnvSettings, setting


class EventsSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_EVENTS_"

    # --- where ---
    bus_name: str = "commerce-graph"
    endpoint: str | None = setting(
        default=None,
        env=("CG_EVENTS_ENDPOINT", "AWS_ENDPOINT_URL_EVENTS"),
    )
    sqs_endpoint: str | None = setting(
        default=None,
        env=("CG_EVENTS_SQS_ENDPOINT", "AWS_ENDPOINT_URL_SQS"),
    )
    region: str = setting(
        default="us-east-1",
        env=("CG_EVENTS_REGION", "CG_AWS_REGION", "AWS_REGION"),
    )

    # --- the relay (outbox -> bus) ---
    relay_enabled: bool = setting(
        default=True, description="Run the relay as a background task of the server."
    )
    relay_poll_seconds: float = setting(default=1.0, gt=0)
    # PutEvents takes at most 10 entries (and 256 KB) per call.
    relay_batch_size: int = setting(default=10, ge=1, le=10)
    # Pending events read per shard and round (one Query page).
    relay_page_size: int = setting(default=100, ge=1, le=1000)
    relay_max_backoff_seconds: float = setting(default=60.0, gt=0)
    # How long a published event stays in the outbox (TTL) for audit and replay.
    published_retention_days: int = setting(default=7, ge=1)

    # --- inbound events (EventBridge rule -> SQS -> internal mutations) ---
    consumer_enabled: bool = True
    queue_url: str | None = setting(
        default=None, description="The inbound queue; None: no consumer (unless wired locally)."
    )
    consumer_wait_seconds: int = setting(default=20, ge=0, le=20)
    consumer_batch_size: int = setting(default=10, ge=1, le=10)
    consumer_visibility_seconds: int = setting(default=30, ge=0, le=43200)
    # Event sources routed to the inbound queue by the local wiring's rule.
    # Our own order events too: ORDER_CREATED reaches onOrderStatusChanged this way, as an
    # EventBridge rule targeting publishOrderStatusChanged does on AWS.
    inbound_source_prefixes: list[str] = setting(factory=lambda: ["erp.", "commerce-graph.order"])

    # --- local wiring (make run, tests): create bus, queues and rules on moto ---
    local_wiring: bool = setting(
        default=False, description="Create the bus, the queues and the rules at start-up."
    )

    # --- calls ---
    timeout_seconds: float = setting(default=3.0, gt=0)
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
