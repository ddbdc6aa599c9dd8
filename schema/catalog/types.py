"""Products, variants, categories, brands, images.

Fields of list elements are synchronous: whoever builds a `Product` first fetches, in one batch
for the whole page (`resolvers.catalog.hydrate`), exactly what the query selects below it.
The one exception is `recommendations`, from another source (the graph): it is async per
product, and its loader still sends one traversal for the whole page.
"""

from collections.abc import Sequence
from typing import Self

import strawberry

from datasources.catalog import BrandRecord, CategoryRecord, ProductRecord, VariantRecord
from resolvers import catalog, inventory
from resolvers import recommendations as recs
from resolvers.catalog import Needs, ProductView
from schema.access import PUBLIC
from schema.channel import Channel
from schema.info import Info
from schema.inventory.types import Availability, Stock
from schema.lookahead import selected_paths, under
from schema.money import Money, MoneyRange
from schema.pagination import Connection
from schema.pricing.types import VariantPrice
from schema.recommendations.types import RecommendationKind
from schema.scalars import AWSJSON, AWSURL, AWSDateTime


def needs_of_product(paths: frozenset[str]) -> Needs:
    """What a product's selected fields will read (paths relative to the product)."""
    return Needs(
        prices="variants.price" in paths or "priceRange" in paths,
        stock="variants.stock" in paths or "variants.availability" in paths,
        locations="variants.availability" in paths,
        brand="brand" in paths,
        category="category" in paths,
    )


def needs_of_variant(paths: frozenset[str]) -> Needs:
    return Needs(
        prices="price" in paths,
        stock="stock" in paths or "availability" in paths,
        locations="availability" in paths,
    )


async def products_for(
    info: Info, records: Sequence[ProductRecord], *, under_path: str | None = None
) -> "list[Product]":
    """Build the `Product`s of the current field, prefetching what the query selects."""
    paths = selected_paths(info)
    if under_path is not None:
        paths = under(paths, under_path)
    views = await catalog.hydrate(info.context, records, needs_of_product(paths))
    return [Product.of(v) for v in views]


@strawberry.type(description="A product image.", directives=PUBLIC)
class Image:
    url: AWSURL
    alt: str


@strawberry.type(description="A brand.", directives=PUBLIC)
class Brand:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, r: BrandRecord) -> Self:
        return cls(id=strawberry.ID(r.id), name=r.name)


@strawberry.type(
    description="A sellable version of a product (size, colour, ...).", directives=PUBLIC
)
class Variant:
    id: strawberry.ID
    sku: str
    name: str
    attributes: AWSJSON
    record: strawberry.Private[VariantRecord]
    view: strawberry.Private[ProductView]

    @classmethod
    def of(cls, r: VariantRecord, view: ProductView) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            sku=r.sku,
            name=r.name,
            attributes=AWSJSON(r.attributes),
            record=r,
            view=view,
        )

    @strawberry.field(
        description="The price on a channel: the list price, or the signed-in customer's "
        "contract price from the ERP. Null where not sold there, or (with errorType "
        "ERP:<Reason>) when a contract customer's prices cannot be read."
    )
    def price(self, channel: Channel) -> VariantPrice | None:
        if self.view.prices_error is not None:
            raise self.view.prices_error
        prices = self.view.prices
        record = prices.price(self.record.id, channel) if prices else None
        return VariantPrice.of(channel, record) if record else None

    @strawberry.field(
        description="Stock at every location: on hand live from the ERP when one is "
        "connected, less what checkouts reserved. Null, with errorType ERP:<Reason>, when the "
        "ERP cannot answer."
    )
    def stock(self) -> list[Stock] | None:
        if self.view.stock_error is not None:
            raise self.view.stock_error
        return [Stock.of(s) for s in inventory.stock_levels(self.view.stock, self.record.id)]

    @strawberry.field(
        description="Units a channel (or one store, with locationId) can sell. Null, with "
        "errorType ERP:<Reason>, when the ERP cannot answer."
    )
    def availability(
        self, channel: Channel, location_id: strawberry.ID | None = None
    ) -> Availability | None:
        if self.view.stock_error is not None:
            raise self.view.stock_error
        assert self.view.locations is not None, "hydrate() must fetch locations"
        return Availability.of(
            inventory.availability(
                self.view.stock,
                self.record.id,
                self.view.locations,
                channel=channel,
                location_id=str(location_id) if location_id else None,
            )
        )

    @strawberry.field
    async def product(self, info: Info) -> "Product":
        (product,) = await products_for(info, [self.view.record])
        return product


@strawberry.type(description="A product and its variants.", directives=PUBLIC)
class Product:
    id: strawberry.ID
    name: str
    slug: str
    description: str
    attributes: AWSJSON
    images: list[Image]
    created_at: AWSDateTime | None
    updated_at: AWSDateTime | None
    view: strawberry.Private[ProductView]

    @classmethod
    def of(cls, view: ProductView) -> Self:
        r = view.record
        return cls(
            id=strawberry.ID(r.id),
            name=r.name,
            slug=r.slug,
            description=r.description,
            attributes=AWSJSON(r.attributes),
            images=[Image(url=AWSURL(i.url), alt=i.alt) for i in r.images],
            created_at=AWSDateTime(r.created_at) if r.created_at else None,
            updated_at=AWSDateTime(r.updated_at) if r.updated_at else None,
            view=view,
        )

    @strawberry.field
    def variants(self) -> list[Variant]:
        return [Variant.of(v, self.view) for v in self.view.record.variants]

    @strawberry.field
    def brand(self) -> Brand | None:
        return Brand.of(self.view.brand) if self.view.brand else None

    @strawberry.field
    def category(self) -> "Category | None":
        return Category.of(self.view.category) if self.view.category else None

    @strawberry.field(description="Lowest and highest variant price on a channel.")
    def price_range(self, channel: Channel) -> MoneyRange | None:
        if self.view.prices_error is not None:
            raise self.view.prices_error
        prices = self.view.prices
        if prices is None:
            return None
        found = [p.price for v in self.view.record.variants if (p := prices.price(v.id, channel))]
        if not found:
            return None
        found.sort(key=lambda m: m.amount)
        return MoneyRange(min=Money.of(found[0]), max=Money.of(found[-1]))

    @strawberry.field(
        description="Products to show beside this one, best first (limit 1-20). Null, with "
        "errorType Neptune:Timeout, Neptune:Unavailable or Neptune:CircuitOpen, when the "
        "recommendation graph cannot answer; the rest of the product is unaffected."
    )
    async def recommendations(
        self,
        info: Info,
        kind: RecommendationKind = RecommendationKind.ALSO_BOUGHT,
        limit: int | None = recs.DEFAULT_LIMIT,
    ) -> "list[Product] | None":
        records = await recs.for_product(info.context, self.view.record.id, kind=kind, limit=limit)
        return await products_for(info, records)


@strawberry.type(description="A node of the category tree.", directives=PUBLIC)
class Category:
    id: strawberry.ID
    name: str
    slug: str
    record: strawberry.Private[CategoryRecord]

    @classmethod
    def of(cls, r: CategoryRecord) -> Self:
        return cls(id=strawberry.ID(r.id), name=r.name, slug=r.slug, record=r)

    @strawberry.field
    async def parent(self, info: Info) -> "Category | None":
        record = await catalog.category_optional(info.context, self.record.parent_id)
        return Category.of(record) if record else None

    @strawberry.field(description="From the root down to the parent: breadcrumbs.")
    async def ancestors(self, info: Info) -> "list[Category]":
        records = await info.context.loaders.category_by_id.load_many(list(self.record.path))
        return [Category.of(r) for r in records if r is not None]

    @strawberry.field
    async def children(
        self, info: Info, limit: int | None = None, next_token: str | None = None
    ) -> "Connection[Category]":
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
        items = await products_for(info, page.items, under_path="items")
        return Connection(items=items, next_token=page.next_token)
