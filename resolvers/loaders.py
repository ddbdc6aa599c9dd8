"""Per-request DataLoaders, named `<record>_by_<key>`.

Built fresh for every request (a module-level loader would leak one caller's data into
another's), each batching at most 100 keys: BatchGetItem's limit, so one dispatch is one call.
"""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from datasources.build import Sources
from datasources.cart import CartRecord
from datasources.catalog import BrandRecord, CategoryRecord, ProductRecord, SkuRecord
from datasources.customer import CustomerRecord
from datasources.inventory import LocationRecord, ProductStockRecord
from datasources.order import OrderRecord
from datasources.pricing import ProductPricesRecord

BATCH = 100


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
        self.cart_by_id: DataLoader[str, CartRecord | None] = DataLoader(
            sources.cart.carts_by_id, max_batch_size=BATCH
        )
        self.order_by_id: DataLoader[str, OrderRecord | None] = DataLoader(
            sources.order.orders_by_id, max_batch_size=BATCH
        )

    async def _all_locations(self, keys: list[str]) -> list[Sequence[LocationRecord]]:
        page = await self._sources.inventory.list_locations(limit=100, next_token=None)
        for loc in page.items:
            self.location_by_id.prime(loc.id, loc)
        return [page.items for _ in keys]
