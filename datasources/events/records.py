"""A domain event, as written to the outbox and published on the bus (DOMAIN.md, "Events").

On EventBridge an event is `source = "commerce-graph.<domain>"`, `detail-type` in
SCREAMING_SNAKE and `detail = {eventId, occurredAt, version, channel, payload}`. `eventId` is
the consumers' dedupe key: delivery is at-least-once. `version` is the version of the
payload's schema, not of the aggregate (a cart's own version is in its payload).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from typing import Any

import orjson

from datasources import frozen

SOURCE_PREFIX = "commerce-graph."


def now_iso() -> str:
    """AWSDateTime, UTC, millisecond precision, `Z` offset."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(epoch: float) -> str:
    """`now_iso`'s format for a moment given in epoch seconds."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


@frozen.record
class DomainEvent:
    event_id: str
    source: str
    detail_type: str
    occurred_at: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None
    version: int = 1

    @classmethod
    def new(
        cls,
        domain: str,
        detail_type: str,
        payload: Mapping[str, Any],
        *,
        channel: str | None = None,
        occurred_at: str | None = None,
        version: int = 1,
    ) -> DomainEvent:
        return cls(
            event_id=new_event_id(),
            source=f"{SOURCE_PREFIX}{domain}",
            detail_type=detail_type,
            occurred_at=occurred_at or now_iso(),
            payload=payload,
            channel=channel,
            version=version,
        )

    def detail(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "occurredAt": self.occurred_at,
            "version": self.version,
            "channel": self.channel,
            "payload": dict(self.payload),
        }

    def detail_json(self) -> str:
        """The `Detail` string of the PutEvents entry; payloads hold JSON types only
        (money amounts are decimal strings, as in the schema)."""
        return orjson.dumps(self.detail()).decode()
