"""The Lambda relay on the outbox's stream: real stream records from DynamoDB Local (Streams
enabled on the outbox, NEW_IMAGE), published to a moto EventBridge bus -> rule -> SQS tap."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, cast

import pytest
from aiobotocore.session import get_session

from datasources.build import open_dynamo
from datasources.dynamodb.client import DynamoClient
from datasources.dynamodb.tables import OUTBOX, create_tables
from datasources.events.aws import SqsClient
from datasources.events.build import Events, open_events
from datasources.events.outbox import Outbox
from datasources.events.records import DomainEvent
from datasources.events.settings import EventsSettings
from datasources.events.stream import DrainHandler, StreamDrain
from datasources.settings import Settings
from engines.ports import free_port
from events_fixtures import drain_queue, write_events


def settings_for(endpoint: str, prefix: str) -> Settings:
    return Settings(
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        token_secret="test-secret",
    )


def events_settings_for(moto: str, bus: str, **overrides: object) -> EventsSettings:
    knobs: dict[str, object] = {
        "endpoint": moto,
        "sqs_endpoint": moto,
        "bus_name": bus,
        "consumer_wait_seconds": 0,
        "timeout_seconds": 2.0,
        **overrides,
    }
    return EventsSettings(**knobs)  # type: ignore[arg-type]


def sample(n: int) -> list[DomainEvent]:
    return [
        DomainEvent.new("cart", "CART_UPDATED", {"cartId": f"crt_{i}", "n": i}, channel="WEB")
        for i in range(n)
    ]


class OutboxStream:
    """Reads the outbox table's stream as the event source mapping would hand it on."""

    def __init__(self, streams: Any, arn: str) -> None:
        self._streams = streams
        self.arn = arn
        self._iterators: dict[str, str | None] = {}

    async def records(self) -> list[dict[str, Any]]:
        """Every record written since the last call, as Lambda's event `Records` (JSON)."""
        shards = (await self._streams.describe_stream(StreamArn=self.arn))["StreamDescription"]
        found: list[dict[str, Any]] = []
        for shard in shards["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                started = await self._streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )
                self._iterators[shard_id] = started["ShardIterator"]
            iterator = self._iterators[shard_id]
            while iterator:
                page = await self._streams.get_records(ShardIterator=iterator, Limit=1000)
                found += [_as_lambda_record(r, self.arn) for r in page["Records"]]
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return found


def _as_lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    # botocore parses the timestamp; Lambda's JSON carries epoch seconds.
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if created is not None:
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": arn}


@dataclass
class Bench:
    dynamo: DynamoClient
    events: Events
    stream: OutboxStream
    drain: StreamDrain

    @property
    def outbox(self) -> Outbox:
        return self.events.outbox

    async def tap(self) -> list[dict[str, Any]]:
        assert self.events.wiring is not None
        return await drain_queue(self.events.sqs, self.events.wiring.tap_queue_url)


async def enable_stream(dynamo: DynamoClient) -> str:
    """Streams on the outbox, NEW_IMAGE, as the CloudFormation template declares it."""
    table = dynamo.table(OUTBOX.name)
    await dynamo.raw.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    described = await dynamo.raw.describe_table(TableName=table)
    assert described["Table"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    return str(described["Table"]["LatestStreamArn"])


@pytest.fixture
async def bench(engine_endpoints: dict[str, str]) -> AsyncIterator[Bench]:
    """A fresh outbox with its stream on DynamoDB Local; a fresh bus, rule and tap on moto."""
    tag = uuid.uuid4().hex[:8]
    local = engine_endpoints["dynamodb-local"]
    settings = settings_for(local, f"cg-drain-{tag}-")
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo, [OUTBOX])
        arn = await enable_stream(dynamo)
        streams = await stack.enter_async_context(
            get_session().create_client(
                "dynamodbstreams", region_name="us-east-1", endpoint_url=local
            )
        )
        events = await stack.enter_async_context(
            open_events(
                events_settings_for(engine_endpoints["moto"], f"cg-{tag}", local_wiring=True),
                dynamo,
                embedded=False,
            )
        )
        drain = StreamDrain(events.outbox, events.relay.bus, relay=events.relay)
        yield Bench(dynamo, events, OutboxStream(streams, arn), drain)


async def stored(bench: Bench, event_id: str) -> dict[str, Any]:
    key = {"pk": f"EVENT#{event_id}", "sk": "EVENT"}
    item = await bench.dynamo.get(bench.outbox.table, key, consistent=True)
    assert item is not None
    return item


async def test_inserted_events_are_published_and_marked(bench: Bench) -> None:
    # given: 25 events committed the way a write path commits them
    written = sample(25)
    await write_events(bench.dynamo, written)
    records = await bench.stream.records()
    assert [r["eventName"] for r in records] == ["INSERT"] * 25
    # when
    failures = await bench.drain.drain(records)
    # then
    assert failures == []
    by_id = {b["detail"]["eventId"]: b for b in await bench.tap()}
    assert set(by_id) == {e.event_id for e in written}
    for event in written:
        assert by_id[event.event_id]["source"] == "commerce-graph.cart"
        assert by_id[event.event_id]["detail-type"] == "CART_UPDATED"
        assert by_id[event.event_id]["detail"] == event.detail()
        item = await stored(bench, event.event_id)
        assert "gsi1pk" not in item
        assert "gsi1sk" not in item
        assert str(item["publishedAt"]).endswith("Z")
        assert int(item["expiresAt"]) > time.time() + 86400
    assert await bench.outbox.pending_count() == 0
    assert bench.drain.metrics.published == 25
    assert bench.drain.metrics.calls == 3  # 10 + 10 + 5: PutEvents takes 10 entries


async def test_a_refused_entry_comes_back_as_a_batch_item_failure_and_stays_pending(
    bench: Bench,
) -> None:
    # given: nine events, and a tenth that EventBridge refuses (its detail is not JSON)
    written = sample(10)
    bad = written[6]
    await write_events(bench.dynamo, [e for e in written if e is not bad])
    corrupt = {**bench.outbox.item(bad), "detail": "{not json"}
    await bench.dynamo.put(bench.outbox.table, corrupt, condition="attribute_not_exists(pk)")
    records = await bench.stream.records()
    bad_record = next(r for r in records if bad.event_id in str(r["dynamodb"]["Keys"]))
    # when
    failures = await bench.drain.drain(records)
    # then: only the bad one is reported, by its sequence number
    assert failures == [bad_record["dynamodb"]["SequenceNumber"]]
    assert bench.drain.metrics.failed_entries == {"MalformedDetail": 1}
    assert bench.drain.metrics.published == 9
    received = {b["detail"]["eventId"] for b in await bench.tap()}
    assert received == {e.event_id for e in written} - {bad.event_id}
    # and it stays pending, with the relay's bookkeeping
    assert await bench.outbox.pending_count() == 1
    item = await stored(bench, bad.event_id)
    assert item["attempts"] == 1
    assert item["lastError"] == "MalformedDetail"
    assert "gsi1pk" in item
    # when: repaired, the polling relay publishes it
    await bench.dynamo.put(bench.outbox.table, {**item, "detail": bad.detail_json()})
    published, _ = await bench.events.relay.run_once()
    assert published == 1
    assert [b["detail"]["eventId"] for b in await bench.tap()] == [bad.event_id]
    assert await bench.outbox.pending_count() == 0


async def test_records_other_than_inserts_are_ignored(bench: Bench) -> None:
    # given: published events (their mark is a MODIFY on the stream), one of them deleted
    written = sample(4)
    await write_events(bench.dynamo, written)
    assert await bench.drain.drain(await bench.stream.records()) == []
    assert len(await bench.tap()) == 4
    await bench.dynamo.raw.delete_item(
        TableName=bench.outbox.table,
        Key={"pk": {"S": f"EVENT#{written[0].event_id}"}, "sk": {"S": "EVENT"}},
    )
    later = await bench.stream.records()
    assert sorted(r["eventName"] for r in later) == ["MODIFY"] * 4 + ["REMOVE"]
    calls = bench.drain.metrics.calls
    # when
    failures = await bench.drain.drain(later)
    # then: nothing sent, nothing reported
    assert failures == []
    assert bench.drain.metrics.calls == calls
    assert bench.drain.metrics.ignored == 5
    assert await bench.tap() == []


async def test_an_unreachable_bus_reports_every_record_and_leaves_them_pending(
    bench: Bench,
) -> None:
    # given: a drain whose EventBridge endpoint refuses connections (a port nobody listens on)
    dead = f"http://127.0.0.1:{free_port()}"
    settings = events_settings_for(dead, "unused", reset_seconds=0.2)
    written = sample(12)
    await write_events(bench.dynamo, written)
    records = await bench.stream.records()
    async with open_events(settings, bench.dynamo, embedded=False) as events:
        drain = StreamDrain(events.outbox, events.relay.bus)
        # when
        failures = await drain.drain(records)
    # then: every record is retried by Lambda, every event is still pending
    assert sorted(failures) == sorted(r["dynamodb"]["SequenceNumber"] for r in records)
    assert list(drain.metrics.failed_calls) == ["EventBridge:Unavailable"]
    assert drain.metrics.published == 0
    assert await bench.outbox.pending_count() == 12
    # when: the same records reach a drain that can reach the bus
    assert await bench.drain.drain(records) == []
    assert {b["detail"]["eventId"] for b in await bench.tap()} == {e.event_id for e in written}


async def test_the_sweep_publishes_what_the_stream_did_not(bench: Bench) -> None:
    # given: events whose records never reached the drain
    written = sample(7)
    await write_events(bench.dynamo, written)
    # when
    published = await bench.drain.sweep()
    # then
    assert published == 7
    assert {b["detail"]["eventId"] for b in await bench.tap()} == {e.event_id for e in written}
    assert await bench.outbox.pending_count() == 0


def test_the_lambda_entry_point_opens_its_sources_once_from_the_environment(
    engine_endpoints: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an outbox with its stream and a wired bus, configured only by environment
    tag = uuid.uuid4().hex[:8]
    prefix, bus = f"cg-drain-{tag}-", f"cg-{tag}"
    local, moto = engine_endpoints["dynamodb-local"], engine_endpoints["moto"]
    for name, value in {
        "CG_DYNAMODB_ENDPOINT": local,
        "CG_TABLE_PREFIX": prefix,
        "CG_EVENTS_ENDPOINT": moto,
        "CG_EVENTS_SQS_ENDPOINT": moto,
        "CG_EVENTS_BUS_NAME": bus,
    }.items():
        monkeypatch.setenv(name, value)
    first, second = sample(3), sample(2)

    async def setup() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        async with AsyncExitStack() as stack:
            dynamo = await stack.enter_async_context(
                open_dynamo(settings_for(local, prefix), stack)
            )
            await create_tables(dynamo, [OUTBOX])
            arn = await enable_stream(dynamo)
            events = await stack.enter_async_context(
                open_events(
                    events_settings_for(moto, bus, local_wiring=True), dynamo, embedded=False
                )
            )
            assert events.wiring is not None
            streams = await stack.enter_async_context(
                get_session().create_client(
                    "dynamodbstreams", region_name="us-east-1", endpoint_url=local
                )
            )
            stream = OutboxStream(streams, arn)
            await write_events(dynamo, first)
            batch1 = await stream.records()
            await write_events(dynamo, second)
            batch2 = await stream.records()
            return events.wiring.tap_queue_url, batch1, batch2

    tap_url, batch1, batch2 = asyncio.run(setup())
    handler = DrainHandler()
    try:
        # when: two invocations on one container, and a scheduled sweep
        answer1 = handler({"Records": batch1}, None)
        drain = handler.drain
        answer2 = handler({"Records": batch2}, None)
        swept = handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
        with pytest.raises(ValueError, match="not a DynamoDB Streams batch"):
            handler({"hello": "world"}, None)
        # then
        assert answer1 == answer2 == {"batchItemFailures": []}
        assert swept == {"published": 0}
        assert handler.drain is drain is not None
        assert drain.metrics.invocations == 2
        assert drain.metrics.published == 5
        assert drain.outbox.table == f"{prefix}outbox"
        assert drain.bus.bus_name == bus
    finally:
        handler.close()

    async def received() -> set[str]:
        async with get_session().create_client(
            "sqs", region_name="us-east-1", endpoint_url=moto
        ) as sqs:
            bodies = await drain_queue(cast(SqsClient, sqs), tap_url)
        return {str(b["detail"]["eventId"]) for b in bodies}

    assert asyncio.run(received()) == {e.event_id for e in first + second}
