"""Prices per channel for a variant."""

from __future__ import annotations

from datasources.catalog import VariantRecord
from datasources.pricing import PriceRecord
from datasources.records import Channel
from resolvers.context import Context


async def variant_price(
    ctx: Context, variant: VariantRecord, channel: Channel
) -> PriceRecord | None:
    prices = await ctx.loaders.prices_by_product.load(variant.product_id)
    return prices.price(variant.id, channel) if prices else None
