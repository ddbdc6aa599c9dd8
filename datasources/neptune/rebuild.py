"""`commerce-graph graph rebuild`: the recommendation graph rebuilt from DynamoDB.

DynamoDB is the system of record; the graph is its projection (projection.py). A rebuild scans
categories, products (with their stock), customers and orders page by page and upserts them in
batches, so it repairs whatever a failed live write (placeOrder's purchase edges) left out and
may run over a live graph. `drop=True` empties the graph first, which also removes what
DynamoDB no longer holds (a deleted product, an order since cancelled).
"""

from __future__ import annotations

from tqdm import tqdm

from datasources.catalog import CategoryRecord
from datasources.dynamodb import export
from datasources.dynamodb.client import DynamoClient
from datasources.inventory import InventorySource
from datasources.neptune.client import NeptuneClient
from datasources.neptune.graph import Upserts
from datasources.neptune.projection import BatchWriter, order_upserts, product_upserts

# Vertices dropped per round trip (their edges go with them): Neptune's guidance for
# deletes is to keep each request small rather than drop a large graph in one traversal.
DROP_BATCH = 1000


async def drop_graph(client: NeptuneClient) -> None:
    """Remove every vertex and edge, `DROP_BATCH` vertices per round trip."""
    while (await client.read(lambda g: g.V().limit(1).count())) != [0]:
        await client.write(lambda g: g.V().limit(DROP_BATCH).drop(), idempotent=True)


async def rebuild_graph(
    client: NeptuneClient,
    dynamo: DynamoClient,
    inventory: InventorySource,
    *,
    drop: bool = False,
    progress: bool = True,
    page_size: int = export.PAGE_SIZE,
) -> dict[str, int]:
    """Upsert the graph of everything DynamoDB holds; returns how many of each were read."""
    if drop:
        await drop_graph(client)
    categories: dict[str, CategoryRecord] = {}
    async for page in export.categories(dynamo, page_size):
        categories.update((c.id, c) for c in page)
    counts: dict[str, int] = {"categories": len(categories)}
    batches = 0

    with tqdm(desc="graph: products", unit="record", disable=not progress) as bar:
        async with BatchWriter(client, bar=bar) as writer:
            async for products in export.products(dynamo, page_size):
                stock = await inventory.stock_by_product([p.id for p in products])
                for product, levels in zip(products, stock, strict=True):
                    await writer.add(product_upserts(product, categories, levels))
        counts["products"], batches = writer.records, batches + writer.batches

    with tqdm(desc="graph: customers", unit="record", disable=not progress) as bar:
        async with BatchWriter(client, bar=bar) as writer:
            async for customers in export.customers(dynamo, page_size):
                for customer in customers:
                    await writer.add(Upserts().customer(customer.id))
        counts["customers"], batches = writer.records, batches + writer.batches

    with tqdm(desc="graph: orders", unit="record", disable=not progress) as bar:
        async with BatchWriter(client, bar=bar) as writer:
            async for orders in export.orders(dynamo, page_size):
                for order in orders:
                    await writer.add(order_upserts(order))
        counts["orders"], batches = writer.records, batches + writer.batches

    counts["batches"] = batches
    return counts
