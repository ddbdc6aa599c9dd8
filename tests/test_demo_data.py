"""The demo set is complete, consistent and deterministic; it loads into DynamoDB intact."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import phonenumbers
import pytest
from aiobotocore.session import get_session

from datasources.catalog import CategoryRecord
from datasources.demo.generate import IMAGE_HOST, DemoData, generate_demo
from datasources.demo.load import is_seeded, load_demo
from datasources.dynamodb.catalog import DynamoCatalogSource
from datasources.dynamodb.client import SOURCE, DynamoClient
from datasources.dynamodb.customer import DynamoCustomerSource
from datasources.dynamodb.inventory import DynamoInventorySource
from datasources.dynamodb.order import DynamoOrderSource
from datasources.dynamodb.pricing import DynamoPricingSource
from datasources.dynamodb.tables import create_tables
from datasources.inventory import LocationKind, StockLevel
from datasources.order import OrderStatus
from datasources.pagination import TokenCodec
from datasources.records import Channel

# AppSync's own patterns for the AWSEmail and AWSDateTime scalars.
AWS_EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
AWS_DATETIME_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
CENTS = Decimal("0.01")


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate_demo()


def _children(categories: tuple[CategoryRecord, ...]) -> Counter[str | None]:
    return Counter(c.parent_id for c in categories)


def test_counts(data: DemoData) -> None:
    # then
    assert len(data.products) >= 2000
    assert 35 <= len(data.brands) <= 45
    assert len(data.categories) == 60
    assert len(data.locations) == 6
    assert len(data.customers) == 200
    assert len(data.orders) == 300
    assert len(data.prices) == len(data.stock) == len(data.products)
    assert all(1 <= len(p.variants) <= 4 for p in data.products)


def test_ids_are_unique(data: DemoData) -> None:
    # given
    groups = {
        "brands": [b.id for b in data.brands],
        "categories": [c.id for c in data.categories],
        "products": [p.id for p in data.products],
        "variants": [v.id for p in data.products for v in p.variants],
        "locations": [loc.id for loc in data.locations],
        "customers": [c.id for c in data.customers],
        "orders": [o.id for o in data.orders],
        "slugs": [p.slug for p in data.products],
        "category slugs": [c.slug for c in data.categories],
    }
    # then
    for kind, ids in groups.items():
        assert len(ids) == len(set(ids)), kind


def test_categories_form_a_tree_and_products_sit_on_leaves(data: DemoData) -> None:
    # given
    by_id = {c.id: c for c in data.categories}
    children = _children(data.categories)
    # then
    roots = [c for c in data.categories if c.parent_id is None]
    assert 5 <= len(roots) <= 7
    for category in data.categories:
        if category.parent_id is None:
            assert category.path == ()
        else:
            parent = by_id[category.parent_id]
            assert tuple(category.path) == (*parent.path, parent.id)
        assert len(category.path) <= 2
    assert any(len(c.path) == 2 for c in data.categories), "grandchildren exist"
    assert all(children[p.category_id] == 0 for p in data.products)
    brand_ids = {b.id for b in data.brands}
    assert all(p.brand_id in brand_ids for p in data.products)


def test_products_have_images_variants_and_json_attributes(data: DemoData) -> None:
    for product in data.products:
        assert product.name
        assert product.description
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", product.slug)
        assert product.images
        assert all(i.url.startswith(f"{IMAGE_HOST}/") for i in product.images)
        assert all(i.url.startswith("https://") for i in product.images)
        for variant in product.variants:
            assert variant.product_id == product.id
            assert variant.attributes
            assert all(isinstance(v, str) for v in variant.attributes.values())
        assert AWS_DATETIME_UTC.match(product.created_at)
        assert product.created_at <= product.updated_at


def test_skus_are_unique_and_match_variants(data: DemoData) -> None:
    # given
    variants = {v.sku: v for p in data.products for v in p.variants}
    # then
    assert len(data.skus) == len(variants) == len({s.sku for s in data.skus})
    for sku in data.skus:
        assert re.fullmatch(r"SKU-\d{6}-\d", sku.sku)
        assert variants[sku.sku].id == sku.variant_id
        assert variants[sku.sku].product_id == sku.product_id


def test_every_variant_is_priced_on_every_channel(data: DemoData) -> None:
    # given
    pos_differs = 0
    for product, prices in zip(data.products, data.prices, strict=True):
        assert prices.product_id == product.id
        assert set(prices.by_variant) == {v.id for v in product.variants}
        for variant in product.variants:
            # then
            assert set(prices.by_variant[variant.id]) == set(Channel)
            for channel in Channel:
                entry = prices.price(variant.id, channel)
                assert entry is not None
                assert entry.price.currency_code == "USD"
                assert entry.price.amount > 0
                assert entry.price.amount == entry.price.amount.quantize(CENTS)
                assert entry.price.amount.as_tuple().exponent == -2
                if entry.compare_at is not None:
                    assert entry.compare_at.amount > entry.price.amount
            web, pos = prices.price(variant.id, Channel.WEB), prices.price(variant.id, Channel.POS)
            assert web is not None
            assert pos is not None
            pos_differs += web.price != pos.price
    assert pos_differs > 0
    assert any(
        e.compare_at is not None
        for p in data.prices
        for c in p.by_variant.values()
        for e in c.values()
    )


def test_locations_are_warehouses_and_stores(data: DemoData) -> None:
    # given
    warehouses = [loc for loc in data.locations if loc.kind is LocationKind.WAREHOUSE]
    stores = [loc for loc in data.locations if loc.kind is LocationKind.STORE]
    # then
    assert 2 <= len(warehouses) <= 3
    assert 3 <= len(stores) <= 4
    assert all({Channel.WEB, Channel.MOBILE} <= set(w.channels) for w in warehouses)
    assert all(Channel.POS in s.channels for s in stores)
    assert all(loc.country == "US" for loc in data.locations)


def test_stock_covers_every_variant_at_every_location(data: DemoData) -> None:
    # given
    location_ids = {loc.id for loc in data.locations}
    levels: list[StockLevel] = []
    for product, stock in zip(data.products, data.stock, strict=True):
        assert stock.product_id == product.id
        assert set(stock.by_variant) == {v.id for v in product.variants}
        for variant in product.variants:
            assert set(stock.levels(variant.id)) == location_ids
            levels.extend(stock.levels(variant.id).values())
    # then
    assert all(0 <= level.quantity <= 200 and level.reserved == 0 for level in levels)
    zeros = sum(level.quantity == 0 for level in levels) / len(levels)
    assert 0.03 < zeros < 0.08


def test_customers_have_valid_emails_phones_and_addresses(data: DemoData) -> None:
    for customer in data.customers:
        assert AWS_EMAIL.match(customer.email), customer.email
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.com", customer.email)
        assert customer.phone is not None
        phones = [customer.phone, *(a.phone for a in customer.addresses if a.phone)]
        for phone in phones:
            assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "US")), phone
        assert customer.addresses
        assert all(
            a.country == "US" and re.fullmatch(r"\d{5}", a.postal_code) for a in customer.addresses
        )
        assert AWS_DATETIME_UTC.match(customer.created_at)
    assert len({c.email for c in data.customers}) == len(data.customers)


def test_orders_are_consistent_with_the_catalog(data: DemoData) -> None:
    # given
    variants = {v.id: (p, v) for p in data.products for v in p.variants}
    prices = {p.product_id: p for p in data.prices}
    locations = {loc.id: loc for loc in data.locations}
    customers = {c.id: c for c in data.customers}
    # then
    for order in data.orders:
        assert AWS_DATETIME_UTC.match(order.placed_at), order.placed_at
        assert datetime.fromisoformat(order.placed_at).utcoffset() is not None
        assert order.customer_id is not None
        assert order.customer_id in customers
        assert customers[order.customer_id].created_at < order.placed_at
        assert order.lines
        subtotal = Decimal("0.00")
        for line in order.lines:
            product, variant = variants[line.variant_id]
            assert (line.product_id, line.sku, line.product_name) == (
                product.id,
                variant.sku,
                product.name,
            )
            assert line.variant_name == variant.name
            web = prices[product.id].price(variant.id, Channel.WEB)
            assert web is not None
            assert line.unit_price == web.price
            assert order.channel in locations[line.location_id].channels
            assert line.quantity >= 1
            subtotal += line.unit_price.amount * line.quantity
        assert order.subtotal.amount == subtotal
        assert order.tax.amount == 0
        assert order.total == order.subtotal
        assert order.total.currency_code == "USD"
    assert [o.placed_at for o in data.orders] == sorted(o.placed_at for o in data.orders)
    assert {OrderStatus.FULFILLED, OrderStatus.UNFULFILLED} <= {o.status for o in data.orders}
    assert {o.channel for o in data.orders} == set(Channel)


def test_same_seed_gives_equal_data_and_another_seed_differs(data: DemoData) -> None:
    # when
    again = generate_demo()
    other = generate_demo(seed=7)
    # then
    assert again == data
    assert other != data
    assert other.products != data.products


def test_sizes_are_parameters() -> None:
    # when
    small = generate_demo(products=10, customers=3, orders=4)
    # then
    assert (len(small.products), len(small.customers), len(small.orders)) == (10, 3, 4)
    assert len(small.categories) == 60
    assert small.products == generate_demo(products=10, customers=3, orders=4).products


@pytest.fixture(scope="module")
def moto_endpoint(engine_endpoints: dict[str, str]) -> str:
    return engine_endpoints["moto"]


@pytest.fixture
async def dynamo(moto_endpoint: str) -> AsyncIterator[DynamoClient]:
    async with get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as client:
        yield DynamoClient(client, table_prefix="demo-t-")


@pytest.mark.engine
async def test_load_demo_writes_records_the_sources_read_back(dynamo: DynamoClient) -> None:
    # given
    data = generate_demo(products=50, customers=10, orders=20)
    tokens = TokenCodec(b"test", source=SOURCE)
    await create_tables(dynamo)
    assert not await is_seeded(dynamo)

    # when
    counts = await load_demo(dynamo, data, progress=False)

    # then
    assert await is_seeded(dynamo)
    assert counts == {
        "brands": len(data.brands),
        "categories": 60,
        "products": 50,
        "skus": len(data.skus),
        "variants": len(data.skus),
        "prices": 50,
        "locations": 6,
        "stock": 50,
        "customers": 10,
        "orders": 20,
    }
    ids = [p.id for p in data.products]
    catalog = DynamoCatalogSource(dynamo, tokens)
    assert list(await catalog.products_by_id(ids)) == list(data.products)
    assert list(await catalog.categories_by_id([c.id for c in data.categories])) == list(
        data.categories
    )
    assert list(await catalog.skus([s.sku for s in data.skus])) == list(data.skus)
    assert list(await catalog.variant_refs([s.variant_id for s in data.skus])) == list(data.skus)
    assert list(await DynamoPricingSource(dynamo).prices_by_product(ids)) == list(data.prices)
    inventory = DynamoInventorySource(dynamo, tokens)
    assert list(await inventory.stock_by_product(ids)) == list(data.stock)
    assert list(await inventory.locations_by_id([loc.id for loc in data.locations])) == list(
        data.locations
    )
    customer_ids = [c.id for c in data.customers]
    customers = await DynamoCustomerSource(dynamo).customers_by_id(customer_ids)
    assert list(customers) == list(data.customers)
    orders = DynamoOrderSource(dynamo, tokens)
    assert list(await orders.orders_by_id([o.id for o in data.orders])) == list(data.orders)
