"""Catalog: products with their variants, categories (a tree), brands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, Protocol

from datasources import frozen
from datasources.records import Page


@frozen.record
class ImageRecord:
    url: str
    alt: str


@frozen.record
class VariantRecord:
    id: str
    product_id: str
    sku: str
    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@frozen.record
class ProductRecord:
    id: str
    name: str
    slug: str
    description: str
    brand_id: str
    category_id: str
    variants: Sequence[VariantRecord]
    images: Sequence[ImageRecord] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""


@frozen.record
class CategoryRecord:
    id: str
    name: str
    slug: str
    parent_id: str | None
    # Ancestors from the root down, so breadcrumbs need no extra reads.
    path: Sequence[str] = ()


@frozen.record
class BrandRecord:
    id: str
    name: str


@frozen.record
class SkuRecord:
    sku: str
    product_id: str
    variant_id: str


@frozen.record
class ProductFilter:
    category_id: str | None = None
    brand_id: str | None = None


class CatalogSource(Protocol):
    """Batch-first reads: every `*_by_*` takes N keys and answers N results in order."""

    async def products_by_id(self, ids: Sequence[str]) -> Sequence[ProductRecord | None]: ...

    async def skus(self, skus: Sequence[str]) -> Sequence[SkuRecord | None]: ...

    async def variant_refs(self, variant_ids: Sequence[str]) -> Sequence[SkuRecord | None]:
        """Which product a variant belongs to (carts hold variant ids)."""
        ...

    async def categories_by_id(self, ids: Sequence[str]) -> Sequence[CategoryRecord | None]: ...

    async def brands_by_id(self, ids: Sequence[str]) -> Sequence[BrandRecord | None]: ...

    async def list_products(
        self, product_filter: ProductFilter, *, limit: int, next_token: str | None
    ) -> Page[ProductRecord]: ...

    async def list_categories(
        self, parent_id: str | None, *, limit: int, next_token: str | None
    ) -> Page[CategoryRecord]: ...
