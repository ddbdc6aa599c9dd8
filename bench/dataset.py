"""The data every run starts from: the full demo set, loaded into a fresh DynamoDB Local."""

from __future__ import annotations

import time

from datasources.build import open_sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.tables import create_tables
from datasources.settings import Settings


async def seed(settings: Settings) -> tuple[DemoData, float]:
    """Create the tables and load `generate_demo()` (2,000 products by default); returns the
    set and the seconds it took."""
    started = time.perf_counter()
    data = generate_demo(
        products=settings.seed_products,
        customers=settings.seed_customers,
        orders=settings.seed_orders,
        seed=settings.seed_random_seed,
    )
    async with open_sources(settings) as sources:
        await create_tables(sources.dynamo)
        await load_demo(sources.dynamo, data, progress=False)
    return data, time.perf_counter() - started
