"""The demo set as a recommendation graph: its catalogue, customers, orders and a few views.

Views live only in the graph (DynamoDB keeps no browsing history), so the demo draws some
here, deterministically from the demo set, for `forCustomer` to have recent views to start
from. Everything else is the same projection `graph rebuild` makes from DynamoDB.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tqdm import tqdm

from datasources import frozen
from datasources.demo.generate import DemoData
from datasources.neptune.client import NeptuneClient
from datasources.neptune.graph import Upserts
from datasources.neptune.projection import BatchWriter, order_upserts, product_upserts

# Views happen in the week after the last demo order (orders span the year before 2026-11-23).
_VIEWS_EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
_VIEWS_SEED = 4
# One customer in `_VIEWERS_EVERY` has viewed 1 to 3 products.
_VIEWERS_EVERY = 3


@frozen.record
class DemoView:
    customer_id: str
    product_id: str
    ts: datetime


def demo_views(data: DemoData) -> list[DemoView]:
    """The views the demo graph holds; the same demo set always gives the same views."""
    if not data.products:
        return []
    rng = random.Random(_VIEWS_SEED)
    views = []
    for n, customer in enumerate(data.customers):
        if n % _VIEWERS_EVERY:
            continue
        for product in rng.sample(data.products, min(rng.randint(1, 3), len(data.products))):
            ts = _VIEWS_EPOCH + timedelta(seconds=rng.randrange(7 * 24 * 3600))
            views.append(DemoView(customer.id, product.id, ts))
    return views


async def load_demo_graph(
    client: NeptuneClient, data: DemoData, *, progress: bool = True
) -> dict[str, int]:
    """Upsert the demo set's graph (an existing graph keeps its other elements)."""
    categories = {c.id: c for c in data.categories}
    stock = {s.product_id: s for s in data.stock}
    views = demo_views(data)
    total = len(data.products) + len(data.customers) + len(data.orders) + len(views)
    with tqdm(total=total, unit="record", desc="graph", disable=not progress) as bar:
        async with BatchWriter(client, bar=bar) as writer:
            for product in data.products:
                await writer.add(product_upserts(product, categories, stock.get(product.id)))
            for customer in data.customers:
                await writer.add(Upserts().customer(customer.id))
            for order in data.orders:
                await writer.add(order_upserts(order))
            for view in views:
                await writer.add(Upserts().view(view.customer_id, view.product_id, view.ts))
    return {
        "products": len(data.products),
        "customers": len(data.customers),
        "orders": len(data.orders),
        "views": len(views),
        "batches": writer.batches,
    }
