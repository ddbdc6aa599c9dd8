"""The relay: publishes the outbox's pending events to the EventBridge bus, then marks them.

A round reads each shard's due events (oldest first, shards concurrently), sends them in
PutEvents batches within EventBridge's limits (10 entries, 256 KB), marks the accepted ones
published right after each call, and moves each refused entry's due time back with
exponential backoff (it stays pending; the rest of its shard goes on). A failed call (bus
unreachable, throttled beyond botocore's retries, breaker open) leaves its batch untouched
and backs the whole relay off.

Delivery is at-least-once: a crash between PutEvents and the mark publishes those events
again on restart, and so may two relays reading one stale index page. Consumers dedupe on
`eventId`. Nothing is lost: an event leaves the pending index only after EventBridge
accepted it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from datasources.dynamodb.client import Item
from datasources.errors import SourceError
from datasources.events.aws import EVENTBRIDGE, EventsClient, translate
from datasources.events.outbox import (
    MAX_ENTRY_BYTES,
    OUTBOX_SHARDS,
    Outbox,
    entry_size,
    epoch_ms,
)
from datasources.events.records import iso
from datasources.resilience import Resilience

log = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10


class EventBus:
    """PutEvents on one bus, through the EventBridge guard."""

    def __init__(self, client: EventsClient, *, bus_name: str, resilience: Resilience) -> None:
        self._client = client
        self.bus_name = bus_name
        self.resilience = resilience

    async def put(self, items: Sequence[Item]) -> list[str | None]:
        """Send outbox items as one PutEvents call: per item, None if accepted, else the
        entry's ErrorCode. Raises a SourceError of EventBridge if the call itself failed."""
        entries = [
            {
                "Source": item["source"],
                "DetailType": item["detailType"],
                "Detail": item["detail"],
                "EventBusName": self.bus_name,
            }
            for item in items
        ]

        async def attempt() -> dict[str, Any]:
            try:
                return await self._client.put_events(Entries=entries)
            except Exception as exc:
                raise translate(EVENTBRIDGE, exc) from exc

        # Repeating a PutEvents only duplicates events, which at-least-once allows.
        response = await self.resilience.call(attempt, idempotent=True)
        results = list(response.get("Entries", []))
        codes: list[str | None] = []
        for n in range(len(items)):
            result = results[n] if n < len(results) else {"ErrorCode": "MissingEntry"}
            codes.append(str(result["ErrorCode"]) if result.get("ErrorCode") else None)
        return codes


def batches(items: Iterable[Item], size: int = MAX_BATCH_ENTRIES) -> Iterator[list[Item]]:
    """Consecutive runs of at most `size` items and `MAX_ENTRY_BYTES` in all."""
    batch: list[Item] = []
    total = 0
    for item in items:
        n = entry_size(item)
        if batch and (len(batch) == size or total + n > MAX_ENTRY_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += n
    if batch:
        yield batch


@dataclass(slots=True)
class RelayMetrics:
    rounds: int = 0
    read: int = 0
    published: int = 0
    calls: int = 0  # PutEvents calls that returned
    largest_batch: int = 0
    # Entries EventBridge refused, by ErrorCode; each was rescheduled.
    failed_entries: Counter[str] = field(default_factory=Counter)
    rescheduled: int = 0
    # Rounds cut short by a failing source, by errorType (EventBridge:Timeout, ...).
    failed_rounds: Counter[str] = field(default_factory=Counter)
    # Age of the oldest event published by the last round that published any.
    lag_seconds: float = 0.0

    def snapshot(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "read": self.read,
            "published": self.published,
            "calls": self.calls,
            "largest_batch": self.largest_batch,
            "failed_entries": dict(self.failed_entries),
            "rescheduled": self.rescheduled,
            "failed_rounds": dict(self.failed_rounds),
            "lag_seconds": self.lag_seconds,
        }


class Relay:
    def __init__(
        self,
        outbox: Outbox,
        bus: EventBus,
        *,
        batch_size: int = MAX_BATCH_ENTRIES,
        page_size: int = 100,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        retention_seconds: int = 7 * 86400,
        shards: Sequence[int] = tuple(range(OUTBOX_SHARDS)),
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_ENTRIES:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH_ENTRIES}")
        self.outbox = outbox
        self.bus = bus
        self.batch_size = batch_size
        self.page_size = page_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.retention_seconds = retention_seconds
        self.shards = tuple(shards)
        self.metrics = RelayMetrics()
        self._clock = clock
        self._rng = rng

    @property
    def resilience(self) -> Resilience:
        return self.bus.resilience

    async def run_once(self) -> tuple[int, bool]:
        """One round over every shard: (events published, whether a shard had more due)."""
        self.metrics.rounds += 1
        now_ms = int(self._clock() * 1000)
        results = await asyncio.gather(
            *(self._drain(shard, now_ms) for shard in self.shards), return_exceptions=True
        )
        published, more = 0, False
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the first failure; the other shards' progress is kept
            published += result[0]
            more = more or result[1]
        return published, more

    async def _drain(self, shard: int, now_ms: int) -> tuple[int, bool]:
        items = await self.outbox.pending(shard, now_ms=now_ms, limit=self.page_size)
        self.metrics.read += len(items)
        published = 0
        for batch in batches(items, self.batch_size):
            codes = await self.bus.put(batch)
            self.metrics.calls += 1
            self.metrics.largest_batch = max(self.metrics.largest_batch, len(batch))
            accepted = [item for item, code in zip(batch, codes, strict=True) if code is None]
            if accepted:
                now = self._clock()
                await self.outbox.mark_published(
                    accepted,
                    published_at=iso(now),
                    expires_at=int(now) + self.retention_seconds,
                )
                published += len(accepted)
                self.metrics.published += len(accepted)
                oldest = min(epoch_ms(str(i["occurredAt"])) for i in accepted) / 1000
                self.metrics.lag_seconds = max(0.0, now - oldest)
            for item, code in zip(batch, codes, strict=True):
                if code is not None:
                    await self._reschedule(item, code)
        return published, len(items) >= self.page_size

    async def _reschedule(self, item: Item, code: str) -> None:
        self.metrics.failed_entries[code] += 1
        attempts = int(item.get("attempts", 0))
        wait = self._rng() * min(self.max_backoff_seconds, self.poll_seconds * 2.0**attempts)
        due_ms = int((self._clock() + max(wait, self.poll_seconds)) * 1000)
        if await self.outbox.reschedule(item, due_ms=due_ms, error=code):
            self.metrics.rescheduled += 1
        log.warning(
            "event %s (%s) refused by EventBridge: %s (attempt %d); retried later",
            item["eventId"],
            item["detailType"],
            code,
            attempts + 1,
        )

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set: at once while a shard has more due, every
        `poll_seconds` when caught up, with exponential backoff while a source fails."""
        failures = 0
        while not stop.is_set():
            try:
                _, more = await self.run_once()
            except SourceError as exc:
                failures += 1
                self.metrics.failed_rounds[exc.error_type] += 1
                log.warning(
                    "relay round failed (%s): %s (%r)", exc.error_type, exc.message, exc.__cause__
                )
            except Exception as exc:  # a bug of ours must not stop the relay for good
                failures += 1
                self.metrics.failed_rounds[type(exc).__name__] += 1
                log.exception("relay round failed")
            else:
                failures = 0
                if more:
                    continue
            wait = self.poll_seconds
            if failures:
                cap = min(self.max_backoff_seconds, self.poll_seconds * 2.0**failures)
                wait = max(self.poll_seconds, self._rng() * cap)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
