"""Catalog root fields."""

import strawberry

from resolvers import catalog
from schema.access import PUBLIC
from schema.catalog.types import Category, Product, products_for
from schema.info import Info
from schema.pagination import Connection


@strawberry.input(description="Filter a product listing by category or by brand.")
class ProductFilterInput:
    category_id: strawberry.ID | None = None
    brand_id: strawberry.ID | None = None


@strawberry.type
class CatalogQuery:
    @strawberry.field(
        description="One product, by id or by the SKU of one of its variants.", directives=PUBLIC
    )
    async def product(
        self, info: Info, id: strawberry.ID | None = None, sku: str | None = None
    ) -> Product | None:
        record = await catalog.product(info.context, id=str(id) if id else None, sku=sku)
        (product,) = await products_for(info, [record])
        return product

    @strawberry.field(
        description="Products, optionally in one category or of one brand.", directives=PUBLIC
    )
    async def products(
        self,
        info: Info,
        filter: ProductFilterInput | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Connection[Product]:
        f = filter or ProductFilterInput()
        page = await catalog.products(
            info.context,
            category_id=str(f.category_id) if f.category_id else None,
            brand_id=str(f.brand_id) if f.brand_id else None,
            limit=limit,
            next_token=next_token,
        )
        items = await products_for(info, page.items, under_path="items")
        return Connection(items=items, next_token=page.next_token)

    @strawberry.field(directives=PUBLIC)
    async def category(self, info: Info, id: strawberry.ID) -> Category | None:
        return Category.of(await catalog.category(info.context, id=str(id)))

    @strawberry.field(
        description="Children of a category; the roots without parentId.", directives=PUBLIC
    )
    async def categories(
        self,
        info: Info,
        parent_id: strawberry.ID | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Connection[Category]:
        page = await catalog.categories(
            info.context,
            parent_id=str(parent_id) if parent_id else None,
            limit=limit,
            next_token=next_token,
        )
        return Connection.of(page, Category.of)
