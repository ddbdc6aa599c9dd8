"""The ERP's side of the demo set: material stock, customers and price conditions.

Derived from `DemoData` so the ERP agrees with the catalog: every SKU is a material, every
location a plant, every product a generic article. The same rows feed the embedded demo ERP
(`make run`) and the CAP service the tests start (written out as CSV), so a test can compare
either ERP's answers with the demo set.

    stock        per SKU and plant, the demo quantity as unrestricted-use stock, split over
                 two storage locations at warehouses (0001 picking, 0002 reserve); every
                 fifth SKU also has 3 pieces in quality inspection at each warehouse, which
                 is not sellable and must not be counted
    customers    every demo customer, ExternalReference = our customer id
    conditions   cus_0001..cus_0010 pay 10 % below the WEB list price for every SKU; for
                 every seventh product an expired condition (2023, 15 % off) and a future
                 one (from `today` + 30 days, 20 % off) exist beside it, and the current one
                 ends the day before the future one starts
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from datasources import frozen
from datasources.demo.generate import DemoData
from datasources.inventory import LocationKind
from datasources.records import Channel

Value = str | Decimal | date
Row = Mapping[str, Value]

STOCK_SERVICE = "stock"
PRICING_SERVICE = "pricing"
# The columns of each entity, in the order of tests/engines/erp_service/db/schema.cds.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "MaterialStock": (
        "Material", "Plant", "StorageLocation", "InventoryStockType", "Product",
        "MatlWrhsStkQtyInMatlBaseUnit", "MaterialBaseUnit",
    ),
    "Customer": ("Customer", "CustomerName", "ExternalReference"),
    "ConditionRecord": (
        "ConditionRecord", "ConditionType", "Customer", "Material", "Product", "Amount",
        "Currency", "ValidFrom", "ValidTo",
    ),
}  # fmt: skip
KEYS: Mapping[str, tuple[str, ...]] = {
    "MaterialStock": ("Material", "Plant", "StorageLocation", "InventoryStockType"),
    "Customer": ("Customer",),
    "ConditionRecord": ("ConditionRecord",),
}

CONTRACT_CUSTOMERS = 10
CONTRACT_DISCOUNT = Decimal("0.90")
_EXPIRED_FACTOR, _FUTURE_FACTOR = Decimal("0.85"), Decimal("0.80")
_EXPIRED = (date(2023, 1, 1), date(2023, 12, 31))
_CURRENT_FROM = date(2024, 1, 1)
OPEN_END = date(9999, 12, 31)  # SAP's "valid until further notice"
_QUALITY_INSPECTION = Decimal(3)
_CENTS = Decimal("0.01")


@frozen.record
class ErpData:
    """Rows per entity set; each row maps the entity's columns to str, Decimal or date."""

    material_stock: tuple[Row, ...]
    customers: tuple[Row, ...]
    condition_records: tuple[Row, ...]

    def entity_sets(self) -> dict[str, dict[str, tuple[Row, ...]]]:
        """Entity sets by service, as the embedded ERP and the CAP service expose them."""
        return {
            STOCK_SERVICE: {"MaterialStock": self.material_stock},
            PRICING_SERVICE: {
                "ConditionRecord": self.condition_records,
                "Customer": self.customers,
            },
        }


def erp_customer_number(customer_id: str) -> str:
    """The ERP's 10-digit customer number for a demo customer (cus_0007 → 0010000007)."""
    return f"{10_000_000 + int(customer_id.removeprefix('cus_')):010d}"


def contract_customers(demo: DemoData) -> tuple[str, ...]:
    """The demo customers with contract prices (cus_0001..cus_0010, those that exist)."""
    return tuple(c.id for c in demo.customers[:CONTRACT_CUSTOMERS])


def erp_demo_data(demo: DemoData, *, today: date) -> ErpData:
    return ErpData(
        material_stock=tuple(_stock(demo)),
        customers=tuple(
            {
                "Customer": erp_customer_number(c.id),
                "CustomerName": f"{c.first_name} {c.last_name}",
                "ExternalReference": c.id,
            }
            for c in demo.customers
        ),
        condition_records=tuple(_conditions(demo, today)),
    )


def _stock(demo: DemoData) -> list[Row]:
    warehouses = {loc.id for loc in demo.locations if loc.kind is LocationKind.WAREHOUSE}
    rows: list[Row] = []
    ordinal = 0
    for product, stock in zip(demo.products, demo.stock, strict=True):
        for variant in product.variants:
            ordinal += 1
            for plant, level in stock.levels(variant.id).items():
                base = {"Material": variant.sku, "Plant": plant, "Product": product.id}
                split: tuple[tuple[str, int], ...]
                if plant in warehouses:
                    reserve = level.quantity // 3
                    split = (("0001", level.quantity - reserve), ("0002", reserve))
                else:
                    split = (("0001", level.quantity),)
                for storage_location, quantity in split:
                    rows.append(_stock_row(base, storage_location, "01", Decimal(quantity)))
                if plant in warehouses and ordinal % 5 == 0:
                    rows.append(_stock_row(base, "0001", "02", _QUALITY_INSPECTION))
    return rows


def _stock_row(base: Row, storage_location: str, stock_type: str, quantity: Decimal) -> Row:
    return {
        **base,
        "StorageLocation": storage_location,
        "InventoryStockType": stock_type,
        "MatlWrhsStkQtyInMatlBaseUnit": quantity,
        "MaterialBaseUnit": "PC",
    }


def contract_amount(list_price: Decimal) -> Decimal:
    """The demo contract price of a SKU with this WEB list price."""
    return _times(list_price, CONTRACT_DISCOUNT)


def _times(amount: Decimal, factor: Decimal) -> Decimal:
    return (amount * factor).quantize(_CENTS, rounding=ROUND_HALF_UP)


def _conditions(demo: DemoData, today: date) -> list[Row]:
    future_from = today + timedelta(days=30)
    rows: list[Row] = []

    def add(customer: str, sku: str, product: str, amount: Decimal, span: Sequence[date]) -> None:
        rows.append(
            {
                "ConditionRecord": f"{len(rows) + 1:010d}",
                "ConditionType": "PPR0",
                "Customer": customer,
                "Material": sku,
                "Product": product,
                "Amount": amount,
                "Currency": "USD",
                "ValidFrom": span[0],
                "ValidTo": span[1],
            }
        )

    for customer_id in contract_customers(demo):
        customer = erp_customer_number(customer_id)
        for n, (product, prices) in enumerate(zip(demo.products, demo.prices, strict=True), 1):
            changing = n % 7 == 0
            for variant in product.variants:
                web = prices.price(variant.id, Channel.WEB)
                if web is None:
                    continue
                amount = web.price.amount
                current_to = future_from - timedelta(days=1) if changing else OPEN_END
                add(customer, variant.sku, product.id, contract_amount(amount),
                    (_CURRENT_FROM, current_to))  # fmt: skip
                if changing:
                    add(customer, variant.sku, product.id, _times(amount, _EXPIRED_FACTOR),
                        _EXPIRED)  # fmt: skip
                    add(customer, variant.sku, product.id, _times(amount, _FUTURE_FACTOR),
                        (future_from, OPEN_END))  # fmt: skip
    return rows
