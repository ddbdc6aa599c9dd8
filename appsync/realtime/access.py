"""Subscribe-time checks of this graph's subscription fields (AppSync's subscription
resolvers): the directives say which modes may subscribe, these say to what.

- `onOrderStatusChanged`: a signed-in customer follows only their own orders, so
  `customerId` is required and must be theirs; staff and store devices (IAM) follow any.
  The customer filter is also set server-side, so a customer can never receive another
  customer's event whatever the arguments.
- `onCartUpdated`: invalidation filter on the cart id, so
  `realtime.invalidate_subscriptions("onCartUpdated", {"cartId": ...})` (e.g. once the cart
  is checked out) completes that cart's subscriptions.
"""

from __future__ import annotations

from collections.abc import Mapping

from appsync.auth.actor import actor_of
from appsync.auth.identity import Caller
from appsync.authz import UNAUTHORIZED, not_authorized
from appsync.errors import AppSyncError
from appsync.realtime.subscriptions import SubscribeHook, SubscribeRequest, SubscriptionFilters

__all__ = ["SUBSCRIPTION_HOOKS"]


async def own_orders_only(request: SubscribeRequest) -> SubscriptionFilters | None:
    caller = request.caller
    actor = actor_of(caller if isinstance(caller, Caller) else None)
    if actor.staff or actor.device:
        return None
    customer = actor.customer_id
    if customer is None or request.arguments.get("customerId") != customer:
        raise AppSyncError(not_authorized(request.field_name, "Subscription"), UNAUTHORIZED)
    condition = {"fieldName": "customerId", "operator": "eq", "value": customer}
    return SubscriptionFilters(filter={"filterGroup": [{"filters": [condition]}]})


async def cart_invalidation(request: SubscribeRequest) -> SubscriptionFilters:
    condition = {"fieldName": "cartId", "operator": "eq", "value": request.arguments["cartId"]}
    return SubscriptionFilters(invalidation_filter={"filterGroup": [{"filters": [condition]}]})


SUBSCRIPTION_HOOKS: Mapping[str, SubscribeHook] = {
    "onCartUpdated": cart_invalidation,
    "onOrderStatusChanged": own_orders_only,
}
