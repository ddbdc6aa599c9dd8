"""Customer root fields."""

import strawberry

from resolvers import customer
from schema.access import SIGNED_IN
from schema.customer.types import Customer
from schema.info import Info


@strawberry.type
class CustomerQuery:
    @strawberry.field(directives=SIGNED_IN)
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        return Customer.of(await customer.customer(info.context, id=str(id)))
