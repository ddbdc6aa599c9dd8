"""Customer reads."""

from __future__ import annotations

from datasources.customer import CustomerRecord
from datasources.loyalty import LoyaltyRecord
from resolvers.access import require
from resolvers.context import Context
from resolvers.errors import NotFoundError


async def customer(ctx: Context, *, id: str) -> CustomerRecord:
    require(ctx.actor, id, "customer", "Query")
    record = await ctx.loaders.customer_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No customer has id '{id}'.")
    return record


async def loyalty(ctx: Context, customer_id: str) -> LoyaltyRecord | None:
    """The customer's loyalty account (None: not enrolled); raises the Loyalty source's error."""
    return await ctx.loaders.loyalty_by_customer.load(customer_id)
