"""The table design (docs/dynamodb.md explains the access patterns behind it).

Every table keys on generic `pk`/`sk` strings; secondary indexes are `gsiN` on `gsiNpk`/`gsiNsk`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from datasources import frozen
from datasources.dynamodb.client import DynamoClient


@frozen.record
class TableSpec:
    name: str
    indexes: tuple[str, ...] = ()
    ttl_attribute: str | None = None


CATALOG = TableSpec("catalog", ("gsi1", "gsi2", "gsi3"))
INVENTORY = TableSpec("inventory", ("gsi1",))
CUSTOMERS = TableSpec("customers")
CARTS = TableSpec("carts", ttl_attribute="expiresAt")
ORDERS = TableSpec("orders", ("gsi1",), ttl_attribute="expiresAt")
APIKEYS = TableSpec("apikeys", ttl_attribute="deletes")
# The transactional outbox (datasources/events/outbox.py): gsi1 is sparse, holding only the
# events still to publish, sharded; published events expire.
OUTBOX = TableSpec("outbox", ("gsi1",), ttl_attribute="expiresAt")

ALL_TABLES = (CATALOG, INVENTORY, CUSTOMERS, CARTS, ORDERS, APIKEYS, OUTBOX)


def table_definition(spec: TableSpec, table_name: str) -> dict[str, Any]:
    attributes = [("pk", "S"), ("sk", "S")]
    indexes = []
    for index in spec.indexes:
        attributes += [(f"{index}pk", "S"), (f"{index}sk", "S")]
        indexes.append(
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    return definition


async def create_tables(dynamo: DynamoClient, specs: Sequence[TableSpec] = ALL_TABLES) -> list[str]:
    """Create any missing table and wait until all are ACTIVE. Returns the names created."""
    existing: set[str] = set()
    paginator = dynamo.raw.get_paginator("list_tables")
    async for page in paginator.paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for spec in specs:
        name = dynamo.table(spec.name)
        if name in existing:
            continue
        try:
            await dynamo.raw.create_table(**table_definition(spec, name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        created.append(name)
    for name in created:
        await _wait_active(dynamo, name)
    for spec in specs:
        if spec.ttl_attribute and dynamo.table(spec.name) in created:
            await dynamo.raw.update_time_to_live(
                TableName=dynamo.table(spec.name),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
    return created


async def _wait_active(dynamo: DynamoClient, name: str) -> None:
    for _ in range(120):
        described = await dynamo.raw.describe_table(TableName=name)
        if described["Table"].get("TableStatus") == "ACTIVE":
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"table {name} did not become ACTIVE")


async def delete_tables(dynamo: DynamoClient) -> None:
    for spec in ALL_TABLES:
        try:
            await dynamo.raw.delete_table(TableName=dynamo.table(spec.name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
