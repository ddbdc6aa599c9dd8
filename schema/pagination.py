"""AppSync/Amplify lists: `{items, nextToken}`, with `limit` (max 100) and `nextToken` args."""

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import strawberry

from datasources.records import Page
from schema.access import PUBLIC

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(
    description="One page of a list; pass `nextToken` back to get the next one.", directives=PUBLIC
)
class Connection(Generic[T]):
    items: list[T]
    next_token: str | None = strawberry.field(
        description="Opaque and signed; null on the last page."
    )

    @classmethod
    def of(cls, page: Page[R], convert: Callable[[R], T]) -> "Connection[T]":
        items: Iterable[R] = page.items
        return cls(items=[convert(i) for i in items], next_token=page.next_token)
