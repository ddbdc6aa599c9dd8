"""One async DynamoDB client for the process, with batching and error translation.

Every backend exception is mapped here to the tree in `datasources/errors.py`; callers never
see botocore. Calls are counted per operation so tests can lock out N+1 queries.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from datasources.errors import (
    ConditionFailedError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

SOURCE = "DynamoDB"
BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25
_UNPROCESSED_MAX_ATTEMPTS = 8

Item = dict[str, Any]
Key = Mapping[str, str]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_wire(item: Mapping[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key_of(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item["pk"]), str(item["sk"]))


_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}


def translate(exc: Exception) -> SourceError:
    """Map a botocore/aiohttp failure to the most specific error of our tree."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code == "ConditionalCheckFailedException":
            return ConditionFailedError(SOURCE, message)
        if (
            code in _THROTTLING
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        ):
            return SourceUnavailableError(SOURCE, message, reason=code)
        return SourceRejectedError(SOURCE, message, reason=code)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | asyncio.TimeoutError):
        return SourceTimeoutError(SOURCE, "DynamoDB did not answer in time.")
    if isinstance(exc, EndpointConnectionError | BotoCoreError | OSError):
        return SourceUnavailableError(SOURCE, "DynamoDB cannot be reached.")
    return SourceUnavailableError(SOURCE, f"DynamoDB call failed: {type(exc).__name__}")


class DynamoClient:
    """Thin, typed façade over one aiobotocore client opened at start-up."""

    def __init__(self, client: DynamoDBClient, *, table_prefix: str) -> None:
        self._client = client
        self._prefix = table_prefix
        self.calls: Counter[str] = Counter()

    @property
    def raw(self) -> DynamoDBClient:
        return self._client

    def table(self, logical_name: str) -> str:
        return f"{self._prefix}{logical_name}"

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.calls[operation] += 1
        method = getattr(self._client, operation)
        try:
            response: dict[str, Any] = await method(**kwargs)
        except Exception as exc:
            raise translate(exc) from exc
        return response

    async def batch_get(self, table: str, keys: Sequence[Key]) -> dict[tuple[str, str], Item]:
        """Fetch up to any number of keys, 100 per BatchGetItem; returns found items by key.

        DynamoDB returns UnprocessedKeys under throttling or the 16 MB response cap; they are
        retried with jittered backoff before a miss is believed.
        """
        found: dict[tuple[str, str], Item] = {}
        unique = list({(k["pk"], k["sk"]): k for k in keys}.values())
        for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
            pending: list[dict[str, Any]] = [to_wire(k) for k in unique[start : start + 100]]
            attempt = 0
            while pending:
                response = await self._call(
                    "batch_get_item", RequestItems={table: {"Keys": pending}}
                )
                for raw in response.get("Responses", {}).get(table, []):
                    item = from_wire(raw)
                    found[key_of(item)] = item
                pending = list(response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                if pending:
                    attempt += 1
                    if attempt >= _UNPROCESSED_MAX_ATTEMPTS:
                        raise SourceUnavailableError(
                            SOURCE, "DynamoDB kept keys unprocessed.", reason="Throttled"
                        )
                    await asyncio.sleep(random.uniform(0, 0.025 * 2**attempt))
        return found

    async def get_many(self, table: str, keys: Sequence[Key]) -> list[Item | None]:
        """`batch_get`, answered in the order of `keys` (None where missing): a loader's shape."""
        found = await self.batch_get(table, keys)
        return [found.get((k["pk"], k["sk"])) for k in keys]

    async def get(self, table: str, key: Key, *, consistent: bool = False) -> Item | None:
        response = await self._call(
            "get_item", TableName=table, Key=to_wire(key), ConsistentRead=consistent
        )
        raw = response.get("Item")
        return from_wire(raw) if raw else None

    async def query(
        self,
        table: str,
        *,
        index: str | None,
        key_condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        limit: int,
        start_key: Mapping[str, Any] | None = None,
        forward: bool = True,
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One Query page. Returns items and the raw LastEvaluatedKey (wire format)."""
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": key_condition,
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        if index:
            kwargs["IndexName"] = index
        return await self._page("query", kwargs, values, names, start_key)

    async def scan(
        self,
        table: str,
        *,
        filter: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        limit: int,
        start_key: Mapping[str, Any] | None = None,
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One Scan page (whole-table reads: rebuilding a projection, never a request).

        `limit` caps the items *evaluated*, before the filter: a page may hold fewer items, or
        none, and still not be the last one; the raw LastEvaluatedKey says.
        """
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit}
        if filter:
            kwargs["FilterExpression"] = filter
        return await self._page("scan", kwargs, values, names, start_key)

    async def _page(
        self,
        operation: str,
        kwargs: dict[str, Any],
        values: Mapping[str, Any] | None,
        names: Mapping[str, str] | None,
        start_key: Mapping[str, Any] | None,
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One Query or Scan page: items decoded, and the raw LastEvaluatedKey."""
        if values:
            kwargs["ExpressionAttributeValues"] = to_wire(values)
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if start_key:
            kwargs["ExclusiveStartKey"] = dict(start_key)
        response = await self._call(operation, **kwargs)
        items = [from_wire(raw) for raw in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")

    async def put(
        self,
        table: str,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": table, "Item": to_wire(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = to_wire(values)
        await self._call("put_item", **kwargs)

    async def transact_write(self, items: Sequence[Mapping[str, Any]]) -> None:
        """TransactWriteItems with wire-format items; cancellation surfaces as ClientError
        in `TransactionCanceledError` so the caller can read the per-item reasons."""
        self.calls["transact_write_items"] += 1
        try:
            await self._client.transact_write_items(TransactItems=list(items))  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise TransactionCanceledError(exc.response) from exc
            raise translate(exc) from exc
        except Exception as exc:
            raise translate(exc) from exc

    async def batch_write(self, table: str, items: Sequence[Mapping[str, Any]]) -> None:
        """Put many items, 25 per BatchWriteItem, retrying unprocessed ones (seeding)."""
        for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
            pending: list[dict[str, Any]] = [
                {"PutRequest": {"Item": to_wire(i)}}
                for i in items[start : start + BATCH_WRITE_MAX_ITEMS]
            ]
            attempt = 0
            while pending:
                response = await self._call("batch_write_item", RequestItems={table: pending})
                pending = list(response.get("UnprocessedItems", {}).get(table, []))
                if pending:
                    attempt += 1
                    await asyncio.sleep(random.uniform(0, 0.025 * 2 ** min(attempt, 6)))


class TransactionCanceledError(ConditionFailedError):
    """A transaction lost a condition; `reasons` holds one code per item, in order
    (`None`, `ConditionalCheckFailed`, `TransactionConflict`, ...)."""

    reason = "TransactionCanceledException"

    def __init__(self, response: Mapping[str, Any]) -> None:
        super().__init__(SOURCE, str(response.get("Error", {}).get("Message", "cancelled")))
        raw = response.get("CancellationReasons") or []
        self.reasons: list[str | None] = [
            None if r.get("Code") in (None, "None") else str(r.get("Code")) for r in raw
        ]
