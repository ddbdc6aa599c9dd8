"""The outbox drained by its DynamoDB stream: the Lambda relay (docs/events.md, "Production:
DynamoDB Streams").

An event source mapping on the outbox's stream (NEW_IMAGE, filtered to INSERT) hands this
handler up to 100 records at a time. Their new images are the pending outbox items, and they go
through the same steps as a relay round: `batches` -> `EventBus.put` -> `Outbox.mark_published`.
An entry EventBridge refuses stays pending (due at once, its `attempts` and `lastError`
recorded as the relay records them) and is reported in `batchItemFailures` under its record's
sequence number, so Lambda retries from it and, past its retries, sends the record's position to
the on-failure queue.
The polling relay, kept at a long interval, sweeps up whatever the stream could not publish;
the same function runs it when invoked by a schedule (an EventBridge "Scheduled Event").

    datasources.events.stream.handler       # the Lambda entry point (CG_* / CG_EVENTS_* env)

Delivery stays at-least-once: a record retried after a partial failure republishes the
accepted events of its batch that follow it, and the sweeper may publish an event the stream
published a moment earlier. Consumers dedupe on `eventId`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from datasources import frozen
from datasources.build import open_dynamo
from datasources.dynamodb.client import Item, from_wire
from datasources.errors import SourceError
from datasources.events.build import open_events
from datasources.events.outbox import Outbox
from datasources.events.records import iso
from datasources.events.relay import MAX_BATCH_ENTRIES, EventBus, Relay, batches
from datasources.events.settings import EventsSettings
from datasources.settings import Settings

log = logging.getLogger(__name__)

INSERT = "INSERT"
# A scheduled sweep stops after this many back-to-back rounds even if a shard has more due:
# the next tick goes on, and the function's timeout is never the thing that stops it.
SWEEP_MAX_ROUNDS = 20


@dataclass(slots=True)
class DrainMetrics:
    invocations: int = 0
    records: int = 0
    ignored: int = 0  # not an INSERT: the published mark, a reschedule, a TTL deletion
    published: int = 0
    calls: int = 0  # PutEvents calls that returned
    failed_entries: Counter[str] = field(default_factory=Counter)
    # Calls or marks that failed, by errorType (EventBridge:Timeout, DynamoDB:Unavailable...).
    failed_calls: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, object]:
        return {
            "invocations": self.invocations,
            "records": self.records,
            "ignored": self.ignored,
            "published": self.published,
            "calls": self.calls,
            "failed_entries": dict(self.failed_entries),
            "failed_calls": dict(self.failed_calls),
        }


@frozen.record
class _Pending:
    sequence_number: str
    item: Item


class StreamDrain:
    """Publishes the outbox items of stream records; `relay` is the polling relay it sweeps
    with on a schedule."""

    def __init__(
        self,
        outbox: Outbox,
        bus: EventBus,
        *,
        relay: Relay | None = None,
        batch_size: int = MAX_BATCH_ENTRIES,
        retention_seconds: int = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.bus = bus
        self.relay = relay
        self.batch_size = batch_size
        self.retention_seconds = retention_seconds
        self.metrics = DrainMetrics()
        self._clock = clock

    async def drain(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Publish the INSERT records' items; the sequence numbers of the records whose event
        is not published (refused, or its call failed), oldest first."""
        self.metrics.invocations += 1
        self.metrics.records += len(records)
        pending: list[_Pending] = []
        failures: list[str] = []
        for record in records:
            if record.get("eventName") != INSERT:
                self.metrics.ignored += 1
                continue
            stream = record.get("dynamodb") or {}
            sequence_number = str(stream.get("SequenceNumber", ""))
            image = stream.get("NewImage")
            if not image:
                # A stream without NEW_IMAGE is a wiring mistake; the sweeper still has it.
                log.error("outbox record %s has no NewImage (StreamViewType?)", sequence_number)
                failures.append(sequence_number)
                continue
            pending.append(_Pending(sequence_number, from_wire(image)))

        done = 0
        items = [p.item for p in pending]
        for batch in batches(items, self.batch_size):
            records_of_batch = pending[done : done + len(batch)]
            try:
                codes = await self.bus.put(batch)
            except SourceError as exc:
                # Nothing of this batch (or after it) was sent: all of it is retried by Lambda
                # from the first of them, and stays pending for the sweeper meanwhile.
                self.metrics.failed_calls[exc.error_type] += 1
                log.warning("PutEvents failed (%s): %s", exc.error_type, exc.message)
                failures += [p.sequence_number for p in pending[done:]]
                break
            done += len(batch)
            self.metrics.calls += 1
            await self._mark(
                [p.item for p, code in zip(records_of_batch, codes, strict=True) if code is None]
            )
            for refused, code in zip(records_of_batch, codes, strict=True):
                if code is not None:
                    await self._refused(refused.item, code)
                    failures.append(refused.sequence_number)
        return sorted(failures, key=_sequence_order)

    async def _mark(self, accepted: list[Item]) -> None:
        if not accepted:
            return
        now = self._clock()
        try:
            await self.outbox.mark_published(
                accepted, published_at=iso(now), expires_at=int(now) + self.retention_seconds
            )
        except SourceError as exc:
            # EventBridge has them: retrying the records would only publish them again. They
            # stay pending, and the sweeper publishes (a duplicate) and marks them.
            self.metrics.failed_calls[exc.error_type] += 1
            log.warning("marking %d events published failed: %s", len(accepted), exc.message)
        self.metrics.published += len(accepted)

    async def _refused(self, item: Item, code: str) -> None:
        self.metrics.failed_entries[code] += 1
        log.warning(
            "event %s (%s) refused by EventBridge: %s", item["eventId"], item["detailType"], code
        )
        # Due at once: the stream's own retry is the backoff here; the sweeper's relay backs
        # off from the attempts recorded. False (already moved by a relay) is fine as well.
        try:
            await self.outbox.reschedule(item, due_ms=int(self._clock() * 1000), error=code)
        except SourceError as exc:
            self.metrics.failed_calls[exc.error_type] += 1
            log.warning("rescheduling event %s failed: %s", item["eventId"], exc.message)

    async def sweep(self) -> int:
        """Relay rounds until no shard has more due (at most `SWEEP_MAX_ROUNDS`): the events
        published."""
        if self.relay is None:
            raise RuntimeError("this drain has no relay to sweep with")
        published = 0
        for _ in range(SWEEP_MAX_ROUNDS):
            count, more = await self.relay.run_once()
            published += count
            if not more:
                break
        return published


def _sequence_order(sequence_number: str) -> tuple[int, str]:
    # Stream sequence numbers are decimal strings of varying length.
    return (len(sequence_number), sequence_number)


def is_scheduled(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


@asynccontextmanager
async def open_drain(
    settings: Settings, events_settings: EventsSettings
) -> AsyncIterator[StreamDrain]:
    """The outbox, the bus and the sweeping relay, opened once."""
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        events = await stack.enter_async_context(
            open_events(events_settings, dynamo, embedded=False)
        )
        yield StreamDrain(
            events.outbox,
            events.relay.bus,
            relay=events.relay,
            batch_size=events_settings.relay_batch_size,
            retention_seconds=events_settings.published_retention_days * 86400,
        )


class DrainHandler:
    """The Lambda entry point: opens the drain on first use and keeps it, and the event loop
    it lives on, for the life of the container."""

    def __init__(
        self, settings: Settings | None = None, events_settings: EventsSettings | None = None
    ) -> None:
        self._settings = settings
        self._events_settings = events_settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack: AsyncExitStack | None = None
        self.drain: StreamDrain | None = None

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._handle(event))

    async def _handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        drain = await self._open()
        if is_scheduled(event):
            published = await drain.sweep()
            log.info("sweep published %d events", published)
            return {"published": published}
        if "Records" not in event:
            raise ValueError("not a DynamoDB Streams batch nor a scheduled event")
        failures = await drain.drain(event["Records"])
        log.info("drain: %s", drain.metrics.snapshot())
        return {"batchItemFailures": [{"itemIdentifier": n} for n in failures]}

    async def _open(self) -> StreamDrain:
        if self.drain is None:
            stack = AsyncExitStack()
            self.drain = await stack.enter_async_context(
                open_drain(self._settings or Settings(), self._events_settings or EventsSettings())
            )
            self._stack = stack
        return self.drain

    def close(self) -> None:
        """Close the clients and the loop (tests; a container simply ends)."""
        if self._loop is None or self._loop.is_closed():
            return
        if self._stack is not None:
            self._loop.run_until_complete(self._stack.aclose())
            self._stack, self.drain = None, None
        self._loop.close()


handler = DrainHandler()
