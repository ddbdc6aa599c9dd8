"""Write a demo set into DynamoDB through the same item codecs the sources read with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from tqdm import tqdm

from datasources.demo.generate import DemoData, product_id
from datasources.dynamodb.catalog import (
    brand_item,
    category_item,
    product_item,
    sku_item,
    variant_ref_item,
)
from datasources.dynamodb.client import BATCH_WRITE_MAX_ITEMS, DynamoClient, Item
from datasources.dynamodb.customer import customer_item
from datasources.dynamodb.inventory import location_item, stock_item
from datasources.dynamodb.order import order_item
from datasources.dynamodb.pricing import prices_item
from datasources.dynamodb.tables import CATALOG, CUSTOMERS, INVENTORY, ORDERS, TableSpec

MAX_CONCURRENT_BATCHES = 8

R = TypeVar("R")


def _items(records: Iterable[R], codec: Callable[[R], Item]) -> list[Item]:
    return [codec(r) for r in records]


async def load_demo(
    dynamo: DynamoClient, data: DemoData, *, progress: bool = True
) -> dict[str, int]:
    """Put every record of `data` (tables must exist); returns how many of each kind.

    Batches of 25 are written up to 8 at a time. The first product is written last, alone,
    so that `is_seeded` only answers True once everything else is in.
    """
    sentinel, products = data.products[:1], data.products[1:]
    kinds: list[tuple[str, TableSpec, list[Item]]] = [
        ("brands", CATALOG, _items(data.brands, brand_item)),
        ("categories", CATALOG, _items(data.categories, category_item)),
        ("products", CATALOG, _items(products, product_item)),
        ("skus", CATALOG, _items(data.skus, sku_item)),
        ("variants", CATALOG, _items(data.skus, variant_ref_item)),
        ("prices", CATALOG, _items(data.prices, prices_item)),
        ("locations", INVENTORY, _items(data.locations, location_item)),
        ("stock", INVENTORY, _items(data.stock, stock_item)),
        ("customers", CUSTOMERS, _items(data.customers, customer_item)),
        ("orders", ORDERS, _items(data.orders, order_item)),
    ]
    by_table: dict[str, list[Item]] = {}
    for _, spec, items in kinds:
        by_table.setdefault(dynamo.table(spec.name), []).extend(items)
    total = sum(len(items) for items in by_table.values()) + len(sentinel)
    gate = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)

    with tqdm(total=total, unit="item", desc="seeding", disable=not progress) as bar:

        async def write(table: str, batch: Sequence[Item]) -> None:
            async with gate:
                await dynamo.batch_write(table, batch)
            bar.update(len(batch))

        try:
            async with asyncio.TaskGroup() as group:
                for table, items in by_table.items():
                    for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
                        group.create_task(
                            write(table, items[start : start + BATCH_WRITE_MAX_ITEMS])
                        )
        except ExceptionGroup as failed:
            # TaskGroup wraps failures in a group; callers expect the datasource error itself.
            raise failed.exceptions[0] from failed
        await write(dynamo.table(CATALOG.name), _items(sentinel, product_item))

    counts = {kind: len(items) for kind, _, items in kinds}
    counts["products"] = len(data.products)
    return counts


async def is_seeded(dynamo: DynamoClient) -> bool:
    """True once a complete demo set has been loaded (one GetItem; tables must exist)."""
    key = {"pk": f"PRODUCT#{product_id(1)}", "sk": "PRODUCT"}
    return await dynamo.get(dynamo.table(CATALOG.name), key) is not None
