"""The consumer of events that start outside the graph (ERP stock, fulfilment, prices).

An EventBridge rule routes them to an SQS queue; this long-polls it, hands each event to an
injected async handler (the server executes the matching internal IAM-only mutation, so the
change also reaches subscribers), and deletes the messages it handled. A message whose
handler failed is left in the queue and made visible again after a backoff that grows with
its receive count; the queue's redrive policy moves it to the dead-letter queue after
`maxReceiveCount` receives. Delivery is at-least-once, so handlers dedupe on the event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson

from datasources import frozen
from datasources.errors import SourceError
from datasources.events.aws import SQS, SqsClient, translate
from datasources.resilience import Resilience

log = logging.getLogger(__name__)

MAX_VISIBILITY_SECONDS = 900


@frozen.record
class InboundEvent:
    """An EventBridge event as the rule delivered it."""

    id: str
    source: str
    detail_type: str
    detail: Mapping[str, Any]
    time: str | None = None

    @property
    def event_id(self) -> str:
        """The dedupe key: the detail's eventId when the producer set one, else EventBridge's."""
        return str(self.detail.get("eventId") or self.id)


Handler = Callable[[InboundEvent], Awaitable[None]]


def parse_message(body: str) -> InboundEvent:
    """An SQS body holding an EventBridge event; ValueError if it is not one."""
    raw = orjson.loads(body)
    if not isinstance(raw, dict) or not isinstance(raw.get("detail"), dict):
        raise ValueError("not an EventBridge event")
    return InboundEvent(
        id=str(raw.get("id", "")),
        source=str(raw["source"]),
        detail_type=str(raw["detail-type"]),
        detail=raw["detail"],
        time=raw.get("time"),
    )


@dataclass(slots=True)
class ConsumerMetrics:
    polls: int = 0
    received: int = 0
    handled: int = 0
    failed: int = 0  # handler raised: left for a retry
    malformed: int = 0  # not an EventBridge event: left for the dead-letter queue

    def snapshot(self) -> dict[str, int]:
        return {
            "polls": self.polls,
            "received": self.received,
            "handled": self.handled,
            "failed": self.failed,
            "malformed": self.malformed,
        }


class QueueConsumer:
    def __init__(
        self,
        client: SqsClient,
        queue_url: str,
        *,
        resilience: Resilience,
        wait_seconds: int = 20,
        batch_size: int = 10,
        visibility_seconds: int = 30,
        idle_seconds: float = 1.0,
    ) -> None:
        self._client = client
        self.queue_url = queue_url
        self.resilience = resilience
        self.wait_seconds = wait_seconds
        self.batch_size = batch_size
        self.visibility_seconds = visibility_seconds
        # Between empty short polls (wait_seconds 0): a long poll waits in SQS instead.
        self.idle_seconds = idle_seconds
        self.metrics = ConsumerMetrics()

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self._client, operation)

        async def attempt() -> dict[str, Any]:
            try:
                response: dict[str, Any] = await method(**kwargs)
            except Exception as exc:
                raise translate(SQS, exc) from exc
            return response

        # A long poll waits up to wait_seconds by design: the deadline sits above it.
        return await self.resilience.call(
            attempt,
            idempotent=True,
            timeout_seconds=self.wait_seconds + self.resilience.policy.timeout_seconds,
        )

    async def poll_once(self, handler: Handler) -> int:
        """Receive one batch, handle it in order, delete what was handled: the count."""
        self.metrics.polls += 1
        response = await self._call(
            "receive_message",
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        self.metrics.received += len(messages)
        done: list[dict[str, str]] = []
        for message in messages:
            receipt = message["ReceiptHandle"]
            try:
                event = parse_message(message["Body"])
            except (ValueError, KeyError, TypeError):
                self.metrics.malformed += 1
                log.error("message %s is not an EventBridge event", message.get("MessageId"))
                continue
            try:
                await handler(event)
            except Exception:
                self.metrics.failed += 1
                log.exception("inbound %s %s not handled", event.detail_type, event.event_id)
                await self._back_off(message)
                continue
            self.metrics.handled += 1
            done.append({"Id": str(len(done)), "ReceiptHandle": receipt})
        if done:
            await self._call("delete_message_batch", QueueUrl=self.queue_url, Entries=done)
        return len(done)

    async def _back_off(self, message: Mapping[str, Any]) -> None:
        received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        with suppress(SourceError):  # the visibility timeout retries it anyway
            await self._call(
                "change_message_visibility",
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=min(MAX_VISIBILITY_SECONDS, 2**received),
            )

    async def run_forever(self, handler: Handler, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a long poll in flight is abandoned at stop (its messages
        become visible again when their visibility timeout ends)."""
        failures = 0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                polling = asyncio.ensure_future(self.poll_once(handler))
                await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not polling.done():
                    polling.cancel()
                    with suppress(asyncio.CancelledError):
                        await polling
                    return
                try:
                    handled = polling.result()
                    failures = 0
                    if handled or self.wait_seconds > 0:
                        continue
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle_seconds)
                    continue
                except SourceError as exc:
                    failures += 1
                    log.warning("inbound queue poll failed (%s): %s", exc.error_type, exc.message)
                except Exception:
                    failures += 1
                    log.exception("inbound queue poll failed")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(30.0, 0.5 * 2**failures))
        finally:
            stopping.cancel()
