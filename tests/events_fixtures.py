"""Helpers of the outbox and relay tests: read the outbox, write events, drain a queue.

Plain functions, not fixtures: nothing to register in conftest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from datasources.dynamodb.client import DynamoClient, from_wire
from datasources.dynamodb.tables import OUTBOX
from datasources.events.aws import SqsClient
from datasources.events.outbox import Outbox
from datasources.events.records import DomainEvent


async def outbox_items(dynamo: DynamoClient, needle: str) -> list[dict[str, Any]]:
    """Every outbox item whose detail mentions `needle` (a cart or order id), oldest first."""
    found: list[dict[str, Any]] = []
    paginator = dynamo.raw.get_paginator("scan")
    async for page in paginator.paginate(
        TableName=dynamo.table(OUTBOX.name),
        FilterExpression="contains(detail, :n)",
        ExpressionAttributeValues={":n": {"S": needle}},
    ):
        found += [from_wire(raw) for raw in page.get("Items", [])]
    return sorted(found, key=lambda i: str(i["occurredAt"]))


def detail_of(item: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = orjson.loads(item["detail"])
    return detail


async def write_events(dynamo: DynamoClient, events: Sequence[DomainEvent]) -> None:
    """Commit events the way a write path does (in a transaction), without a state change."""
    outbox = Outbox(dynamo)
    for start in range(0, len(events), 25):
        await dynamo.transact_write([outbox.put(e) for e in events[start : start + 25]])


async def drain_queue(
    sqs: SqsClient, queue_url: str, *, quiet_polls: int = 3
) -> list[dict[str, Any]]:
    """Every EventBridge event in the queue (bodies parsed), read until `quiet_polls`
    consecutive receives come back empty. Messages stay hidden, not deleted."""
    bodies: list[dict[str, Any]] = []
    quiet = 0
    while quiet < quiet_polls:
        response = await sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=600
        )
        messages = response.get("Messages", [])
        quiet = 0 if messages else quiet + 1
        bodies += [orjson.loads(m["Body"]) for m in messages]
    return bodies
