"""Customers and their addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from datasources import frozen


@frozen.record
class AddressRecord:
    first_name: str
    last_name: str
    street: str
    city: str
    postal_code: str
    country: str
    phone: str | None = None


@frozen.record
class CustomerRecord:
    id: str
    email: str
    first_name: str
    last_name: str
    phone: str | None
    addresses: Sequence[AddressRecord]
    created_at: str


class CustomerSource(Protocol):
    async def customers_by_id(self, ids: Sequence[str]) -> Sequence[CustomerRecord | None]: ...
