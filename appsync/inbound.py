"""Events that do not start in GraphQL reach subscribers through IAM-only mutations.

AppSync's pattern: an EventBridge rule targets the API with IAM and calls a mutation whose
resolver only echoes its input; `@aws_subscribe` on that mutation pushes the input to the
subscribers. Locally the rule targets an SQS queue instead, the consumer
(`datasources.events.consumer`) reads it, and this handler runs the same mutation in process
as an internal IAM caller, so the realtime extension publishes it exactly as it would an HTTP
mutation.

    detail-type                         mutation                      subscription
    STOCK_CHANGED (erp.*)               publishStockChanged           onStockChanged
    PRICE_CHANGED (erp.*)               publishPriceChanged           onPriceChanged
    ORDER_CREATED (commerce-graph.order),
    ORDER_STATUS_CHANGED,
    FULFILMENT_STATUS_CHANGED (erp.*)   publishOrderStatusChanged     onOrderStatusChanged

Delivery is at-least-once: a redelivered event (same eventId) within the last 10,000 is not
published twice. A payload the mutation refuses raises, so SQS redelivers it and, after the
queue's maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from strawberry import Schema

from appsync.auth import AuthMode, Caller
from datasources.events.consumer import InboundEvent
from resolvers.context import Context

log = logging.getLogger(__name__)

INTERNAL_ARN = "arn:aws:iam::000000000000:role/commerce-graph-event-consumer"
# The identity AppSync gives a resolver called by an EventBridge rule's IAM role.
INTERNAL_CALLER = Caller(
    mode=AuthMode.AWS_IAM,
    identity={
        "accountId": "000000000000",
        "userArn": INTERNAL_ARN,
        "username": "commerce-graph-event-consumer",
        "sourceIp": [],
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoIdentityAuthType": None,
        "cognitoIdentityAuthProvider": None,
    },
    principal="internal:event-consumer",
)

STOCK = """mutation Stock($input: StockChangeInput!) { publishStockChanged(input: $input) {
  sku productId variantId locationId quantity available occurredAt } }"""
PRICE = """mutation Price($input: PriceChangeInput!) { publishPriceChanged(input: $input) {
  sku productId variantId channel amount currencyCode occurredAt } }"""
ORDER_STATUS = """mutation Status($input: OrderStatusChangeInput!) {
  publishOrderStatusChanged(input: $input) { orderId customerId status occurredAt } }"""

Payload = Mapping[str, Any]


def _stock(p: Payload, at: str) -> dict[str, Any]:
    keys = ("sku", "productId", "variantId", "locationId", "quantity", "available")
    return {**{k: p[k] for k in keys}, "occurredAt": p.get("occurredAt", at)}


def _price(p: Payload, at: str) -> dict[str, Any]:
    keys = ("sku", "productId", "variantId", "channel", "amount", "currencyCode")
    return {**{k: p[k] for k in keys}, "occurredAt": p.get("occurredAt", at)}


def _order_status(p: Payload, at: str) -> dict[str, Any]:
    return {
        "orderId": p["orderId"],
        "customerId": p.get("customerId"),
        "status": p["status"],
        "occurredAt": p.get("occurredAt", at),
    }


ROUTES: Mapping[str, tuple[str, Callable[[Payload, str], dict[str, Any]]]] = {
    "STOCK_CHANGED": (STOCK, _stock),
    "PRICE_CHANGED": (PRICE, _price),
    "ORDER_CREATED": (ORDER_STATUS, _order_status),
    "ORDER_STATUS_CHANGED": (ORDER_STATUS, _order_status),
    "FULFILMENT_STATUS_CHANGED": (ORDER_STATUS, _order_status),
}


class InboundMutations:
    """The consumer's handler: one internal mutation per event that subscribers follow."""

    def __init__(
        self, schema: Schema, context: Callable[[Caller], Context], *, remember: int = 10_000
    ) -> None:
        self._schema = schema
        self._context = context
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self.published = 0
        self.duplicates = 0
        self.ignored = 0

    async def __call__(self, event: InboundEvent) -> None:
        route = ROUTES.get(event.detail_type)
        if route is None:
            self.ignored += 1  # an event no subscription follows
            return
        if event.event_id in self._seen:
            self.duplicates += 1
            return
        document, variables_of = route
        at = str(event.detail.get("occurredAt") or event.time or "")
        payload = event.detail.get("payload") or {}
        try:
            variables = {"input": variables_of(payload, at)}
        except KeyError as missing:
            raise ValueError(
                f"{event.detail_type} {event.event_id} lacks {missing} in its payload"
            ) from None
        result = await self._schema.execute(
            document, variable_values=variables, context_value=self._context(INTERNAL_CALLER)
        )
        if result.errors:
            raise ValueError(
                f"{event.detail_type} {event.event_id} refused: {result.errors[0].message}"
            )
        self._seen[event.event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self.published += 1
