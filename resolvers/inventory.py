"""Stock per location and availability per channel, computed from prefetched records."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from datasources import frozen
from datasources.catalog import ProductRecord
from datasources.inventory import LiveStockRecord, LocationRecord, ProductStockRecord, StockLevel
from datasources.records import Channel, Page
from resolvers.context import Context
from resolvers.errors import NotFoundError
from resolvers.paging import checked_limit


@frozen.record
class StockAtLocation:
    location_id: str
    level: StockLevel


@frozen.record
class Availability:
    channel: Channel
    location_id: str | None
    quantity_available: int

    @property
    def in_stock(self) -> bool:
        return self.quantity_available > 0


@frozen.record
class LocationIndex:
    """Every location, read once per request: there are few, and availability needs them."""

    by_id: Mapping[str, LocationRecord]

    def serving(self, channel: Channel) -> frozenset[str]:
        return frozenset(i for i, loc in self.by_id.items() if channel in loc.channels)


async def location_index(ctx: Context) -> LocationIndex:
    locations = await ctx.loaders.all_locations.load("all")
    return LocationIndex({loc.id: loc for loc in locations})


async def stock_for(
    ctx: Context, products: Sequence[ProductRecord]
) -> list[ProductStockRecord | None]:
    """Stock of `products` as the shopper sees it.

    Without an ERP, DynamoDB's stock items say it all. With one, the ERP is the system of
    record for what is on hand (live, one request per page) and DynamoDB keeps what checkouts
    have reserved against it; available = on hand - reserved. Raises the ERP's SourceError.
    Checkout still reserves against DynamoDB's copy, in its transaction (docs/erp.md).
    """
    ids = [p.id for p in products]
    if ctx.sources.live_stock is None:
        return list(await ctx.loaders.stock_by_product.load_many(ids))
    # Side by side: a slow ERP then costs its timeout, not its timeout plus DynamoDB's read.
    ledger, live = await asyncio.gather(
        ctx.loaders.stock_by_product.load_many(ids),
        ctx.loaders.live_stock_by_product.load_many(ids),
    )
    return [
        _merged(p, held, on_hand) for p, held, on_hand in zip(products, ledger, live, strict=True)
    ]


def _merged(
    product: ProductRecord, held: ProductStockRecord | None, on_hand: LiveStockRecord | None
) -> ProductStockRecord:
    by_variant: dict[str, dict[str, StockLevel]] = {}
    for variant in product.variants:
        quantities = on_hand.by_sku.get(variant.sku, {}) if on_hand else {}
        reserved = held.levels(variant.id) if held else {}
        by_variant[variant.id] = {
            loc: StockLevel(quantity=qty, reserved=reserved[loc].reserved if loc in reserved else 0)
            for loc, qty in quantities.items()
        }
    return ProductStockRecord(product.id, by_variant)


def stock_levels(stock: ProductStockRecord | None, variant_id: str) -> Sequence[StockAtLocation]:
    if stock is None:
        return ()
    return [StockAtLocation(loc, lv) for loc, lv in sorted(stock.levels(variant_id).items())]


def availability(
    stock: ProductStockRecord | None,
    variant_id: str,
    locations: LocationIndex,
    *,
    channel: Channel,
    location_id: str | None,
) -> Availability:
    levels = stock.levels(variant_id) if stock else {}
    if location_id is not None:
        location = locations.by_id.get(location_id)
        if location is None:
            raise NotFoundError(f"No location has id '{location_id}'.")
        level = levels.get(location_id)
        total = level.available if level and channel in location.channels else 0
    else:
        serving = locations.serving(channel)
        total = sum(lv.available for loc, lv in levels.items() if loc in serving)
    return Availability(channel=channel, location_id=location_id, quantity_available=total)


async def location(ctx: Context, id: str) -> LocationRecord | None:
    return await ctx.loaders.location_by_id.load(id)


async def locations(
    ctx: Context, *, limit: int | None, next_token: str | None
) -> Page[LocationRecord]:
    page = await ctx.sources.inventory.list_locations(
        limit=checked_limit(limit), next_token=next_token
    )
    for record in page.items:
        ctx.loaders.location_by_id.prime(record.id, record)
    return page
