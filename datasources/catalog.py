"""Catalog: products with their variants, categories (a tree), brands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from datasources.records import Page


@dataclass(frozen=True, slots=True)
class ImageRecord:
    url: str
    alt: str


@dataclass(frozen=True, slots=True)
class VariantRecord:
    id: str
    product_id: str
    sku: str
    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    id: str
    name: str
    slug: str
    parent_id: str | None
    # Ancestors from the root down, so breadcrumbs need no extra reads.
    path: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class BrandRecord:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class SkuRecord:
    sku: str
    product_id: str
    variant_id: str


@dataclass(frozen=True, slots=True)
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
