"""The one place that chooses and opens backends from settings.

Clients are opened once (at start-up) and handed to every request; `open_sources` is an async
context manager so the server's lifespan closes them in order.

The graph (Neptune) is optional: without `CG_NEPTUNE_ENDPOINT` its client fails every call with
`Neptune:Unavailable`, and only the recommendation fields go null. Readiness reports it but is
not decided by it (`OPTIONAL`): a product page without recommendations is still a product page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from datasources.cart import CartSource
from datasources.catalog import CatalogSource
from datasources.customer import CustomerSource
from datasources.dynamodb.cart import DynamoCartSource
from datasources.dynamodb.catalog import DynamoCatalogSource
from datasources.dynamodb.client import SOURCE as DYNAMODB
from datasources.dynamodb.client import DynamoClient
from datasources.dynamodb.customer import DynamoCustomerSource
from datasources.dynamodb.inventory import DynamoInventorySource
from datasources.dynamodb.order import DynamoOrderSource
from datasources.dynamodb.pricing import DynamoPricingSource
from datasources.embedded import embedded_aws
from datasources.inventory import InventorySource
from datasources.neptune.client import SOURCE as NEPTUNE
from datasources.neptune.client import NeptuneClient, open_neptune
from datasources.neptune.recommendations import NeptuneRecommendationSource
from datasources.neptune.settings import NeptuneSettings
from datasources.order import OrderSource
from datasources.pagination import TokenCodec
from datasources.pricing import PricingSource
from datasources.recommendations import RecommendationSource
from datasources.settings import Settings

# Sources whose outage degrades some fields but leaves the service ready to serve.
OPTIONAL = frozenset({NEPTUNE})


@dataclass(frozen=True, slots=True)
class Sources:
    catalog: CatalogSource
    pricing: PricingSource
    inventory: InventorySource
    customer: CustomerSource
    cart: CartSource
    order: OrderSource
    recommendations: RecommendationSource
    dynamo: DynamoClient
    neptune: NeptuneClient

    async def readiness(self) -> dict[str, bool]:
        """Ask each backend a cheap question; a source that cannot answer is not ready.

        The graph is asked only when one is configured (see `OPTIONAL`).
        """
        try:
            await self.dynamo.raw.describe_limits()
            dynamodb_ready = True
        except Exception:
            dynamodb_ready = False
        checks = {DYNAMODB: dynamodb_ready}
        if self.neptune.enabled:
            checks[NEPTUNE] = await self.neptune.ping()
        return checks


@asynccontextmanager
async def open_dynamo(settings: Settings, stack: AsyncExitStack) -> AsyncIterator[DynamoClient]:
    endpoint = settings.dynamodb_endpoint
    if endpoint is None and settings.embedded:
        endpoint = stack.enter_context(embedded_aws())
    config = AioConfig(
        max_pool_connections=settings.dynamodb_max_pool_connections,
        connect_timeout=settings.dynamodb_timeout_seconds,
        read_timeout=settings.dynamodb_timeout_seconds,
        retries={"mode": "standard", "max_attempts": 3},
    )
    session = get_session()
    async with session.create_client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=endpoint, config=config
    ) as client:
        yield DynamoClient(client, table_prefix=settings.table_prefix)


@asynccontextmanager
async def open_sources(
    settings: Settings, neptune: NeptuneSettings | None = None
) -> AsyncIterator[Sources]:
    """Every source, opened once; `neptune` defaults to `NeptuneSettings()` (environment)."""
    neptune = neptune or NeptuneSettings()
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        graph = await stack.enter_async_context(open_neptune(neptune))
        tokens = TokenCodec(settings.token_secret.get_secret_value().encode(), source=DYNAMODB)
        yield Sources(
            catalog=DynamoCatalogSource(dynamo, tokens),
            pricing=DynamoPricingSource(dynamo),
            inventory=DynamoInventorySource(dynamo, tokens),
            customer=DynamoCustomerSource(dynamo),
            cart=DynamoCartSource(dynamo),
            order=DynamoOrderSource(dynamo, tokens),
            recommendations=NeptuneRecommendationSource(
                graph,
                recent_views=neptune.recent_views,
                bestsellers_ttl_seconds=neptune.bestsellers_ttl_seconds,
            ),
            dynamo=dynamo,
            neptune=graph,
        )
