"""Products, variants, categories, brands, images."""

from __future__ import annotations

from typing import Annotated

import strawberry

from datasources.catalog import BrandRecord, CategoryRecord, ProductRecord, VariantRecord
from resolvers import catalog, inventory, pricing
from schema.channel import Channel
from schema.info import Info
from schema.inventory.types import Availability, Stock
from schema.money import Money, MoneyRange
from schema.pagination import Connection
from schema.pricing.types import VariantPrice
from schema.scalars import AWSJSON, AWSURL, AWSDateTime


@strawberry.type(description="A product image.")
class Image:
    url: AWSURL
    alt: str


@strawberry.type(description="A brand.")
class Brand:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, r: BrandRecord) -> Brand:
        return cls(id=strawberry.ID(r.id), name=r.name)


@strawberry.type(description="A sellable version of a product (size, colour, ...).")
class Variant:
    id: strawberry.ID
    sku: str
    name: str
    attributes: AWSJSON
    record: strawberry.Private[VariantRecord]

    @classmethod
    def of(cls, r: VariantRecord) -> Variant:
        return cls(
            id=strawberry.ID(r.id),
            sku=r.sku,
            name=r.name,
            attributes=AWSJSON(r.attributes),
            record=r,
        )

    @strawberry.field(description="The list price on a channel; null where not sold there.")
    async def price(self, info: Info, channel: Channel) -> VariantPrice | None:
        record = await pricing.variant_price(info.context, self.record, channel)
        return VariantPrice.of(channel, record) if record else None

    @strawberry.field(description="Stock at every location.")
    async def stock(self, info: Info) -> list[Stock]:
        return [Stock.of(s) for s in await inventory.variant_stock(info.context, self.record)]

    @strawberry.field(description="Units a channel (or one store, with locationId) can sell.")
    async def availability(
        self, info: Info, channel: Channel, location_id: strawberry.ID | None = None
    ) -> Availability:
        return Availability.of(
            await inventory.variant_availability(
                info.context,
                self.record,
                channel=channel,
                location_id=str(location_id) if location_id else None,
            )
        )

    @strawberry.field
    async def product(self, info: Info) -> Annotated[Product, strawberry.lazy(__name__)]:
        return Product.of(await catalog.product(info.context, id=self.record.product_id, sku=None))


@strawberry.type(description="A product and its variants.")
class Product:
    id: strawberry.ID
    name: str
    slug: str
    description: str
    attributes: AWSJSON
    images: list[Image]
    created_at: AWSDateTime | None
    updated_at: AWSDateTime | None
    record: strawberry.Private[ProductRecord]

    @classmethod
    def of(cls, r: ProductRecord) -> Product:
        return cls(
            id=strawberry.ID(r.id),
            name=r.name,
            slug=r.slug,
            description=r.description,
            attributes=AWSJSON(r.attributes),
            images=[Image(url=AWSURL(i.url), alt=i.alt) for i in r.images],
            created_at=AWSDateTime(r.created_at) if r.created_at else None,
            updated_at=AWSDateTime(r.updated_at) if r.updated_at else None,
            record=r,
        )

    @strawberry.field
    def variants(self) -> list[Variant]:
        return [Variant.of(v) for v in self.record.variants]

    @strawberry.field
    async def brand(self, info: Info) -> Brand | None:
        record = await catalog.brand(info.context, self.record.brand_id)
        return Brand.of(record) if record else None

    @strawberry.field
    async def category(self, info: Info) -> Annotated[Category, strawberry.lazy(__name__)] | None:
        record = await catalog.category_optional(info.context, self.record.category_id)
        return Category.of(record) if record else None

    @strawberry.field(description="Lowest and highest variant price on a channel.")
    async def price_range(self, info: Info, channel: Channel) -> MoneyRange | None:
        prices = [
            p
            for v in self.record.variants
            if (p := await pricing.variant_price(info.context, v, channel)) is not None
        ]
        if not prices:
            return None
        amounts = sorted((p.price for p in prices), key=lambda m: m.amount)
        return MoneyRange(min=Money.of(amounts[0]), max=Money.of(amounts[-1]))


@strawberry.type(description="A node of the category tree.")
class Category:
    id: strawberry.ID
    name: str
    slug: str
    record: strawberry.Private[CategoryRecord]

    @classmethod
    def of(cls, r: CategoryRecord) -> Category:
        return cls(id=strawberry.ID(r.id), name=r.name, slug=r.slug, record=r)

    @strawberry.field
    async def parent(self, info: Info) -> Category | None:
        record = await catalog.category_optional(info.context, self.record.parent_id)
        return Category.of(record) if record else None

    @strawberry.field(description="From the root down to the parent: breadcrumbs.")
    async def ancestors(self, info: Info) -> list[Category]:
        records = await info.context.loaders.category_by_id.load_many(list(self.record.path))
        return [Category.of(r) for r in records if r is not None]

    @strawberry.field
    async def children(
        self, info: Info, limit: int | None = None, next_token: str | None = None
    ) -> Connection[Category]:
        page = await catalog.categories(
            info.context, parent_id=self.record.id, limit=limit, next_token=next_token
        )
        return Connection.of(page, Category.of)

    @strawberry.field
    async def products(
        self, info: Info, limit: int | None = None, next_token: str | None = None
    ) -> Connection[Product]:
        page = await catalog.products_of_category(
            info.context, self.record.id, limit=limit, next_token=next_token
        )
        return Connection.of(page, Product.of)
