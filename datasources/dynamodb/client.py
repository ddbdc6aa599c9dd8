"""One async DynamoDB client for the process, with batching and error translation.

Every backend exception is mapped here to the tree in `datasources/errors.py`; callers never
see botocore. Calls are counted per operation so tests can lock out N+1 queries.

Every request runs under the "DynamoDB" `Resilience` (breaker, bulkhead, deadline, metrics),
with the translation inside it so the breaker sees our errors: a lost condition or cancelled
transaction is an answer (Rejected), throttling that outlived botocore's retries and server
faults are failures. Retrying is left to botocore's standard mode, not to the policy
(`retries=0`): it knows DynamoDB's throttling and transient error codes, spends its own token
bucket (the retry quota) and backs throttles off on a 1 s base; a second retry loop above it
would multiply attempts. See `policy_for` for how the deadline follows botocore's config.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from datasources.dynamodb import SOURCE as SOURCE  # re-exported: importers name it from here
from datasources.errors import (
    ConditionFailedError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.resilience import Policy, Resilience

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25
_UNPROCESSED_MAX_ATTEMPTS = 8
# botocore's standard mode: a throttle's backoff is uniform(0, min(20, 2**(n-1))) seconds.
_BOTOCORE_MAX_BACKOFF = 20.0
# botocore's legacy mode (no `retries` in the config) tries DynamoDB 10 times (_retry.json).
_BOTOCORE_LEGACY_DYNAMODB_ATTEMPTS = 10
_BOTOCORE_STANDARD_ATTEMPTS = 3
_BOTOCORE_DEFAULT_TIMEOUT = 60.0
_BOTOCORE_DEFAULT_POOL = 10

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
        if code == "TransactionCanceledException":
            return TransactionCanceledError(exc.response)
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


def _config(config: Config, name: str, default: Any) -> Any:
    # botocore sets Config's options with setattr; its stubs do not declare them.
    value = getattr(config, name, None)
    return default if value is None else value


def botocore_attempts(config: Config) -> int:
    """How many times botocore sends one request, first attempt included."""
    retries: Mapping[str, Any] = _config(config, "retries", {})
    # Client construction rewrites `max_attempts` (retries only) to `total_max_attempts`.
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    if retries.get("mode") in ("standard", "adaptive"):
        return _BOTOCORE_STANDARD_ATTEMPTS
    return _BOTOCORE_LEGACY_DYNAMODB_ATTEMPTS


def botocore_deadline(config: Config) -> float:
    """The longest one request can take inside botocore when its own timeouts fire.

    Each attempt may spend `connect_timeout` opening a socket and `read_timeout` waiting on
    it; between attempts botocore sleeps at most min(20, 2**(n-1)) s (standard mode's throttle
    backoff, which also bounds legacy mode's 0.05 * 2**(n-1)).
    """
    attempts = botocore_attempts(config)
    per_attempt = float(_config(config, "connect_timeout", _BOTOCORE_DEFAULT_TIMEOUT)) + float(
        _config(config, "read_timeout", _BOTOCORE_DEFAULT_TIMEOUT)
    )
    backoff = sum(min(_BOTOCORE_MAX_BACKOFF, 2.0 ** (n - 1)) for n in range(1, attempts))
    return attempts * per_attempt + backoff


def policy_for(
    config: Config, *, failure_threshold: int = 5, reset_seconds: float = 30.0
) -> Policy:
    """DynamoDB's policy, consistent with the botocore config of the client it guards.

    The deadline sits above `botocore_deadline`, not below it. botocore's timeouts are the
    ones meant to fire (per attempt, so its retries still get their turn); a shorter deadline
    would cancel botocore between a throttle and its retry and turn every throttle into a
    Timeout. The deadline is the backstop for what botocore's timeouts miss: aiohttp's
    `sock_read` bounds each read, not a trickling response, and nothing in aiobotocore bounds
    the wait for a pooled connection. The bulkhead equals `max_pool_connections`, so calls
    queue on the bulkhead, under the deadline, rather than unbounded inside aiohttp.
    To make DynamoDB fail faster, lower botocore's timeouts or attempts: this follows.
    """
    return Policy(
        timeout_seconds=botocore_deadline(config) + 1.0,
        failure_threshold=failure_threshold,
        reset_seconds=reset_seconds,
        max_concurrency=int(_config(config, "max_pool_connections", _BOTOCORE_DEFAULT_POOL)),
        retries=0,
    )


class DynamoClient:
    """Thin, typed façade over one aiobotocore client opened at start-up.

    `resilience` defaults to one built from the client's own botocore config (`policy_for`).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        *,
        table_prefix: str,
        resilience: Resilience | None = None,
    ) -> None:
        self._client = client
        self._prefix = table_prefix
        self.calls: Counter[str] = Counter()
        self.resilience = resilience or Resilience(SOURCE, policy_for(client.meta.config))

    @property
    def raw(self) -> DynamoDBClient:
        return self._client

    def table(self, logical_name: str) -> str:
        return f"{self._prefix}{logical_name}"

    async def _call(self, operation: str, *, idempotent: bool, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self._client, operation)

        async def attempt() -> dict[str, Any]:
            # Counted once sent: a call the open breaker refused never reached DynamoDB.
            self.calls[operation] += 1
            try:
                response: dict[str, Any] = await method(**kwargs)
            except Exception as exc:
                raise translate(exc) from exc
            return response

        return await self.resilience.call(attempt, idempotent=idempotent)

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
                    "batch_get_item", idempotent=True, RequestItems={table: {"Keys": pending}}
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
            "get_item",
            idempotent=True,
            TableName=table,
            Key=to_wire(key),
            ConsistentRead=consistent,
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
        response = await self._call(operation, idempotent=True, **kwargs)
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
        # A conditional put is not safely repeated: its own first write fails the condition.
        await self._call("put_item", idempotent=condition is None, **kwargs)

    async def transact_write(self, items: Sequence[Mapping[str, Any]]) -> None:
        """TransactWriteItems with wire-format items; cancellation surfaces as ClientError
        in `TransactionCanceledError` so the caller can read the per-item reasons."""
        await self._call("transact_write_items", idempotent=False, TransactItems=list(items))

    async def batch_write(self, table: str, items: Sequence[Mapping[str, Any]]) -> None:
        """Put many items, 25 per BatchWriteItem, retrying unprocessed ones (seeding)."""
        for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
            pending: list[dict[str, Any]] = [
                {"PutRequest": {"Item": to_wire(i)}}
                for i in items[start : start + BATCH_WRITE_MAX_ITEMS]
            ]
            attempt = 0
            while pending:
                response = await self._call(
                    "batch_write_item", idempotent=True, RequestItems={table: pending}
                )
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
