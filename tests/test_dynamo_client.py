"""BatchGetItem: chunks of 100 and UnprocessedKeys retried, on the real engines.

DynamoDB Local never throttles, so the fault is injected around the real client: the first
answers hold only half the keys and return the rest as UnprocessedKeys, as DynamoDB does under
throttling or its 16 MB response cap.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Graph
from datasources.demo.generate import DemoData
from datasources.dynamodb.catalog import DynamoCatalogSource
from datasources.dynamodb.client import DynamoClient
from datasources.errors import SourceUnavailableError
from datasources.pagination import TokenCodec


class Throttled:
    """Forwards to a real client, but answers `faults` BatchGetItems only in part."""

    def __init__(self, real: Any, faults: int) -> None:
        self._real = real
        self.faults = faults
        self.requests: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        self.requests.append(len(keys))
        if self.faults <= 0:
            return dict(await self._real.batch_get_item(RequestItems=RequestItems))
        self.faults -= 1
        kept, rest = keys[: len(keys) // 2], keys[len(keys) // 2 :]
        response: dict[str, Any] = {"Responses": {table: []}}
        if kept:
            response = dict(await self._real.batch_get_item(RequestItems={table: {"Keys": kept}}))
        response["UnprocessedKeys"] = {table: {"Keys": rest}}
        return response


def catalog_over(graph: Graph, raw: Any) -> DynamoCatalogSource:
    dynamo = DynamoClient(raw, table_prefix=graph.settings.table_prefix)
    return DynamoCatalogSource(dynamo, TokenCodec(b"k", source="DynamoDB"))


async def test_unprocessed_keys_are_retried_until_every_item_is_read(
    graph: Graph, demo: DemoData
) -> None:
    # given: 150 ids (two chunks) and a client that leaves keys unprocessed twice
    ids = [p.id for p in demo.products[:150]]
    throttled = Throttled(graph.sources.dynamo.raw, faults=2)
    # when
    found = await catalog_over(graph, throttled).products_by_id(ids)
    # then
    assert [p.id if p else None for p in found] == ids
    assert throttled.requests[:2] == [100, 50]  # at most 100 keys a call
    assert len(throttled.requests) == 4  # two chunks + two retries of their remainders


async def test_keys_that_stay_unprocessed_are_an_unavailable_error(
    graph: Graph, demo: DemoData
) -> None:
    throttled = Throttled(graph.sources.dynamo.raw, faults=1_000)
    with pytest.raises(SourceUnavailableError) as failure:
        await catalog_over(graph, throttled).products_by_id([p.id for p in demo.products[:4]])
    assert failure.value.error_type == "DynamoDB:Throttled"


async def test_missing_keys_are_none_in_order(graph: Graph, demo: DemoData) -> None:
    ids = [demo.products[0].id, "prd_missing", demo.products[1].id, demo.products[0].id]
    found = await graph.sources.catalog.products_by_id(ids)
    assert [p.id if p else None for p in found] == [ids[0], None, ids[2], ids[0]]
