"""The one place that chooses and opens backends from settings.

Clients are opened once (at start-up) and handed to every request; `open_sources` is an async
context manager so the server's lifespan closes them in order.

The graph (Neptune) is optional: without `CG_NEPTUNE_ENDPOINT` its client fails every call with
`Neptune:Unavailable`, and only the recommendation fields go null. Readiness reports it but is
not decided by it (`OPTIONAL`): a product page without recommendations is still a product page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import field
from typing import TYPE_CHECKING

from datasources import frozen
from datasources.cart import CartSource
from datasources.catalog import CatalogSource
from datasources.customer import CustomerSource
from datasources.dynamodb import SOURCE as DYNAMODB
from datasources.embedded import embedded_aws
from datasources.erp.loyalty_settings import LoyaltySettings
from datasources.erp.settings import ErpSettings
from datasources.inventory import InventorySource, LiveStockSource
from datasources.loyalty import LoyaltySource
from datasources.neptune import SOURCE as NEPTUNE
from datasources.neptune.settings import NeptuneSettings
from datasources.order import OrderSource
from datasources.pagination import TokenCodec
from datasources.payments import PaymentsSource
from datasources.pricing import ContractPriceSource, PricingSource
from datasources.recommendations import RecommendationSource
from datasources.resilience import Resilience
from datasources.saas.settings import PaymentsSettings, TaxSettings
from datasources.settings import Settings
from datasources.tax import CachedTaxSource

if TYPE_CHECKING:
    from datasources.demo.generate import DemoData
    from datasources.dynamodb.client import DynamoClient
    from datasources.neptune.client import NeptuneClient

# Sources whose outage degrades some fields but leaves the service ready to serve.
OPTIONAL = frozenset({NEPTUNE})


@frozen.record
class ConnectorSettings:
    """The settings of every source beyond DynamoDB, each from its own environment prefix
    (CG_NEPTUNE_, CG_PAYMENTS_, CG_TAX_, CG_ERP_, CG_LOYALTY_) unless given."""

    neptune: NeptuneSettings = field(default_factory=NeptuneSettings)
    payments: PaymentsSettings = field(default_factory=PaymentsSettings)
    tax: TaxSettings = field(default_factory=TaxSettings)
    erp: ErpSettings = field(default_factory=ErpSettings)
    loyalty: LoyaltySettings = field(default_factory=LoyaltySettings)


@frozen.record
class Sources:
    catalog: CatalogSource
    pricing: PricingSource
    inventory: InventorySource
    customer: CustomerSource
    cart: CartSource
    order: OrderSource
    recommendations: RecommendationSource
    payments: PaymentsSource
    tax: CachedTaxSource
    loyalty: LoyaltySource
    dynamo: DynamoClient
    neptune: NeptuneClient
    # The ERP: live stock and contract prices. None: not configured, DynamoDB's stock and list
    # prices are the whole story.
    live_stock: LiveStockSource | None = None
    contract_prices: ContractPriceSource | None = None
    # Every source's guard, for /metrics.
    guards: Sequence[Resilience] = ()

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
    # The SDK (aiobotocore, botocore, aiohttp) loads here, on first use, not with this module:
    # importing the Lambda handler stays cheap (cold start, docs/performance.md).
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    from datasources.dynamodb.client import DynamoClient

    endpoint = settings.dynamodb_endpoint
    if endpoint is None and settings.embedded:
        endpoint = stack.enter_context(embedded_aws())
    config = AioConfig(
        max_pool_connections=settings.dynamodb_max_pool_connections,
        connect_timeout=settings.dynamodb_timeout_seconds,
        read_timeout=settings.dynamodb_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    session = get_session()
    async with session.create_client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=endpoint, config=config
    ) as client:
        yield DynamoClient(client, table_prefix=settings.table_prefix)


@asynccontextmanager
async def open_sources(
    settings: Settings,
    neptune: NeptuneSettings | None = None,
    *,
    connectors: ConnectorSettings | None = None,
    demo: DemoData | None = None,
) -> AsyncIterator[Sources]:
    """Every source, opened once. `neptune` overrides `connectors.neptune`; `demo` feeds the
    embedded ERP and enrolls the demo customers in loyalty when `settings.embedded`."""
    # Each connector's module (and its SDK) loads when the sources open, not with this module;
    # the connector builders import an SDK only when the settings select it.
    from datasources.dynamodb.cart import DynamoCartSource
    from datasources.dynamodb.catalog import DynamoCatalogSource
    from datasources.dynamodb.customer import DynamoCustomerSource
    from datasources.dynamodb.inventory import DynamoInventorySource
    from datasources.dynamodb.order import DynamoOrderSource
    from datasources.dynamodb.pricing import DynamoPricingSource
    from datasources.erp.build import open_erp
    from datasources.erp.loyalty_build import open_loyalty
    from datasources.neptune.client import open_neptune
    from datasources.neptune.recommendations import NeptuneRecommendationSource
    from datasources.saas.build import open_payments, open_tax

    connectors = connectors or ConnectorSettings()
    neptune = neptune or connectors.neptune
    embedded_demo = demo if settings.embedded else None
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        graph = await stack.enter_async_context(open_neptune(neptune))
        payments = await stack.enter_async_context(open_payments(connectors.payments))
        tax = await stack.enter_async_context(open_tax(connectors.tax))
        erp_settings = connectors.erp
        if settings.embedded and not erp_settings.embedded:
            erp_settings = erp_settings.replace(embedded=True)
        erp = await stack.enter_async_context(open_erp(erp_settings, demo=embedded_demo))
        loyalty = await stack.enter_async_context(
            open_loyalty(
                connectors.loyalty,
                embedded=settings.embedded,
                demo_customers=[c.id for c in embedded_demo.customers] if embedded_demo else (),
            )
        )
        tokens = TokenCodec(settings.token_secret.get_secret_value().encode(), source=DYNAMODB)
        guards = [dynamo.resilience, graph.resilience, _guard(payments), _guard(tax)]
        guards += [erp.resilience] if erp.resilience is not None else []
        guards.append(_guard(loyalty))
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
            payments=payments,
            tax=CachedTaxSource(tax, ttl_seconds=settings.tax_cache_seconds),
            loyalty=loyalty,
            dynamo=dynamo,
            neptune=graph,
            live_stock=erp.stock if erp.stock_url else None,
            contract_prices=erp.prices if erp.pricing_url else None,
            guards=tuple(guards),
        )


def _guard(source: object) -> Resilience:
    """The source's own guard: every connector exposes the `Resilience` it calls through."""
    guard = getattr(source, "resilience", None)
    if not isinstance(guard, Resilience):
        raise TypeError(f"{type(source).__name__} has no resilience guard")
    return guard
