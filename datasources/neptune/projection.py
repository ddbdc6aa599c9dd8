"""The graph is a projection of DynamoDB: which records become which vertices and edges.

    product   -> product vertex; in_category to its category and every ancestor (root first);
                 made_by its brand; stocked_at every location holding stock of a variant
    customer  -> customer vertex
    order     -> purchased edges from its buyer (`purchase_of`: guests get a vertex per order,
                 cancelled orders record nothing)

`BatchWriter` sends the resulting upserts in batches of about `UPSERT_BATCH` writes, one round
trip each, with a progress bar. The demo seed (datasources/demo/graph.py) and `commerce-graph
graph rebuild` (datasources/neptune/rebuild.py) both write through here; every write is an
upsert by id, so either may run again over an existing graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from datasources.catalog import CategoryRecord, ProductRecord
from datasources.inventory import ProductStockRecord
from datasources.neptune.client import NeptuneClient
from datasources.neptune.graph import UPSERT_BATCH, Upserts
from datasources.order import OrderRecord
from datasources.recommendations import purchase_of


def category_path(category_id: str, categories: Mapping[str, CategoryRecord]) -> list[str]:
    """The category and its ancestors, root first (just the id when the tree does not know it)."""
    record = categories.get(category_id)
    return [*record.path, record.id] if record else [category_id]


def stocked_at(stock: ProductStockRecord | None) -> list[str]:
    """Locations holding at least one unit of some variant (reserved or not)."""
    if stock is None:
        return []
    return sorted(
        {
            location_id
            for levels in stock.by_variant.values()
            for location_id, level in levels.items()
            if level.quantity > 0
        }
    )


def product_upserts(
    product: ProductRecord,
    categories: Mapping[str, CategoryRecord],
    stock: ProductStockRecord | None,
) -> Upserts:
    return Upserts().product(
        product.id,
        category_ids=category_path(product.category_id, categories),
        brand_id=product.brand_id,
        location_ids=stocked_at(stock),
    )


def order_upserts(order: OrderRecord) -> Upserts | None:
    purchase = purchase_of(order)
    if purchase is None:
        return None
    return Upserts().purchase(
        purchase.order_id,
        purchase.customer_id,
        purchase.lines,
        purchase.ts,
        channel=purchase.channel,
    )


class BatchWriter:
    """Merges per-record upserts into batches and writes each in one round trip.

    `add` one record's upserts at a time; `flush` (or leaving the `async with`) writes the rest.
    The bar, when given, counts records. Writes run one after another: concurrent batches
    could both create a vertex they share (two `mergeV` of one new id), which TinkerGraph
    refuses and Neptune answers with ConcurrentModificationException.
    """

    def __init__(
        self, client: NeptuneClient, *, bar: tqdm[Any] | None = None, size: int = UPSERT_BATCH
    ) -> None:
        self._client = client
        self._bar = bar
        self._size = size
        self._batch = Upserts()
        self._pending = 0
        self.records = 0
        self.writes = 0
        self.batches = 0

    async def __aenter__(self) -> BatchWriter:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            await self.flush()

    async def add(self, upserts: Upserts | None) -> None:
        self.records += 1
        self._pending += 1
        if upserts is not None:
            self._batch.merge(upserts)
        if len(self._batch) >= self._size:
            await self.flush()

    async def flush(self) -> None:
        batch, self._batch = self._batch, Upserts()
        if len(batch):
            await self._client.write(batch.traversal, idempotent=True)
            self.writes += len(batch)
            self.batches += 1
        if self._bar is not None and self._pending:
            self._bar.update(self._pending)
        self._pending = 0
