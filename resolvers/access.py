"""Ownership: who may touch a cart, an order, a customer — beyond what the directives allow.

The edge maps its authenticated caller to an `Actor`; resolvers ask `actor.may_access(owner)`.
Guest carts and orders have no owner: their id (a random UUID) is the bearer secret, as a
Shopify cart id is.
"""

from __future__ import annotations

from datasources import frozen
from resolvers.errors import DomainError

STAFF_GROUP = "staff"


@frozen.record
class Actor:
    customer_id: str | None = None  # the signed-in customer, if any
    staff: bool = False  # Cognito group `staff` (or an authorizer's staff role)
    device: bool = False  # a store device (AWS_IAM): sells at the POS

    def may_access(self, owner_customer_id: str | None) -> bool:
        if owner_customer_id is None:
            return True
        return self.staff or self.device or self.customer_id == owner_customer_id

    @property
    def may_sell_at_pos(self) -> bool:
        return self.staff or self.device


ANONYMOUS = Actor()


class ForbiddenError(DomainError):
    """AppSync's field-level refusal, raised where ownership (not the mode) decides."""

    error_type = "Unauthorized"

    def __init__(self, field: str, type_name: str) -> None:
        super().__init__(f"Not Authorized to access {field} on type {type_name}")


def require(actor: Actor, owner_customer_id: str | None, field: str, type_name: str) -> None:
    if not actor.may_access(owner_customer_id):
        raise ForbiddenError(field, type_name)
