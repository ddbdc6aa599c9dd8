"""List prices on DynamoDB: one item per product (`PRODUCT#id / PRICES`) in the catalog table."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from datasources.dynamodb.client import DynamoClient, Item
from datasources.dynamodb.tables import CATALOG
from datasources.pricing import PriceRecord, ProductPricesRecord
from datasources.records import Channel, MoneyRecord


def prices_item(p: ProductPricesRecord) -> Item:
    return {
        "pk": f"PRODUCT#{p.product_id}",
        "sk": "PRICES",
        "prices": {
            variant_id: {
                channel.value: {
                    "amount": str(price.price.amount),
                    "currencyCode": price.price.currency_code,
                    "compareAt": str(price.compare_at.amount) if price.compare_at else None,
                }
                for channel, price in by_channel.items()
            }
            for variant_id, by_channel in p.by_variant.items()
        },
    }


def prices_from_item(product_id: str, item: Item) -> ProductPricesRecord:
    by_variant = {}
    for variant_id, by_channel in item.get("prices", {}).items():
        entries = {}
        for channel, raw in by_channel.items():
            currency = raw["currencyCode"]
            compare_at = raw.get("compareAt")
            entries[Channel(channel)] = PriceRecord(
                price=MoneyRecord(Decimal(raw["amount"]), currency),
                compare_at=MoneyRecord(Decimal(compare_at), currency) if compare_at else None,
            )
        by_variant[variant_id] = entries
    return ProductPricesRecord(product_id=product_id, by_variant=by_variant)


class DynamoPricingSource:
    def __init__(self, dynamo: DynamoClient) -> None:
        self._dynamo = dynamo
        self._table = dynamo.table(CATALOG.name)

    async def prices_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[ProductPricesRecord | None]:
        items = await self._dynamo.get_many(
            self._table, [{"pk": f"PRODUCT#{i}", "sk": "PRICES"} for i in product_ids]
        )
        return [
            prices_from_item(pid, item) if item else None
            for pid, item in zip(product_ids, items, strict=True)
        ]
