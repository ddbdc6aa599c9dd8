"""Deterministic demo data: a catalog, prices, stock, customers and past orders from one seed.

Everything is drawn from one `random.Random(seed)` in a fixed order and timestamps are offsets
from fixed instants, so the same arguments always give equal data (tests compare whole sets).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from datasources import frozen
from datasources.catalog import (
    BrandRecord,
    CategoryRecord,
    ImageRecord,
    ProductRecord,
    SkuRecord,
    VariantRecord,
)
from datasources.customer import AddressRecord, CustomerRecord
from datasources.inventory import (
    LocationKind,
    LocationRecord,
    ProductStockRecord,
    StockLevel,
)
from datasources.order import OrderLineRecord, OrderRecord, OrderStatus
from datasources.pricing import PriceRecord, ProductPricesRecord
from datasources.records import Channel, MoneyRecord

CURRENCY = "USD"
IMAGE_HOST = "https://images.example.com"
CENTS = Decimal("0.01")
_CATALOG_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_ORDERS_EPOCH = datetime(2025, 11, 23, tzinfo=UTC)
_YEAR_SECONDS = 365 * 24 * 3600


@frozen.record
class DemoData:
    """One consistent set: every id referenced anywhere is defined in the same set."""

    brands: tuple[BrandRecord, ...]
    categories: tuple[CategoryRecord, ...]
    products: tuple[ProductRecord, ...]
    skus: tuple[SkuRecord, ...]
    prices: tuple[ProductPricesRecord, ...]
    locations: tuple[LocationRecord, ...]
    stock: tuple[ProductStockRecord, ...]
    customers: tuple[CustomerRecord, ...]
    orders: tuple[OrderRecord, ...]


def product_id(n: int) -> str:
    """The id of the n-th product (1-based); `product_id(1)` exists in every demo set."""
    return f"prd_{n:05d}"


# --- word lists ---------------------------------------------------------------------------
# root -> child -> grandchildren; a child without grandchildren is itself a leaf. 60 nodes.
_TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "Apparel": {
        "Tops": ("T-Shirts", "Shirts", "Sweaters"),
        "Bottoms": ("Jeans", "Trousers", "Shorts"),
        "Outerwear": ("Jackets", "Coats"),
    },
    "Footwear": {
        "Sneakers": ("Running Shoes", "Court Sneakers"),
        "Boots": ("Hiking Boots", "Chelsea Boots"),
        "Sandals": (),
    },
    "Home": {
        "Kitchen": ("Cookware", "Knives", "Mugs"),
        "Bedding": ("Sheets", "Pillows", "Duvets"),
        "Decor": ("Lamps", "Candles"),
    },
    "Outdoor": {
        "Camping": ("Tents", "Sleeping Bags", "Camp Stoves"),
        "Hiking": ("Backpacks", "Trekking Poles"),
        "Cycling": ("Helmets", "Bike Lights"),
    },
    "Electronics": {
        "Audio": ("Headphones", "Speakers"),
        "Accessories": ("Chargers", "Cables", "Phone Cases"),
        "Wearables": (),
    },
    "Beauty": {
        "Skincare": ("Moisturisers", "Cleansers"),
        "Hair": ("Shampoos", "Conditioners"),
        "Fragrance": (),
    },
}
# The singular noun a product of each leaf is named with.
_NOUNS = {
    "T-Shirts": "T-Shirt", "Shirts": "Shirt", "Sweaters": "Sweater", "Jeans": "Jeans",
    "Trousers": "Trousers", "Shorts": "Shorts", "Jackets": "Jacket", "Coats": "Coat",
    "Running Shoes": "Running Shoe", "Court Sneakers": "Court Sneaker",
    "Hiking Boots": "Hiking Boot", "Chelsea Boots": "Chelsea Boot", "Sandals": "Sandal",
    "Cookware": "Skillet", "Knives": "Chef's Knife", "Mugs": "Mug", "Sheets": "Sheet Set",
    "Pillows": "Pillow", "Duvets": "Duvet", "Lamps": "Table Lamp", "Candles": "Candle",
    "Tents": "Tent", "Sleeping Bags": "Sleeping Bag", "Camp Stoves": "Camp Stove",
    "Backpacks": "Backpack", "Trekking Poles": "Trekking Poles", "Helmets": "Helmet",
    "Bike Lights": "Bike Light", "Headphones": "Headphones", "Speakers": "Speaker",
    "Chargers": "Charger", "Cables": "Cable", "Phone Cases": "Phone Case",
    "Wearables": "Smartwatch", "Moisturisers": "Moisturiser", "Cleansers": "Cleanser",
    "Shampoos": "Shampoo", "Conditioners": "Conditioner", "Fragrance": "Eau de Parfum",
}  # fmt: skip


@frozen.record
class _Profile:
    """How products of one root category vary, cost and are described."""

    axis: str
    values: tuple[str, ...]
    price_range: tuple[int, int]
    trait: str
    traits: tuple[str, ...]
    with_colour: bool = False


_COLOURS = ("Black", "White", "Navy", "Olive", "Sand", "Charcoal", "Rust", "Sky Blue", "Sage")
_PROFILES = {
    "Apparel": _Profile(
        "size", ("XS", "S", "M", "L", "XL", "XXL"), (15, 160), "material",
        ("Organic cotton", "Merino wool", "Linen", "Recycled polyester", "Denim"), True,
    ),
    "Footwear": _Profile(
        "size", tuple(f"US {n}" for n in range(6, 14)), (40, 220), "material",
        ("Leather", "Suede", "Knit mesh", "Canvas"), True,
    ),
    "Home": _Profile(
        "colour", _COLOURS, (8, 250), "material",
        ("Stoneware", "Stainless steel", "Cotton percale", "Oak", "Soy wax"),
    ),
    "Outdoor": _Profile(
        "colour", _COLOURS, (15, 450), "material",
        ("Ripstop nylon", "Aluminium", "Recycled polyester", "Carbon fibre"),
    ),
    "Electronics": _Profile(
        "colour", ("Black", "White", "Graphite", "Sand", "Midnight Blue"), (10, 350), "finish",
        ("Matte", "Anodised aluminium", "Recycled plastic", "Soft-touch"),
    ),
    "Beauty": _Profile(
        "volume", ("30 ml", "50 ml", "100 ml", "200 ml"), (8, 120), "keyIngredient",
        ("Aloe vera", "Shea butter", "Vitamin C", "Hyaluronic acid", "Green tea"),
    ),
}  # fmt: skip

_ADJECTIVES = (
    "Classic", "Everyday", "Essential", "Heritage", "Urban", "Alpine", "Coastal", "Summit",
    "Trail", "Studio", "Weekend", "Signature", "Modern", "Vintage", "Featherweight", "Cloud",
    "Terra", "Nova", "Harbor", "Meridian", "Solstice", "Canyon", "Aurora", "Field",
)  # fmt: skip
_EDITIONS = ("Pro", "Lite", "Plus", "Max", "Original", "2.0", "Reserve", "Sport")
_PITCHES = (
    "made to last and easy to care for",
    "designed in our studio and tested in the field",
    "a customer favourite since its first season",
    "built for everyday use",
    "with a considered, minimal design",
    "responsibly sourced and carefully finished",
)
_ORIGINS = ("USA", "Portugal", "Italy", "Japan", "Vietnam", "Mexico", "Canada")
_BRAND_WORDS = (
    "North", "Alder", "Harbor", "Copper", "Juniper", "Ridge", "Willow", "Atlas", "Ember",
    "Granite", "Maple", "Pine", "Cedar", "Fjord", "Lumen", "Orbit", "Sable", "Tidal", "Velvet",
    "Wren", "Birch", "Cobalt", "Drift", "Fable", "Gale", "Haven", "Ironwood", "Kestrel",
    "Linden", "Meadow", "Oakley", "Quill", "Rowan", "Slate", "Thistle", "Umber", "Vale",
    "Wildwood", "Yarrow", "Zephyr", "Bramble", "Larkspur",
)  # fmt: skip
_BRAND_SUFFIXES = ("& Co.", "Works", "Supply", "Goods", "Studio", "Outfitters", "Lab", "House")
_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Benjamin", "Harper", "Ethan", "Evelyn", "Daniel", "Aria",
    "Henry", "Chloe", "Samuel", "Grace", "Leo", "Nora", "Wei", "Priya", "Diego", "Fatima",
    "Kenji", "Zara", "Omar", "Ana", "Malik", "Ingrid", "Luis", "Mei", "Tariq", "Sofia", "Arjun",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark",
    "Nguyen", "Patel", "Kim", "Chen", "Okafor", "Silva", "Novak", "Cohen", "Ramirez", "Walker",
    "O'Brien", "Yamamoto", "Schmidt", "Haddad",
)  # fmt: skip
_STREETS = (
    "Pine", "Maple", "Cedar", "Lake", "Hill", "Park", "Washington", "Lincoln", "Sunset",
    "Highland", "Ridge", "Madison", "Jefferson", "Elm", "Church", "River", "Spring", "Market",
)  # fmt: skip
_STREET_TYPES = ("St", "Ave", "Blvd", "Way", "Rd", "Ln", "Dr", "Ct")
# (city, area code, ZIP prefix): addresses and phones agree with each other.
_CITIES = (
    ("Seattle", 206, "981"), ("Portland", 503, "972"), ("San Francisco", 415, "941"),
    ("Los Angeles", 213, "900"), ("Austin", 512, "787"), ("Chicago", 312, "606"),
    ("New York", 212, "100"), ("Boston", 617, "021"), ("Denver", 720, "802"),
    ("Atlanta", 404, "303"), ("Miami", 305, "331"), ("Phoenix", 602, "850"),
    ("Honolulu", 808, "968"), ("Raleigh", 919, "276"), ("Salt Lake City", 801, "841"),
)  # fmt: skip
_LOCATIONS = (
    ("Reno Fulfilment Center", LocationKind.WAREHOUSE, (Channel.WEB, Channel.MOBILE)),
    ("Columbus Fulfilment Center", LocationKind.WAREHOUSE, (Channel.WEB, Channel.MOBILE)),
    # The flagship also ships online orders (ship-from-store).
    ("Seattle Flagship", LocationKind.STORE, (Channel.POS, Channel.WEB, Channel.MOBILE)),
    ("Brooklyn Store", LocationKind.STORE, (Channel.POS,)),
    ("Austin Store", LocationKind.STORE, (Channel.POS,)),
    ("Chicago Store", LocationKind.STORE, (Channel.POS,)),
)


def _iso(instant: datetime) -> str:
    """AWSDateTime in UTC with milliseconds and `Z`."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _usd(amount: Decimal) -> MoneyRecord:
    return MoneyRecord(amount.quantize(CENTS), CURRENCY)


def _brands(rng: random.Random, count: int = 40) -> tuple[BrandRecord, ...]:
    words = rng.sample(_BRAND_WORDS, count)
    return tuple(
        BrandRecord(id=f"brd_{n:02d}", name=f"{word} {rng.choice(_BRAND_SUFFIXES)}")
        for n, word in enumerate(words, 1)
    )


def _categories() -> tuple[tuple[CategoryRecord, ...], dict[str, str]]:
    """The tree (fixed, so category ids are stable across seeds) and each leaf's root name."""
    out: list[CategoryRecord] = []
    root_of_leaf: dict[str, str] = {}
    taken: set[str] = set()

    def add(name: str, parent: CategoryRecord | None) -> CategoryRecord:
        path = (*parent.path, parent.id) if parent else ()
        record = CategoryRecord(
            id=f"cat_{len(out) + 1:02d}",
            name=name,
            slug=_slug(name, taken),
            parent_id=parent.id if parent else None,
            path=path,
        )
        out.append(record)
        return record

    for root_name, children in _TAXONOMY.items():
        root = add(root_name, None)
        for child_name, grandchildren in children.items():
            child = add(child_name, root)
            leaves = [add(g, child) for g in grandchildren] or [child]
            root_of_leaf.update((leaf.id, root_name) for leaf in leaves)
    return tuple(out), root_of_leaf


def _product(
    rng: random.Random,
    n: int,
    category: CategoryRecord,
    profile: _Profile,
    brand: BrandRecord,
    slugs: set[str],
) -> ProductRecord:
    pid = product_id(n)
    name = f"{rng.choice(_ADJECTIVES)} {_NOUNS[category.name]}"
    if rng.random() < 0.4:
        name = f"{name} {rng.choice(_EDITIONS)}"
    trait = rng.choice(profile.traits)
    colour = rng.choice(_COLOURS)
    picked = sorted(rng.sample(range(len(profile.values)), rng.randint(1, 4)))
    variants = []
    for v, index in enumerate(picked, 1):
        value = profile.values[index]
        attributes: dict[str, Any] = {profile.axis: value}
        label = value
        if profile.with_colour:
            attributes["colour"] = colour
            label = f"{colour} / {value}"
        variants.append(
            VariantRecord(
                id=f"var_{n:05d}_{v}",
                product_id=pid,
                sku=f"SKU-{n:06d}-{v}",
                name=label,
                attributes=attributes,
            )
        )
    created = _CATALOG_EPOCH + timedelta(seconds=rng.randrange(_YEAR_SECONDS))
    updated = created + timedelta(seconds=rng.randrange(_YEAR_SECONDS // 2))
    tags = sorted(rng.sample(("new", "bestseller", "eco", "limited", "gift"), rng.randint(0, 2)))
    return ProductRecord(
        id=pid,
        name=name,
        slug=_slug(name, slugs),
        description=f"The {name} by {brand.name}: {trait.lower()}, {rng.choice(_PITCHES)}.",
        brand_id=brand.id,
        category_id=category.id,
        variants=tuple(variants),
        images=tuple(
            ImageRecord(url=f"{IMAGE_HOST}/products/{pid}/{i}.jpg", alt=f"{name}, view {i}")
            for i in range(1, rng.randint(1, 3) + 1)
        ),
        attributes={profile.trait: trait, "origin": rng.choice(_ORIGINS), "tags": tags},
        created_at=_iso(created),
        updated_at=_iso(updated),
    )


def _prices(rng: random.Random, product: ProductRecord, profile: _Profile) -> ProductPricesRecord:
    low, high = profile.price_range
    base = Decimal(rng.randint(low, high)) + Decimal(rng.choice((0, 50, 95, 99))) / 100
    markdown = rng.choice(("1.25", "1.4", "1.5")) if rng.random() < 0.2 else None
    pos_factor = Decimal(rng.choice(("0.95", "0.97", "1.03", "1.05")))
    pos_differs = rng.random() < 0.15
    by_variant: dict[str, Mapping[Channel, PriceRecord]] = {}
    for step, variant in enumerate(product.variants):
        # Bigger bottles cost more; other axes keep one price per product.
        uplift = base * Decimal("0.6") * step if profile.axis == "volume" else Decimal(0)
        web = _usd(base + uplift)
        compare_at = _usd(web.amount * Decimal(markdown)) if markdown else None
        pos = _usd(web.amount * pos_factor) if pos_differs else web
        by_variant[variant.id] = {
            Channel.WEB: PriceRecord(web, compare_at),
            Channel.MOBILE: PriceRecord(web, compare_at),
            Channel.POS: PriceRecord(
                pos, compare_at if compare_at and compare_at.amount > pos.amount else None
            ),
        }
    return ProductPricesRecord(product_id=product.id, by_variant=by_variant)


def _stock(
    rng: random.Random, product: ProductRecord, locations: Sequence[LocationRecord]
) -> ProductStockRecord:
    # The hot loop (every variant at every location): one draw per level, ~5% of them zero.
    ceilings = [(loc.id, 200 if loc.kind is LocationKind.WAREHOUSE else 40) for loc in locations]
    draw = rng.random
    by_variant: dict[str, Mapping[str, StockLevel]] = {}
    for variant in product.variants:
        levels = {}
        for location_id, ceiling in ceilings:
            r = draw()
            quantity = 0 if r < 0.05 else min(ceiling, 1 + int((r - 0.05) / 0.95 * ceiling))
            levels[location_id] = StockLevel(quantity, 0)
        by_variant[variant.id] = levels
    return ProductStockRecord(product_id=product.id, by_variant=by_variant)


def _customer(rng: random.Random, n: int) -> CustomerRecord:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    local = re.sub(r"[^a-z]", "", first.lower()) + "." + re.sub(r"[^a-z]", "", last.lower())
    city, area_code, zip_prefix = rng.choice(_CITIES)
    # 555-0100..0199 is reserved for fiction in every NANP area code, and libphonenumber
    # accepts it as valid; no real subscriber can be reached through demo data.
    phone = f"+1{area_code}5550{rng.randrange(100, 200)}"
    addresses = []
    for i in range(rng.choice((1, 1, 1, 2))):
        if i:
            city, _, zip_prefix = rng.choice(_CITIES)
        addresses.append(
            AddressRecord(
                first_name=first,
                last_name=last,
                street=f"{rng.randint(1, 9899)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}",
                city=city,
                postal_code=f"{zip_prefix}{rng.randint(1, 99):02d}",
                country="US",
                phone=phone if i == 0 else None,
            )
        )
    created = _CATALOG_EPOCH + timedelta(seconds=rng.randrange(_YEAR_SECONDS * 3 // 2))
    return CustomerRecord(
        id=f"cus_{n:04d}",
        email=f"{local}.{n}@example.com",
        first_name=first,
        last_name=last,
        phone=phone,
        addresses=tuple(addresses),
        created_at=_iso(created),
    )


_CHANNEL_WEIGHTS = {Channel.WEB: 55, Channel.MOBILE: 30, Channel.POS: 15}
_SETTLED = {OrderStatus.FULFILLED: 85, OrderStatus.CANCELED: 8, OrderStatus.RETURNED: 7}
_RECENT = {
    OrderStatus.UNCONFIRMED: 10,
    OrderStatus.UNFULFILLED: 50,
    OrderStatus.PARTIALLY_FULFILLED: 15,
    OrderStatus.FULFILLED: 25,
}


def _orders(
    rng: random.Random,
    count: int,
    products: Sequence[ProductRecord],
    prices: Sequence[ProductPricesRecord],
    locations: Sequence[LocationRecord],
    customers: Sequence[CustomerRecord],
) -> tuple[OrderRecord, ...]:
    sellable = [
        (product, variant, web)
        for product, product_prices in zip(products, prices, strict=True)
        for variant in product.variants
        if (web := product_prices.price(variant.id, Channel.WEB)) is not None
    ]
    # Placed over the year before the seed date, numbered in time order.
    offsets = sorted(rng.randrange(_YEAR_SECONDS) for _ in range(count))
    orders = []
    for n, offset in enumerate(offsets, 1):
        channel = rng.choices(tuple(_CHANNEL_WEIGHTS), tuple(_CHANNEL_WEIGHTS.values()))[0]
        location = rng.choice([loc for loc in locations if channel in loc.channels])
        statuses = _RECENT if offset > _YEAR_SECONDS - 14 * 24 * 3600 else _SETTLED
        status = rng.choices(tuple(statuses), tuple(statuses.values()))[0]
        picked = rng.sample(sellable, rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0])
        lines = tuple(
            OrderLineRecord(
                id=f"oln_{n:05d}_{i}",
                product_id=product.id,
                variant_id=variant.id,
                sku=variant.sku,
                product_name=product.name,
                variant_name=variant.name,
                quantity=rng.choices((1, 2, 3), (70, 20, 10))[0],
                unit_price=web.price,
                location_id=location.id,
            )
            for i, (product, variant, web) in enumerate(picked, 1)
        )
        subtotal = MoneyRecord.zero(CURRENCY)
        for line in lines:
            subtotal += line.unit_price.times(line.quantity)
        orders.append(
            OrderRecord(
                id=f"ord_{n:05d}",
                number=str(1000 + n),
                cart_id=f"crt_{n:05d}",
                channel=channel,
                status=status,
                lines=lines,
                subtotal=subtotal,
                tax=MoneyRecord.zero(CURRENCY),
                total=subtotal,
                placed_at=_iso(_ORDERS_EPOCH + timedelta(seconds=offset)),
                customer_id=rng.choice(customers).id if customers else None,
            )
        )
    return tuple(orders)


def generate_demo(
    *, products: int = 2000, customers: int = 200, orders: int = 300, seed: int = 20261123
) -> DemoData:
    """A complete, consistent demo set; the same arguments always give equal data."""
    rng = random.Random(seed)
    brands = _brands(rng)
    categories, root_of_leaf = _categories()
    leaves = [c for c in categories if c.id in root_of_leaf]
    locations = tuple(
        LocationRecord(id=f"loc_{n:02d}", name=name, kind=kind, country="US", channels=channels)
        for n, (name, kind, channels) in enumerate(_LOCATIONS, 1)
    )
    slugs: set[str] = set()
    product_records, price_records, stock_records = [], [], []
    for n in range(1, products + 1):
        category = rng.choice(leaves)
        profile = _PROFILES[root_of_leaf[category.id]]
        product = _product(rng, n, category, profile, rng.choice(brands), slugs)
        product_records.append(product)
        price_records.append(_prices(rng, product, profile))
        stock_records.append(_stock(rng, product, locations))
    customer_records = tuple(_customer(rng, n) for n in range(1, customers + 1))
    return DemoData(
        brands=brands,
        categories=categories,
        products=tuple(product_records),
        skus=tuple(
            SkuRecord(sku=v.sku, product_id=p.id, variant_id=v.id)
            for p in product_records
            for v in p.variants
        ),
        prices=tuple(price_records),
        locations=locations,
        stock=tuple(stock_records),
        customers=customer_records,
        orders=_orders(rng, orders, product_records, price_records, locations, customer_records),
    )
