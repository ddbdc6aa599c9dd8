"""Customer reads."""

from __future__ import annotations

from datasources.customer import CustomerRecord
from resolvers.access import require
from resolvers.context import Context
from resolvers.errors import NotFoundError


async def customer(ctx: Context, *, id: str) -> CustomerRecord:
    require(ctx.actor, id, "customer", "Query")
    record = await ctx.loaders.customer_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No customer has id '{id}'.")
    return record
