"""Orders on DynamoDB, and checkout as one TransactWriteItems.

The transaction holds, in this order: the idempotency record, the order, the cart (checked out,
version-guarded), one stock update per product, then one outbox Put per domain event. Its
cancellation reasons come back in the same order, which is how a failure is told apart (key
reused, cart changed, stock short). Events go last so the positions before them do not move.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from datasources.dynamodb.cart import cart_key
from datasources.dynamodb.client import (
    SOURCE,
    DynamoClient,
    Item,
    TransactionCanceledError,
    to_wire,
)
from datasources.dynamodb.inventory import reserve_update
from datasources.dynamodb.tables import CARTS, INVENTORY, ORDERS
from datasources.errors import SourceRejectedError
from datasources.events.outbox import Outbox
from datasources.events.records import DomainEvent
from datasources.order import (
    CheckoutConflictError,
    IdempotencyRecord,
    OrderLineRecord,
    OrderPaymentRecord,
    OrderRecord,
    OrderStatus,
    StockReservation,
)
from datasources.pagination import TokenCodec
from datasources.records import Channel, MoneyRecord, Page

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
# DynamoDB's cap on the items of one TransactWriteItems.
TRANSACT_MAX_ITEMS = 100


def _money(m: MoneyRecord) -> dict[str, str]:
    return {"amount": str(m.amount), "currencyCode": m.currency_code}


def _money_from(raw: dict[str, Any]) -> MoneyRecord:
    return MoneyRecord(Decimal(raw["amount"]), raw["currencyCode"])


def order_item(o: OrderRecord) -> Item:
    item: Item = {
        "pk": f"ORDER#{o.id}",
        "sk": "ORDER",
        "id": o.id,
        "number": o.number,
        "cartId": o.cart_id,
        "channel": o.channel.value,
        "status": o.status.value,
        "lines": [
            {
                "id": ln.id,
                "productId": ln.product_id,
                "variantId": ln.variant_id,
                "sku": ln.sku,
                "productName": ln.product_name,
                "variantName": ln.variant_name,
                "quantity": ln.quantity,
                "unitPrice": _money(ln.unit_price),
                "locationId": ln.location_id,
            }
            for ln in o.lines
        ],
        "subtotal": _money(o.subtotal),
        "tax": _money(o.tax),
        "total": _money(o.total),
        "placedAt": o.placed_at,
        "customerId": o.customer_id,
    }
    if o.points_redeemed:
        item["pointsRedeemed"] = o.points_redeemed
    if o.discount is not None:
        item["discount"] = _money(o.discount)
    if o.payment is not None:
        item["payment"] = {
            "id": o.payment.id,
            "provider": o.payment.provider,
            "status": o.payment.status,
            "amount": _money(o.payment.amount),
        }
    if o.customer_id:
        item["gsi1pk"] = f"CUSTOMER#{o.customer_id}"
        item["gsi1sk"] = f"{o.placed_at}#{o.id}"
    return item


def order_from_item(item: Item) -> OrderRecord:
    return OrderRecord(
        id=item["id"],
        number=item["number"],
        cart_id=item["cartId"],
        channel=Channel(item["channel"]),
        status=OrderStatus(item["status"]),
        lines=tuple(
            OrderLineRecord(
                id=ln["id"],
                product_id=ln["productId"],
                variant_id=ln["variantId"],
                sku=ln["sku"],
                product_name=ln["productName"],
                variant_name=ln["variantName"],
                quantity=int(ln["quantity"]),
                unit_price=_money_from(ln["unitPrice"]),
                location_id=ln["locationId"],
            )
            for ln in item["lines"]
        ),
        subtotal=_money_from(item["subtotal"]),
        tax=_money_from(item["tax"]),
        total=_money_from(item["total"]),
        placed_at=item["placedAt"],
        customer_id=item.get("customerId"),
        points_redeemed=int(item.get("pointsRedeemed", 0)),
        discount=_money_from(item["discount"]) if "discount" in item else None,
        payment=_payment_from(item["payment"]) if "payment" in item else None,
    )


def _payment_from(raw: dict[str, Any]) -> OrderPaymentRecord:
    return OrderPaymentRecord(
        id=raw["id"],
        provider=raw["provider"],
        status=raw["status"],
        amount=_money_from(raw["amount"]),
    )


def idempotency_key(key: str) -> dict[str, str]:
    return {"pk": f"IDEMPOTENCY#{key}", "sk": "IDEMPOTENCY"}


class DynamoOrderSource:
    def __init__(self, dynamo: DynamoClient, tokens: TokenCodec) -> None:
        self._dynamo = dynamo
        self._tokens = tokens
        self._table = dynamo.table(ORDERS.name)
        self._outbox = Outbox(dynamo)

    async def orders_by_id(self, ids: Sequence[str]) -> Sequence[OrderRecord | None]:
        items = await self._dynamo.get_many(
            self._table, [{"pk": f"ORDER#{i}", "sk": "ORDER"} for i in ids]
        )
        return [order_from_item(i) if i else None for i in items]

    async def list_orders_by_customer(
        self, customer_id: str, *, limit: int, next_token: str | None
    ) -> Page[OrderRecord]:
        scope = f"{self._table}/gsi1/CUSTOMER#{customer_id}"
        items, last_key = await self._dynamo.query(
            self._table,
            index="gsi1",
            key_condition="gsi1pk = :p",
            values={":p": f"CUSTOMER#{customer_id}"},
            limit=limit,
            start_key=self._tokens.decode(scope, next_token),
            forward=False,
        )
        return Page([order_from_item(i) for i in items], self._tokens.encode(scope, last_key))

    async def idempotency_record(self, key: str) -> IdempotencyRecord | None:
        item = await self._dynamo.get(self._table, idempotency_key(key), consistent=True)
        if item is None:
            return None
        return IdempotencyRecord(
            key=key, request_hash=item["requestHash"], order_id=item["orderId"]
        )

    async def place_order(
        self,
        order: OrderRecord,
        *,
        cart_version: int,
        reservations: Sequence[StockReservation],
        idempotency: IdempotencyRecord,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        by_product: dict[str, list[StockReservation]] = defaultdict(list)
        for r in reservations:
            by_product[r.product_id].append(r)
        products = sorted(by_product)
        not_exists = "attribute_not_exists(pk)"
        idem: Item = {
            **idempotency_key(idempotency.key),
            "requestHash": idempotency.request_hash,
            "orderId": idempotency.order_id,
            "expiresAt": int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
        }
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_wire(idem),
                    "ConditionExpression": not_exists,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_wire(order_item(order)),
                    "ConditionExpression": not_exists,
                }
            },
            {
                "Update": {
                    "TableName": self._dynamo.table(CARTS.name),
                    "Key": to_wire(cart_key(order.cart_id)),
                    "UpdateExpression": "SET #st = :done, version = :next, orderId = :order",
                    "ConditionExpression": "version = :v AND #st = :active",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": to_wire(
                        {
                            ":done": "CHECKED_OUT",
                            ":active": "ACTIVE",
                            ":v": cart_version,
                            ":next": cart_version + 1,
                            ":order": order.id,
                        }
                    ),
                }
            },
        ]
        inventory = self._dynamo.table(INVENTORY.name)
        for product_id in products:
            lines = [(r.variant_id, r.location_id, r.quantity) for r in by_product[product_id]]
            items.append(reserve_update(inventory, product_id, lines))
        items += [self._outbox.put(event) for event in events]
        if len(items) > TRANSACT_MAX_ITEMS:
            raise SourceRejectedError(
                SOURCE,
                f"An order over {len(products)} products needs {len(items)} transaction items; "
                f"DynamoDB takes {TRANSACT_MAX_ITEMS}.",
                reason="TooManyTransactionItems",
            )
        try:
            await self._dynamo.transact_write(items)
        except TransactionCanceledError as exc:
            reasons = exc.reasons + [None] * (len(items) - len(exc.reasons))
            short = [
                r
                for product_id, reason in zip(products, reasons[3 : 3 + len(products)], strict=True)
                if reason == "ConditionalCheckFailed"
                for r in by_product[product_id]
            ]
            raise CheckoutConflictError(
                SOURCE,
                exc.message,
                idempotency_key_taken=reasons[0] == "ConditionalCheckFailed",
                cart_changed=reasons[2] == "ConditionalCheckFailed",
                short_stock=short,
            ) from exc
