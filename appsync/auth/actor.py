"""From the edge's `Caller` to the domain's `Actor` (resolvers never see auth modes)."""

from __future__ import annotations

from appsync.auth.identity import Caller
from appsync.auth.modes import AuthMode
from resolvers.access import ANONYMOUS, STAFF_GROUP, Actor


def actor_of(caller: Caller | None) -> Actor:
    """Customers are identified by a `custom:customerId` claim, else their user name (Cognito)
    or subject (OIDC); a Lambda authorizer says so in `resolverContext`."""
    if caller is None or caller.identity is None:
        return ANONYMOUS
    identity = caller.identity
    match caller.mode:
        case AuthMode.AMAZON_COGNITO_USER_POOLS | AuthMode.OPENID_CONNECT:
            claims = identity.get("claims") or {}
            customer = (
                claims.get("custom:customerId") or identity.get("username") or identity.get("sub")
            )
            return Actor(customer_id=customer, staff=STAFF_GROUP in caller.groups)
        case AuthMode.AWS_IAM:
            return Actor(device=True)
        case AuthMode.AWS_LAMBDA:
            context = identity.get("resolverContext") or {}
            return Actor(
                customer_id=context.get("customerId"), staff=context.get("role") == STAFF_GROUP
            )
    return ANONYMOUS
