"""The data every run starts from: the full demo set, loaded into a fresh DynamoDB Local."""

from __future__ import annotations

import time
from dataclasses import dataclass

from datasources.build import open_sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from datasources.settings import Settings


@dataclass(frozen=True, slots=True)
class Seeded:
    data: DemoData
    # AppSync's default auth mode is API_KEY: every request carries this as `x-api-key`.
    api_key: str
    seconds: float


async def seed(settings: Settings) -> Seeded:
    """Create the tables, load `generate_demo()` (2,000 products by default) and create an
    API key."""
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
        created = await create_api_key(sources.dynamo, description="bench")
    return Seeded(data, created.key, time.perf_counter() - started)
