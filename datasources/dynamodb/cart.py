"""Carts on DynamoDB: one item per cart, lines embedded, guarded by a `version` attribute."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from datasources.cart import CartLineRecord, CartRecord, CartStatus
from datasources.dynamodb.client import DynamoClient, Item
from datasources.dynamodb.tables import CARTS
from datasources.locks import KeyedLocks
from datasources.records import Channel


def cart_key(cart_id: str) -> dict[str, str]:
    return {"pk": f"CART#{cart_id}", "sk": "CART"}


def cart_item(c: CartRecord) -> Item:
    return {
        **cart_key(c.id),
        "id": c.id,
        "channel": c.channel.value,
        "currencyCode": c.currency_code,
        "status": c.status.value,
        "lines": [
            {
                "id": ln.id,
                "productId": ln.product_id,
                "variantId": ln.variant_id,
                "quantity": ln.quantity,
            }
            for ln in c.lines
        ],
        "version": c.version,
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "expiresAt": c.expires_at,
        "locationId": c.location_id,
        "customerId": c.customer_id,
        "country": c.country,
    }


def cart_from_item(item: Item) -> CartRecord:
    return CartRecord(
        id=item["id"],
        channel=Channel(item["channel"]),
        currency_code=item["currencyCode"],
        status=CartStatus(item["status"]),
        lines=tuple(
            CartLineRecord(
                id=ln["id"],
                product_id=ln["productId"],
                variant_id=ln["variantId"],
                quantity=int(ln["quantity"]),
            )
            for ln in item.get("lines", [])
        ),
        version=int(item["version"]),
        created_at=item["createdAt"],
        updated_at=item["updatedAt"],
        expires_at=int(item["expiresAt"]),
        location_id=item.get("locationId"),
        customer_id=item.get("customerId"),
        country=item.get("country"),
    )


class DynamoCartSource:
    def __init__(self, dynamo: DynamoClient) -> None:
        self._dynamo = dynamo
        self.table = dynamo.table(CARTS.name)
        self._locks = KeyedLocks()

    def exclusive(self, cart_id: str) -> AbstractAsyncContextManager[None]:
        # Without it, N concurrent writers to one cart make O(N^2) attempts, most of them lost.
        return self._locks.hold(cart_id)

    async def carts_by_id(self, ids: Sequence[str]) -> Sequence[CartRecord | None]:
        items = await self._dynamo.get_many(self.table, [cart_key(i) for i in ids])
        return [cart_from_item(i) if i else None for i in items]

    async def get_cart(self, cart_id: str) -> CartRecord | None:
        item = await self._dynamo.get(self.table, cart_key(cart_id), consistent=True)
        return cart_from_item(item) if item else None

    async def create_cart(self, cart: CartRecord) -> None:
        await self._dynamo.put(self.table, cart_item(cart), condition="attribute_not_exists(pk)")

    async def replace_cart(self, cart: CartRecord, *, expected_version: int) -> CartRecord:
        written = replace(cart, version=expected_version + 1)
        await self._dynamo.put(
            self.table,
            cart_item(written),
            condition="version = :v AND #st = :active",
            names={"#st": "status"},
            values={":v": expected_version, ":active": CartStatus.ACTIVE.value},
        )
        return written
