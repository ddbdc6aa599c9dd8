"""Recommendations: ranked ids from the graph, hydrated into product records from DynamoDB.

Per-product and per-customer lists go through loaders keyed by (kind, limit, id), so a page of
50 products asking for ALSO_BOUGHT costs one graph round trip, not 50 (`Loaders`). A failing
graph raises its `Neptune:<Reason>` error, which nulls only the recommendation field.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasources.cart import CartRecord
from datasources.catalog import ProductRecord
from datasources.recommendations import RankedProduct, RecommendationKind
from datasources.records import Channel
from resolvers.context import Context
from resolvers.errors import InvalidArgumentError

MAX_LIMIT = 20
DEFAULT_LIMIT = 5


def checked_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    return limit


async def for_product(
    ctx: Context, product_id: str, *, kind: RecommendationKind, limit: int | None
) -> list[ProductRecord]:
    key = (kind, checked_limit(limit), product_id)
    return await _products(ctx, await ctx.loaders.recommendations_by_product.load(key))


async def for_customer(
    ctx: Context, customer_id: str, *, limit: int | None, channel: Channel | None
) -> list[ProductRecord]:
    key = (checked_limit(limit), channel, customer_id)
    return await _products(ctx, await ctx.loaders.recommendations_by_customer.load(key))


async def for_cart(ctx: Context, cart: CartRecord, *, limit: int | None) -> list[ProductRecord]:
    n = checked_limit(limit)
    product_ids = list(dict.fromkeys(line.product_id for line in cart.lines))
    if not product_ids:
        return []
    return await _products(ctx, await ctx.sources.recommendations.for_cart(product_ids, n))


async def _products(ctx: Context, ranked: Sequence[RankedProduct]) -> list[ProductRecord]:
    """The ranked products that DynamoDB still holds, in rank order."""
    records = await ctx.loaders.product_by_id.load_many([r.product_id for r in ranked])
    return [r for r in records if r is not None]
