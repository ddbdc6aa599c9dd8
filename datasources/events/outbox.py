"""The transactional outbox: domain events written in the same DynamoDB transaction as the
state they describe, and read back by the relay until they are published.

One item per event, in the `outbox` table:

    pk = EVENT#<eventId>, sk = EVENT          eventId, source, detailType, detail (JSON),
                                              occurredAt, attempts, lastError
    gsi1pk = PENDING#<shard>                  only while unpublished: gsi1 is sparse
    gsi1sk = <due epoch ms, 13 digits>#<eventId>
    publishedAt, expiresAt (TTL)              once published: the gsi1 keys are gone

The shard spreads pending events over `OUTBOX_SHARDS` index partitions; within a shard the
relay reads the oldest due first. A failed publish moves the event's due time back (backoff),
so one poison event never holds its shard up. The shard count is part of the data: changing
it strands the events of the shards no longer read, so it is a constant, not a setting.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from datasources.dynamodb.client import SOURCE, DynamoClient, Item, to_wire
from datasources.dynamodb.tables import OUTBOX
from datasources.errors import ConditionFailedError, SourceRejectedError
from datasources.events.records import DomainEvent

OUTBOX_SHARDS = 4
INDEX = "gsi1"
# EventBridge's cap on one PutEvents request (and so on one entry).
MAX_ENTRY_BYTES = 256 * 1024


class EventTooLargeError(SourceRejectedError):
    """An event that EventBridge could never accept: refused before it is written."""

    reason = "EventTooLarge"


def shard_of(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) % OUTBOX_SHARDS


def pending_key(shard: int) -> str:
    return f"PENDING#{shard}"


def due_key(due_ms: int, event_id: str) -> str:
    return f"{due_ms:013d}#{event_id}"


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def entry_size(item: Mapping[str, Any]) -> int:
    """Bytes EventBridge counts for an entry: Source, DetailType and Detail in UTF-8."""
    return sum(len(str(item[k]).encode()) for k in ("source", "detailType", "detail"))


class Outbox:
    def __init__(self, dynamo: DynamoClient) -> None:
        self._dynamo = dynamo
        self.table = dynamo.table(OUTBOX.name)

    def item(self, event: DomainEvent) -> Item:
        item: Item = {
            "pk": f"EVENT#{event.event_id}",
            "sk": "EVENT",
            "eventId": event.event_id,
            "source": event.source,
            "detailType": event.detail_type,
            "detail": event.detail_json(),
            "occurredAt": event.occurred_at,
            "attempts": 0,
            "gsi1pk": pending_key(shard_of(event.event_id)),
            "gsi1sk": due_key(epoch_ms(event.occurred_at), event.event_id),
        }
        if entry_size(item) > MAX_ENTRY_BYTES:
            raise EventTooLargeError(
                SOURCE,
                f"{event.detail_type} {event.event_id} is over EventBridge's 256 KB.",
            )
        return item

    def put(self, event: DomainEvent) -> dict[str, Any]:
        """The TransactWriteItems element that writes `event`, for a write path to add to its
        own transaction. A reused eventId cancels the transaction rather than overwrite."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_wire(self.item(event)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    async def pending(self, shard: int, *, now_ms: int, limit: int) -> list[Item]:
        """The shard's events due by `now_ms`, oldest due first (gsi1 is eventually
        consistent: an event committed a moment ago may show up only next round)."""
        items, _ = await self._dynamo.query(
            self.table,
            index=INDEX,
            key_condition="gsi1pk = :p AND gsi1sk <= :due",
            values={":p": pending_key(shard), ":due": due_key(now_ms, "~")},
            limit=limit,
        )
        return items

    async def mark_published(
        self, items: Sequence[Item], *, published_at: str, expires_at: int
    ) -> None:
        """Rewrite each published event without its gsi1 keys, 25 per BatchWriteItem.

        Unconditional on purpose: the event *was* published, whatever another relay did to
        the item meanwhile (it can only have published it too, or rescheduled it after a
        failure of its own), so this write is never wrong; at worst it drops that relay's
        attempt count.
        """
        done = [
            {
                **{k: v for k, v in item.items() if k not in ("gsi1pk", "gsi1sk")},
                "publishedAt": published_at,
                "expiresAt": expires_at,
            }
            for item in items
        ]
        await self._dynamo.batch_write(self.table, done)

    async def reschedule(self, item: Item, *, due_ms: int, error: str) -> bool:
        """Leave the event pending, due again at `due_ms`; False if it is no longer pending
        as read (published or rescheduled by another relay meanwhile)."""
        moved = {
            **item,
            "gsi1sk": due_key(due_ms, str(item["eventId"])),
            "attempts": int(item.get("attempts", 0)) + 1,
            "lastError": error,
        }
        try:
            await self._dynamo.put(
                self.table, moved, condition="gsi1sk = :seen", values={":seen": item["gsi1sk"]}
            )
        except ConditionFailedError:
            return False
        return True

    async def pending_count(self) -> int:
        """Every unpublished event, due or not: an operator's and the tests' question, off
        the request path, so a plain COUNT query per shard (no items decoded)."""
        total = 0
        for shard in range(OUTBOX_SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": INDEX,
                "KeyConditionExpression": "gsi1pk = :p",
                "ExpressionAttributeValues": {":p": {"S": pending_key(shard)}},
                "Select": "COUNT",
            }
            while True:
                page = await self._dynamo.raw.query(**kwargs)
                total += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return total
