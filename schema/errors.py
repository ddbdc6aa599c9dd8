"""The `userErrors` of mutation payloads: business failures, each with a domain code."""

from typing import Self

import strawberry

from resolvers.errors import CartErrorCode, OrderErrorCode, UserErrorRecord
from schema.access import PUBLIC

strawberry.enum(CartErrorCode, description="Why a cart mutation was refused.")
strawberry.enum(OrderErrorCode, description="Why an order mutation was refused.")


@strawberry.type(
    description="A business rule a cart mutation broke; nothing was written.", directives=PUBLIC
)
class CartUserError:
    field: list[str] | None = strawberry.field(description="Path to the offending input.")
    message: str
    code: CartErrorCode

    @classmethod
    def of(cls, e: UserErrorRecord) -> Self:
        return cls(
            field=list(e.field) if e.field else None, message=e.message, code=CartErrorCode(e.code)
        )


@strawberry.type(
    description="A business rule an order mutation broke; nothing was written.", directives=PUBLIC
)
class OrderUserError:
    field: list[str] | None = strawberry.field(description="Path to the offending input.")
    message: str
    code: OrderErrorCode

    @classmethod
    def of(cls, e: UserErrorRecord) -> Self:
        return cls(
            field=list(e.field) if e.field else None, message=e.message, code=OrderErrorCode(e.code)
        )
