"""Stock and locations on DynamoDB.

Stock is one item per product (`PRODUCT#id / STOCK`) holding every variant-by-location level, so
a listing of N products reads N items in one BatchGetItem. Each level stores `available` beside
`quantity` and `reserved` because a ConditionExpression cannot do arithmetic: reservations are
`available >= :q` conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasources.dynamodb.client import DynamoClient, Item
from datasources.dynamodb.tables import INVENTORY
from datasources.inventory import LocationKind, LocationRecord, ProductStockRecord, StockLevel
from datasources.pagination import TokenCodec
from datasources.records import Channel, Page


def stock_item(s: ProductStockRecord) -> Item:
    return {
        "pk": f"PRODUCT#{s.product_id}",
        "sk": "STOCK",
        "stock": {
            variant_id: {
                location_id: {
                    "quantity": level.quantity,
                    "reserved": level.reserved,
                    "available": level.available,
                }
                for location_id, level in levels.items()
            }
            for variant_id, levels in s.by_variant.items()
        },
    }


def stock_from_item(product_id: str, item: Item) -> ProductStockRecord:
    return ProductStockRecord(
        product_id=product_id,
        by_variant={
            variant_id: {
                location_id: StockLevel(int(raw["quantity"]), int(raw["reserved"]))
                for location_id, raw in levels.items()
            }
            for variant_id, levels in item.get("stock", {}).items()
        },
    )


def location_item(loc: LocationRecord) -> Item:
    return {
        "pk": f"LOCATION#{loc.id}",
        "sk": "LOCATION",
        "id": loc.id,
        "name": loc.name,
        "kind": loc.kind.value,
        "country": loc.country,
        "channels": [c.value for c in loc.channels],
        "gsi1pk": "LOCATION",
        "gsi1sk": loc.id,
    }


def location_from_item(item: Item) -> LocationRecord:
    return LocationRecord(
        id=item["id"],
        name=item["name"],
        kind=LocationKind(item["kind"]),
        country=item["country"],
        channels=tuple(Channel(c) for c in item["channels"]),
    )


def reserve_update(
    table: str, product_id: str, lines: Sequence[tuple[str, str, int]]
) -> dict[str, Any]:
    """One TransactWriteItems `Update` reserving (variant, location, qty) lines of one product.

    DynamoDB forbids two operations on the same item in a transaction, so all lines of a
    product are folded into this single update.
    """
    names: dict[str, str] = {"#s": "stock", "#a": "available", "#r": "reserved"}
    values: dict[str, Any] = {}
    sets, conditions = [], []
    for n, (variant_id, location_id, quantity) in enumerate(lines):
        names[f"#v{n}"], names[f"#l{n}"] = variant_id, location_id
        level = f"#s.#v{n}.#l{n}"
        values[f":q{n}"] = {"N": str(quantity)}
        sets += [f"{level}.#r = {level}.#r + :q{n}", f"{level}.#a = {level}.#a - :q{n}"]
        conditions.append(f"{level}.#a >= :q{n}")
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": "STOCK"}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


class DynamoInventorySource:
    def __init__(self, dynamo: DynamoClient, tokens: TokenCodec) -> None:
        self._dynamo = dynamo
        self._tokens = tokens
        self._table = dynamo.table(INVENTORY.name)

    async def stock_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[ProductStockRecord | None]:
        items = await self._dynamo.get_many(
            self._table, [{"pk": f"PRODUCT#{i}", "sk": "STOCK"} for i in product_ids]
        )
        return [
            stock_from_item(pid, item) if item else None
            for pid, item in zip(product_ids, items, strict=True)
        ]

    async def locations_by_id(self, ids: Sequence[str]) -> Sequence[LocationRecord | None]:
        items = await self._dynamo.get_many(
            self._table, [{"pk": f"LOCATION#{i}", "sk": "LOCATION"} for i in ids]
        )
        return [location_from_item(i) if i else None for i in items]

    async def list_locations(self, *, limit: int, next_token: str | None) -> Page[LocationRecord]:
        scope = f"{self._table}/gsi1/LOCATION"
        items, last_key = await self._dynamo.query(
            self._table,
            index="gsi1",
            key_condition="gsi1pk = :p",
            values={":p": "LOCATION"},
            limit=limit,
            start_key=self._tokens.decode(scope, next_token),
        )
        return Page([location_from_item(i) for i in items], self._tokens.encode(scope, last_key))
