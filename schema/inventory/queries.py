"""Inventory root fields."""

import strawberry

from resolvers import inventory
from schema.access import PUBLIC
from schema.info import Info
from schema.inventory.types import Location
from schema.pagination import Connection


@strawberry.type
class InventoryQuery:
    @strawberry.field(description="Warehouses and stores.", directives=PUBLIC)
    async def locations(
        self, info: Info, limit: int | None = None, next_token: str | None = None
    ) -> Connection[Location]:
        page = await inventory.locations(info.context, limit=limit, next_token=next_token)
        return Connection.of(page, Location.of)
