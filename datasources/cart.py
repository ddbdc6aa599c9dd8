"""Carts: lines written with optimistic concurrency (a version checked on every write)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Protocol

from datasources import frozen
from datasources.events.records import DomainEvent
from datasources.records import Channel


class CartStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CHECKED_OUT = "CHECKED_OUT"


@frozen.record
class CartLineRecord:
    id: str
    product_id: str
    variant_id: str
    quantity: int


@frozen.record
class CartRecord:
    id: str
    channel: Channel
    currency_code: str
    status: CartStatus
    lines: Sequence[CartLineRecord]
    version: int
    created_at: str
    updated_at: str
    expires_at: int
    location_id: str | None = None
    customer_id: str | None = None
    country: str | None = None

    def with_lines(self, lines: Sequence[CartLineRecord], *, now: str) -> CartRecord:
        return replace(self, lines=tuple(lines), updated_at=now)


class CartSource(Protocol):
    async def carts_by_id(self, ids: Sequence[str]) -> Sequence[CartRecord | None]: ...

    async def get_cart(self, cart_id: str) -> CartRecord | None:
        """A strongly consistent read: the base of a read-modify-write."""
        ...

    def exclusive(self, cart_id: str) -> AbstractAsyncContextManager[None]:
        """Serialise this process's writers to one cart. Writers in other processes are
        still kept apart by the version condition of `replace_cart`."""
        ...

    async def create_cart(self, cart: CartRecord, *, events: Sequence[DomainEvent] = ()) -> None:
        """Write a new cart and, in the same transaction, its domain events (the outbox)."""
        ...

    async def replace_cart(
        self, cart: CartRecord, *, expected_version: int, events: Sequence[DomainEvent] = ()
    ) -> CartRecord:
        """Write `cart` as version `expected_version + 1` if the stored version is still
        `expected_version`; raise `ConditionFailedError` otherwise. `events` are written in
        the same transaction: all or nothing."""
        ...
