"""Catalog on DynamoDB: products (variants embedded), categories, brands, SKU lookups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasources.catalog import (
    BrandRecord,
    CategoryRecord,
    ImageRecord,
    ProductFilter,
    ProductRecord,
    SkuRecord,
    VariantRecord,
)
from datasources.dynamodb.client import SOURCE, DynamoClient, Item
from datasources.dynamodb.tables import CATALOG
from datasources.pagination import TokenCodec
from datasources.records import Page

ROOT = "ROOT"


def _sort_key(name: str, id_: str) -> str:
    return f"{name.casefold()}#{id_}"


def product_item(p: ProductRecord) -> Item:
    return {
        "pk": f"PRODUCT#{p.id}",
        "sk": "PRODUCT",
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "description": p.description,
        "brandId": p.brand_id,
        "categoryId": p.category_id,
        "images": [{"url": i.url, "alt": i.alt} for i in p.images],
        "attributes": dict(p.attributes),
        "variants": [
            {"id": v.id, "sku": v.sku, "name": v.name, "attributes": dict(v.attributes)}
            for v in p.variants
        ],
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
        "gsi1pk": f"CATEGORY#{p.category_id}",
        "gsi1sk": _sort_key(p.name, p.id),
        "gsi2pk": f"BRAND#{p.brand_id}",
        "gsi2sk": _sort_key(p.name, p.id),
        "gsi3pk": "PRODUCT",
        "gsi3sk": _sort_key(p.name, p.id),
    }


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal; attributes are JSON, so give them back as int/float."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value) if value == int(value) else float(value)
    return value


def product_from_item(item: Item) -> ProductRecord:
    pid = str(item["id"])
    return ProductRecord(
        id=pid,
        name=item["name"],
        slug=item["slug"],
        description=item.get("description", ""),
        brand_id=item["brandId"],
        category_id=item["categoryId"],
        images=tuple(ImageRecord(url=i["url"], alt=i.get("alt", "")) for i in item["images"]),
        attributes=_plain(item.get("attributes", {})),
        variants=tuple(
            VariantRecord(
                id=v["id"],
                product_id=pid,
                sku=v["sku"],
                name=v["name"],
                attributes=_plain(v.get("attributes", {})),
            )
            for v in item["variants"]
        ),
        created_at=item.get("createdAt", ""),
        updated_at=item.get("updatedAt", ""),
    )


def sku_item(s: SkuRecord) -> Item:
    return {"pk": f"SKU#{s.sku}", "sk": "SKU", "productId": s.product_id, "variantId": s.variant_id}


def variant_ref_item(s: SkuRecord) -> Item:
    return {
        "pk": f"VARIANT#{s.variant_id}",
        "sk": "VARIANT",
        "productId": s.product_id,
        "sku": s.sku,
    }


def category_item(c: CategoryRecord) -> Item:
    return {
        "pk": f"CATEGORY#{c.id}",
        "sk": "CATEGORY",
        "id": c.id,
        "name": c.name,
        "slug": c.slug,
        "parentId": c.parent_id,
        "path": list(c.path),
        "gsi1pk": f"PARENT#{c.parent_id or ROOT}",
        "gsi1sk": _sort_key(c.name, c.id),
    }


def category_from_item(item: Item) -> CategoryRecord:
    return CategoryRecord(
        id=item["id"],
        name=item["name"],
        slug=item["slug"],
        parent_id=item.get("parentId"),
        path=tuple(item.get("path", ())),
    )


def brand_item(b: BrandRecord) -> Item:
    return {"pk": f"BRAND#{b.id}", "sk": "BRAND", "id": b.id, "name": b.name}


class DynamoCatalogSource:
    def __init__(self, dynamo: DynamoClient, tokens: TokenCodec) -> None:
        self._dynamo = dynamo
        self._tokens = tokens
        self._table = dynamo.table(CATALOG.name)

    async def _by_keys(self, prefix: str, sk: str, ids: Sequence[str]) -> list[Item | None]:
        return await self._dynamo.get_many(
            self._table, [{"pk": f"{prefix}#{i}", "sk": sk} for i in ids]
        )

    async def products_by_id(self, ids: Sequence[str]) -> Sequence[ProductRecord | None]:
        items = await self._by_keys("PRODUCT", "PRODUCT", ids)
        return [product_from_item(i) if i else None for i in items]

    async def skus(self, skus: Sequence[str]) -> Sequence[SkuRecord | None]:
        items = await self._by_keys("SKU", "SKU", skus)
        return [
            SkuRecord(sku=s, product_id=i["productId"], variant_id=i["variantId"]) if i else None
            for s, i in zip(skus, items, strict=True)
        ]

    async def variant_refs(self, variant_ids: Sequence[str]) -> Sequence[SkuRecord | None]:
        items = await self._by_keys("VARIANT", "VARIANT", variant_ids)
        return [
            SkuRecord(sku=i["sku"], product_id=i["productId"], variant_id=v) if i else None
            for v, i in zip(variant_ids, items, strict=True)
        ]

    async def categories_by_id(self, ids: Sequence[str]) -> Sequence[CategoryRecord | None]:
        items = await self._by_keys("CATEGORY", "CATEGORY", ids)
        return [category_from_item(i) if i else None for i in items]

    async def brands_by_id(self, ids: Sequence[str]) -> Sequence[BrandRecord | None]:
        items = await self._by_keys("BRAND", "BRAND", ids)
        return [BrandRecord(id=i["id"], name=i["name"]) if i else None for i in items]

    async def list_products(
        self, product_filter: ProductFilter, *, limit: int, next_token: str | None
    ) -> Page[ProductRecord]:
        if product_filter.category_id:
            index, partition = "gsi1", f"CATEGORY#{product_filter.category_id}"
        elif product_filter.brand_id:
            index, partition = "gsi2", f"BRAND#{product_filter.brand_id}"
        else:
            index, partition = "gsi3", "PRODUCT"
        items, token = await self._page(index, partition, limit, next_token)
        return Page([product_from_item(i) for i in items], token)

    async def list_categories(
        self, parent_id: str | None, *, limit: int, next_token: str | None
    ) -> Page[CategoryRecord]:
        items, token = await self._page("gsi1", f"PARENT#{parent_id or ROOT}", limit, next_token)
        return Page([category_from_item(i) for i in items], token)

    async def _page(
        self, index: str, partition: str, limit: int, next_token: str | None
    ) -> tuple[list[Item], str | None]:
        scope = f"{self._table}/{index}/{partition}"
        # One extra item tells whether a next page exists, so the last page carries no
        # token that would lead to an empty page.
        items, last_key = await self._dynamo.query(
            self._table,
            index=index,
            key_condition=f"{index}pk = :p",
            values={":p": partition},
            limit=limit + 1,
            start_key=self._tokens.decode(scope, next_token),
        )
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            last_key = {a: {"S": last[a]} for a in ("pk", "sk", f"{index}pk", f"{index}sk")}
        return items, self._tokens.encode(scope, last_key)


__all__ = ["SOURCE", "DynamoCatalogSource"]
