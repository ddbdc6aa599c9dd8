"""Stock per location and availability per channel, computed from prefetched records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from datasources.inventory import LocationRecord, ProductStockRecord, StockLevel
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


@dataclass(frozen=True, slots=True)
class LocationIndex:
    """Every location, read once per request: there are few, and availability needs them."""

    by_id: Mapping[str, LocationRecord]

    def serving(self, channel: Channel) -> frozenset[str]:
        return frozenset(i for i, loc in self.by_id.items() if channel in loc.channels)


async def location_index(ctx: Context) -> LocationIndex:
    locations = await ctx.loaders.all_locations.load("all")
    return LocationIndex({loc.id: loc for loc in locations})


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
