"""Whole-table reads, page by page, through the same item codecs the sources read with.

For rebuilding a projection of DynamoDB (the recommendation graph), never for a request: a
Scan reads every item of a table. Each function yields lists of records, one per Scan page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from datasources.catalog import CategoryRecord, ProductRecord
from datasources.customer import CustomerRecord
from datasources.dynamodb.catalog import category_from_item, product_from_item
from datasources.dynamodb.client import DynamoClient, Item
from datasources.dynamodb.customer import customer_from_item
from datasources.dynamodb.order import order_from_item
from datasources.dynamodb.tables import CATALOG, CUSTOMERS, ORDERS, TableSpec
from datasources.order import OrderRecord

# Items evaluated per Scan page (1 MB is DynamoDB's own cap per page).
PAGE_SIZE = 500

R = TypeVar("R")


async def _scan(
    dynamo: DynamoClient,
    spec: TableSpec,
    sort_key: str,
    decode: Callable[[Item], R],
    page_size: int,
) -> AsyncIterator[list[R]]:
    """Every item of `spec` whose `sk` is `sort_key`, decoded, a page at a time."""
    table = dynamo.table(spec.name)
    start: dict[str, object] | None = None
    while True:
        items, start = await dynamo.scan(
            table, filter="sk = :sk", values={":sk": sort_key}, limit=page_size, start_key=start
        )
        if items:
            yield [decode(item) for item in items]
        if start is None:
            return


def products(
    dynamo: DynamoClient, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[ProductRecord]]:
    return _scan(dynamo, CATALOG, "PRODUCT", product_from_item, page_size)


def categories(
    dynamo: DynamoClient, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[CategoryRecord]]:
    return _scan(dynamo, CATALOG, "CATEGORY", category_from_item, page_size)


def customers(
    dynamo: DynamoClient, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[CustomerRecord]]:
    return _scan(dynamo, CUSTOMERS, "CUSTOMER", customer_from_item, page_size)


def orders(dynamo: DynamoClient, page_size: int = PAGE_SIZE) -> AsyncIterator[list[OrderRecord]]:
    return _scan(dynamo, ORDERS, "ORDER", order_from_item, page_size)
