"""Catalog reads: products by id or SKU, listings, categories, brands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from datasources import frozen
from datasources.catalog import BrandRecord, CategoryRecord, ProductFilter, ProductRecord
from datasources.errors import SourceError
from datasources.inventory import ProductStockRecord
from datasources.pricing import ProductPricesRecord
from datasources.records import Page
from resolvers.context import Context
from resolvers.errors import InvalidArgumentError, NotFoundError
from resolvers.inventory import LocationIndex, location_index, stock_for
from resolvers.paging import checked_limit
from resolvers.pricing import prices_for

T = TypeVar("T")


async def product(ctx: Context, *, id: str | None, sku: str | None) -> ProductRecord:
    if (id is None) == (sku is None):
        raise InvalidArgumentError("Give exactly one of id or sku.")
    if sku is not None:
        ref = await ctx.loaders.sku_by_code.load(sku)
        if ref is None:
            raise NotFoundError(f"No product has SKU '{sku}'.")
        id = ref.product_id
    assert id is not None
    record = await ctx.loaders.product_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No product has id '{id}'.")
    return record


async def products(
    ctx: Context,
    *,
    category_id: str | None,
    brand_id: str | None,
    limit: int | None,
    next_token: str | None,
) -> Page[ProductRecord]:
    if category_id is not None and brand_id is not None:
        raise InvalidArgumentError("Filter by categoryId or by brandId, not both.")
    page = await ctx.sources.catalog.list_products(
        ProductFilter(category_id=category_id, brand_id=brand_id),
        limit=checked_limit(limit),
        next_token=next_token,
    )
    for record in page.items:
        ctx.loaders.product_by_id.prime(record.id, record)
    return page


async def category(ctx: Context, *, id: str) -> CategoryRecord:
    record = await ctx.loaders.category_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No category has id '{id}'.")
    return record


async def categories(
    ctx: Context, *, parent_id: str | None, limit: int | None, next_token: str | None
) -> Page[CategoryRecord]:
    page = await ctx.sources.catalog.list_categories(
        parent_id, limit=checked_limit(limit), next_token=next_token
    )
    for record in page.items:
        ctx.loaders.category_by_id.prime(record.id, record)
    return page


async def category_optional(ctx: Context, id: str | None) -> CategoryRecord | None:
    return await ctx.loaders.category_by_id.load(id) if id else None


async def products_of_category(
    ctx: Context, category_id: str, *, limit: int | None, next_token: str | None
) -> Page[ProductRecord]:
    return await products(
        ctx, category_id=category_id, brand_id=None, limit=limit, next_token=next_token
    )


@frozen.record
class Needs:
    """What the query will read of each product, beyond the product item itself."""

    prices: bool = False
    stock: bool = False
    locations: bool = False
    brand: bool = False
    category: bool = False


@frozen.record
class ProductView:
    """A product and whatever its fields need, fetched for a whole page at once."""

    record: ProductRecord
    prices: ProductPricesRecord | None = None
    stock: ProductStockRecord | None = None
    brand: BrandRecord | None = None
    category: CategoryRecord | None = None
    locations: LocationIndex | None = None
    # A source behind prices (the ERP's contract prices) or stock (the ERP's live stock) that
    # failed for the whole page: the fields reading it raise it, so only they go null.
    prices_error: SourceError | None = None
    stock_error: SourceError | None = None


async def _none(n: int) -> Sequence[None]:
    return [None] * n


async def _guarded(
    read: Awaitable[Sequence[T]], n: int
) -> tuple[Sequence[T | None], SourceError | None]:
    try:
        return await read, None
    except SourceError as exc:
        return [None] * n, exc


async def hydrate(
    ctx: Context, records: Sequence[ProductRecord], needs: Needs
) -> list[ProductView]:
    """One batched read per kind of data for all `records`, run concurrently."""
    ids = [r.id for r in records]
    n = len(records)
    loaders = ctx.loaders
    customer_id = ctx.actor.customer_id
    (prices, prices_error), (stock, stock_error), brands, categories = await asyncio.gather(
        _guarded(prices_for(ctx, ids, customer_id=customer_id, products=records), n)
        if needs.prices
        else _guarded(_none(n), n),
        _guarded(stock_for(ctx, records), n) if needs.stock else _guarded(_none(n), n),
        loaders.brand_by_id.load_many([r.brand_id for r in records]) if needs.brand else _none(n),
        loaders.category_by_id.load_many([r.category_id for r in records])
        if needs.category
        else _none(n),
    )
    locations = await location_index(ctx) if needs.locations else None
    return [
        ProductView(r, p, s, b, c, locations, prices_error, stock_error)
        for r, p, s, b, c in zip(records, prices, stock, brands, categories, strict=True)
    ]
