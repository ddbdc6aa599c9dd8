"""Opens the events' clients once and builds the relay and the inbound consumer.

    async with open_events(events_settings, sources.dynamo, embedded=settings.embedded) as events:
        async with events.running(handler):     # relay (+ consumer) as background tasks
            ...

`embedded` (make run) points EventBridge and SQS at the in-process moto that serves DynamoDB
and creates the local wiring; `EventsSettings.local_wiring` does the latter for any endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from datasources import frozen
from datasources.dynamodb.client import DynamoClient, policy_for
from datasources.events.aws import EVENTBRIDGE, SQS, EventsClient, SqsClient
from datasources.events.consumer import Handler, QueueConsumer
from datasources.events.outbox import OUTBOX_SHARDS, Outbox
from datasources.events.records import SOURCE_PREFIX
from datasources.events.relay import EventBus, Relay
from datasources.events.settings import EventsSettings
from datasources.resilience import Policy, Resilience

log = logging.getLogger(__name__)

_STOP_GRACE_SECONDS = 10.0
_DLQ_MAX_RECEIVES = 5


@frozen.record
class LocalWiring:
    """What `ensure_local_wiring` created (or found) on the local engine."""

    bus_name: str
    # Every event the graph publishes (`source` prefix `commerce-graph.`): a tap to watch.
    tap_queue_url: str
    # Events of `inbound_source_prefixes`: what the consumer reads.
    inbound_queue_url: str
    dead_letter_queue_url: str


class Events:
    def __init__(
        self,
        settings: EventsSettings,
        *,
        outbox: Outbox,
        relay: Relay,
        events_client: EventsClient,
        sqs_client: SqsClient,
        sqs_resilience: Resilience,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.relay = relay
        self.eventbridge = events_client
        self.sqs = sqs_client
        self._sqs_resilience = sqs_resilience
        self.consumer: QueueConsumer | None = None
        if settings.queue_url:
            self.consumer = self._consumer(settings.queue_url)
        self.wiring: LocalWiring | None = None

    @property
    def guards(self) -> tuple[Resilience, ...]:
        """EventBridge's and SQS's guards, for /metrics."""
        return (self.relay.resilience, self._sqs_resilience)

    def metrics(self) -> dict[str, object]:
        return {
            "relay": self.relay.metrics.snapshot(),
            "consumer": self.consumer.metrics.snapshot() if self.consumer else None,
        }

    def _consumer(self, queue_url: str) -> QueueConsumer:
        return QueueConsumer(
            self.sqs,
            queue_url,
            resilience=self._sqs_resilience,
            wait_seconds=self.settings.consumer_wait_seconds,
            batch_size=self.settings.consumer_batch_size,
            visibility_seconds=self.settings.consumer_visibility_seconds,
        )

    async def ensure_local_wiring(self) -> LocalWiring:
        """Create, if missing, the bus, a tap queue behind a rule on `commerce-graph.*` and
        the inbound queue (with a dead-letter queue) behind a rule on the inbound sources;
        consume the inbound queue unless a queue_url was configured. Idempotent."""
        bus = self.settings.bus_name
        try:
            await self.eventbridge.create_event_bus(Name=bus)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        dlq_url, dlq_arn = await self._queue(f"{bus}-inbound-dlq")
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": _DLQ_MAX_RECEIVES})
        inbound_url, inbound_arn = await self._queue(f"{bus}-inbound", RedrivePolicy=redrive)
        tap_url, tap_arn = await self._queue(f"{bus}-tap")
        await self._rule(f"{bus}-tap", [SOURCE_PREFIX], tap_arn)
        await self._rule(f"{bus}-inbound", self.settings.inbound_source_prefixes, inbound_arn)
        self.wiring = LocalWiring(bus, tap_url, inbound_url, dlq_url)
        if self.consumer is None:
            self.consumer = self._consumer(inbound_url)
        return self.wiring

    async def _queue(self, name: str, **attributes: str) -> tuple[str, str]:
        url = str((await self.sqs.create_queue(QueueName=name))["QueueUrl"])
        described = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = str(described["Attributes"]["QueueArn"])
        # Real SQS also needs the bus allowed to send (moto does not check).
        policy_doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                }
            ],
        }
        await self.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(policy_doc), **attributes}
        )
        return url, arn

    async def _rule(self, name: str, prefixes: list[str], queue_arn: str) -> None:
        pattern = {"source": [{"prefix": p} for p in prefixes]}
        bus = self.settings.bus_name
        await self.eventbridge.put_rule(
            Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED"
        )
        await self.eventbridge.put_targets(
            Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )

    @asynccontextmanager
    async def running(self, handler: Handler | None = None) -> AsyncIterator[None]:
        """The relay (if `relay_enabled`) and, given a handler and a queue, the consumer, as
        background tasks; on exit they finish their round and stop (cancelled after 10 s)."""
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if self.settings.relay_enabled:
            tasks.append(asyncio.create_task(self.relay.run_forever(stop), name="events-relay"))
        if handler is not None and self.consumer is not None and self.settings.consumer_enabled:
            tasks.append(
                asyncio.create_task(
                    self.consumer.run_forever(handler, stop), name="events-consumer"
                )
            )
        try:
            yield
        finally:
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=_STOP_GRACE_SECONDS) if tasks else ((), ())
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _policy(config: AioConfig, settings: EventsSettings) -> Policy:
    # As DynamoDB's: botocore retries (standard mode), the deadline sits above its own.
    return policy_for(
        config, failure_threshold=settings.failure_threshold, reset_seconds=settings.reset_seconds
    )


@asynccontextmanager
async def open_events(
    settings: EventsSettings, dynamo: DynamoClient, *, embedded: bool
) -> AsyncIterator[Events]:
    events_endpoint, sqs_endpoint = settings.endpoint, settings.sqs_endpoint
    if embedded:
        # The embedded default's moto serves every AWS service on DynamoDB's endpoint.
        local = dynamo.raw.meta.endpoint_url
        events_endpoint, sqs_endpoint = events_endpoint or local, sqs_endpoint or local
        # That moto serves one request at a time (datasources/embedded.py): a long poll would
        # hold every DynamoDB call behind it, so the consumer short-polls it instead.
        settings = settings.replace(consumer_wait_seconds=0)
    common: dict[str, Any] = {
        "connect_timeout": settings.timeout_seconds,
        "retries": {"mode": "standard", "total_max_attempts": 3},
    }
    events_config = AioConfig(
        read_timeout=settings.timeout_seconds, max_pool_connections=OUTBOX_SHARDS * 2, **common
    )
    # A long poll holds its read for up to consumer_wait_seconds.
    sqs_config = AioConfig(
        read_timeout=settings.consumer_wait_seconds + settings.timeout_seconds,
        max_pool_connections=4,
        **common,
    )
    session = get_session()
    async with AsyncExitStack() as stack:
        raw_events = await stack.enter_async_context(
            session.create_client(
                "events",
                region_name=settings.region,
                endpoint_url=events_endpoint,
                config=events_config,
            )
        )
        raw_sqs = await stack.enter_async_context(
            session.create_client(
                "sqs", region_name=settings.region, endpoint_url=sqs_endpoint, config=sqs_config
            )
        )
        outbox = Outbox(dynamo)
        bus = EventBus(
            cast(EventsClient, raw_events),
            bus_name=settings.bus_name,
            resilience=Resilience(EVENTBRIDGE, _policy(events_config, settings)),
        )
        relay = Relay(
            outbox,
            bus,
            batch_size=settings.relay_batch_size,
            page_size=settings.relay_page_size,
            poll_seconds=settings.relay_poll_seconds,
            max_backoff_seconds=settings.relay_max_backoff_seconds,
            retention_seconds=settings.published_retention_days * 86400,
        )
        events = Events(
            settings,
            outbox=outbox,
            relay=relay,
            events_client=cast(EventsClient, raw_events),
            sqs_client=cast(SqsClient, raw_sqs),
            sqs_resilience=Resilience(SQS, _policy(sqs_config, settings)),
        )
        if embedded or settings.local_wiring:
            await events.ensure_local_wiring()
        yield events
