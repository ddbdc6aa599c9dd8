"""Carts on DynamoDB: one item per cart, lines embedded, guarded by a `version` attribute.

A write with domain events is one TransactWriteItems: the cart's conditional Put first, then
one outbox Put per event. Its cancellation reasons come back in that order, so a lost version
race (the cart's reason) is still a `ConditionFailedError`, the same as a plain PutItem's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from datasources.cart import CartLineRecord, CartRecord, CartStatus
from datasources.dynamodb.client import (
    SOURCE,
    DynamoClient,
    Item,
    TransactionCanceledError,
    to_wire,
)
from datasources.dynamodb.tables import CARTS
from datasources.errors import ConditionFailedError, SourceRejectedError
from datasources.events.outbox import Outbox
from datasources.events.records import DomainEvent
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


# Cancellation reasons of the cart's own item that mean "another writer won": retry.
_LOST_RACE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class DynamoCartSource:
    def __init__(self, dynamo: DynamoClient) -> None:
        self._dynamo = dynamo
        self.table = dynamo.table(CARTS.name)
        self._outbox = Outbox(dynamo)
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

    async def create_cart(self, cart: CartRecord, *, events: Sequence[DomainEvent] = ()) -> None:
        await self._write(cart_item(cart), "attribute_not_exists(pk)", None, None, events)

    async def replace_cart(
        self, cart: CartRecord, *, expected_version: int, events: Sequence[DomainEvent] = ()
    ) -> CartRecord:
        written = replace(cart, version=expected_version + 1)
        await self._write(
            cart_item(written),
            "version = :v AND #st = :active",
            {"#st": "status"},
            {":v": expected_version, ":active": CartStatus.ACTIVE.value},
            events,
        )
        return written

    async def _write(
        self,
        item: Item,
        condition: str,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
        events: Sequence[DomainEvent],
    ) -> None:
        """One call either way: a conditional PutItem, or with events a TransactWriteItems."""
        if not events:
            await self._dynamo.put(
                self.table, item, condition=condition, names=names, values=values
            )
            return
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_wire(item),
            "ConditionExpression": condition,
        }
        if names:
            put["ExpressionAttributeNames"] = dict(names)
        if values:
            put["ExpressionAttributeValues"] = to_wire(values)
        try:
            await self._dynamo.transact_write(
                [{"Put": put}, *(self._outbox.put(event) for event in events)]
            )
        except TransactionCanceledError as exc:
            if not exc.reasons or exc.reasons[0] in _LOST_RACE:
                raise ConditionFailedError(SOURCE, exc.message) from exc
            # Not the cart's condition (an event item refused): retrying would not help.
            raise SourceRejectedError(
                SOURCE,
                f"The cart write was cancelled: {exc.reasons or exc.message}",
                reason="TransactionCanceledException",
            ) from exc
