"""The signed-in shoppers of `python -m bench.faults`: an AWS_LAMBDA authorizer run in process.

A request carrying `authorization: Bench cus_0003` (and no `x-api-key`) is customer cus_0003
(`resolverContext.customerId`, which `appsync.auth.actor.actor_of` reads), so the product page
shows that customer's contract prices and loyalty account without a Cognito pool. The server
caches each token's answer (`authorizer_result_ttl_seconds`), so this runs once per shopper.
"""

from __future__ import annotations

from typing import Any

PREFIX = "Bench "


def token_for(customer_id: str) -> str:
    return PREFIX + customer_id


async def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = str(event.get("authorizationToken", ""))
    if not token.startswith(PREFIX) or not token[len(PREFIX) :].startswith("cus_"):
        return {"isAuthorized": False}
    return {"isAuthorized": True, "resolverContext": {"customerId": token[len(PREFIX) :]}}
