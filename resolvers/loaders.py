"""Per-request DataLoaders, named `<record>_by_<key>`.

Built fresh for every request (a module-level loader would leak one caller's data into
another's), each DynamoDB loader batching at most 100 keys: BatchGetItem's limit, so one
dispatch is one call. The recommendation loaders group their keys instead: one traversal per
(kind, limit), whatever the number of products (docs/graph.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from datasources.build import Sources
from datasources.cart import CartRecord
from datasources.catalog import BrandRecord, CategoryRecord, ProductRecord, SkuRecord
from datasources.customer import CustomerRecord
from datasources.inventory import LiveStockRecord, LocationRecord, ProductStockRecord
from datasources.loyalty import LoyaltyRecord
from datasources.order import OrderRecord
from datasources.pricing import ContractPriceRecord, ProductPricesRecord
from datasources.recommendations import RankedProduct, RecommendationKind
from datasources.records import Channel

BATCH = 100

# (kind, limit, product id) and (limit, channel, customer id): one graph call per kind and
# limit (and channel), whatever the number of ids.
ProductRecommendationKey = tuple[RecommendationKind, int, str]
CustomerRecommendationKey = tuple[int, Channel | None, str]
Ranked = Sequence[RankedProduct]
Rankings = Sequence[Ranked]  # one list per id asked
# (customer id, product id): one ERP request per customer, whatever the number of products.
ContractKey = tuple[str, str]
Contract = Mapping[str, ContractPriceRecord]
G = TypeVar("G", bound=Hashable)
V = TypeVar("V")


class Loaders:
    def __init__(self, sources: Sources) -> None:
        self._sources = sources
        catalog = sources.catalog
        self.product_by_id: DataLoader[str, ProductRecord | None] = DataLoader(
            catalog.products_by_id, max_batch_size=BATCH
        )
        self.sku_by_code: DataLoader[str, SkuRecord | None] = DataLoader(
            catalog.skus, max_batch_size=BATCH
        )
        self.variant_ref_by_id: DataLoader[str, SkuRecord | None] = DataLoader(
            catalog.variant_refs, max_batch_size=BATCH
        )
        self.category_by_id: DataLoader[str, CategoryRecord | None] = DataLoader(
            catalog.categories_by_id, max_batch_size=BATCH
        )
        self.brand_by_id: DataLoader[str, BrandRecord | None] = DataLoader(
            catalog.brands_by_id, max_batch_size=BATCH
        )
        self.prices_by_product: DataLoader[str, ProductPricesRecord | None] = DataLoader(
            sources.pricing.prices_by_product, max_batch_size=BATCH
        )
        self.stock_by_product: DataLoader[str, ProductStockRecord | None] = DataLoader(
            sources.inventory.stock_by_product, max_batch_size=BATCH
        )
        # Live on-hand stock from the ERP (when one is configured): one request per page.
        self.live_stock_by_product: DataLoader[str, LiveStockRecord | None] = DataLoader(
            self._live_stock, max_batch_size=BATCH
        )
        self.contract_prices_by_product: DataLoader[ContractKey, Contract] = DataLoader(
            self._contract_prices, max_batch_size=BATCH
        )
        self.location_by_id: DataLoader[str, LocationRecord | None] = DataLoader(
            sources.inventory.locations_by_id, max_batch_size=BATCH
        )
        # One key ("all"): every location, read once per request.
        self.all_locations: DataLoader[str, Sequence[LocationRecord]] = DataLoader(
            self._all_locations
        )
        self.customer_by_id: DataLoader[str, CustomerRecord | None] = DataLoader(
            sources.customer.customers_by_id, max_batch_size=BATCH
        )
        self.loyalty_by_customer: DataLoader[str, LoyaltyRecord | None] = DataLoader(
            sources.loyalty.accounts_by_customer, max_batch_size=BATCH
        )
        self.cart_by_id: DataLoader[str, CartRecord | None] = DataLoader(
            sources.cart.carts_by_id, max_batch_size=BATCH
        )
        self.order_by_id: DataLoader[str, OrderRecord | None] = DataLoader(
            sources.order.orders_by_id, max_batch_size=BATCH
        )
        # Not capped: a batch splits by group, and each group is one traversal of any size.
        self.recommendations_by_product: DataLoader[ProductRecommendationKey, Ranked] = DataLoader(
            self._recommendations_by_product
        )
        self.recommendations_by_customer: DataLoader[CustomerRecommendationKey, Ranked] = (
            DataLoader(self._recommendations_by_customer)
        )

    async def _all_locations(self, keys: list[str]) -> list[Sequence[LocationRecord]]:
        page = await self._sources.inventory.list_locations(limit=100, next_token=None)
        for loc in page.items:
            self.location_by_id.prime(loc.id, loc)
        return [page.items for _ in keys]

    async def _live_stock(self, ids: list[str]) -> Sequence[LiveStockRecord | None]:
        live = self._sources.live_stock
        if live is None:
            return [None] * len(ids)
        return await live.live_stock_by_product(ids)

    async def _contract_prices(self, keys: list[ContractKey]) -> list[Contract | BaseException]:
        contracts = self._sources.contract_prices
        if contracts is None:
            return [{} for _ in keys]
        return await _grouped(keys, contracts.contract_prices)

    async def _recommendations_by_product(
        self, keys: list[ProductRecommendationKey]
    ) -> list[Ranked | BaseException]:
        recs = self._sources.recommendations

        def fetch(group: tuple[RecommendationKind, int], ids: list[str]) -> Awaitable[Rankings]:
            kind, limit = group
            read = recs.also_bought if kind is RecommendationKind.ALSO_BOUGHT else recs.similar
            return read(ids, limit)

        return await _grouped([((kind, limit), pid) for kind, limit, pid in keys], fetch)

    async def _recommendations_by_customer(
        self, keys: list[CustomerRecommendationKey]
    ) -> list[Ranked | BaseException]:
        recs = self._sources.recommendations

        def fetch(group: tuple[int, Channel | None], ids: list[str]) -> Awaitable[Rankings]:
            limit, channel = group
            return recs.for_customer(ids, limit, channel=channel.value if channel else None)

        return await _grouped([((limit, ch), cid) for limit, ch, cid in keys], fetch)


async def _grouped(
    keys: Sequence[tuple[G, str]], fetch: Callable[[G, list[str]], Awaitable[Sequence[V]]]
) -> list[V | BaseException]:
    """Answer (group, id) keys with one batch-first `fetch` per group, run concurrently.

    A failed group answers its keys with its error (the loader raises it to each caller), so
    one kind failing leaves the fields of another intact.
    """
    groups: dict[G, list[str]] = {}
    for group, item_id in keys:
        groups.setdefault(group, []).append(item_id)
    outcomes = await asyncio.gather(
        *(fetch(group, ids) for group, ids in groups.items()), return_exceptions=True
    )
    found: dict[tuple[G, str], V | BaseException] = {}
    for (group, ids), outcome in zip(groups.items(), outcomes, strict=True):
        for i, item_id in enumerate(ids):
            found[(group, item_id)] = outcome if isinstance(outcome, BaseException) else outcome[i]
    return [found[key] for key in keys]
