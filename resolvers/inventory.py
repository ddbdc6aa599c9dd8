"""Stock per location and availability per channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datasources.catalog import VariantRecord
from datasources.inventory import LocationRecord, StockLevel
from datasources.records import Channel, Page
from resolvers.context import Context
from resolvers.errors import NotFoundError
from resolvers.paging import checked_limit


@dataclass(frozen=True, slots=True)
class StockAtLocation:
    location_id: str
    level: StockLevel


@dataclass(frozen=True, slots=True)
class Availability:
    channel: Channel
    location_id: str | None
    quantity_available: int

    @property
    def in_stock(self) -> bool:
        return self.quantity_available > 0


async def variant_stock(ctx: Context, variant: VariantRecord) -> Sequence[StockAtLocation]:
    stock = await ctx.loaders.stock_by_product.load(variant.product_id)
    if stock is None:
        return ()
    return [StockAtLocation(loc, level) for loc, level in sorted(stock.levels(variant.id).items())]


async def variant_availability(
    ctx: Context, variant: VariantRecord, *, channel: Channel, location_id: str | None
) -> Availability:
    stock = await ctx.loaders.stock_by_product.load(variant.product_id)
    levels = stock.levels(variant.id) if stock else {}
    if location_id is not None:
        location = await ctx.loaders.location_by_id.load(location_id)
        if location is None:
            raise NotFoundError(f"No location has id '{location_id}'.")
        level = levels.get(location_id)
        total = level.available if level and channel in location.channels else 0
    else:
        serving = {loc.id for loc in await ctx.loaders.locations_by_channel.load(channel)}
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
