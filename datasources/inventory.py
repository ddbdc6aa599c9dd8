"""Inventory: locations (warehouses and stores) and stock per variant and location."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Protocol

from datasources import frozen
from datasources.records import Channel, Page


class LocationKind(enum.StrEnum):
    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"


@frozen.record
class LocationRecord:
    id: str
    name: str
    kind: LocationKind
    country: str
    # Channels that may sell from this location: warehouses ship WEB and MOBILE orders,
    # a store sells at its own POS (and may also ship).
    channels: Sequence[Channel]


@frozen.record
class StockLevel:
    quantity: int
    reserved: int

    @property
    def available(self) -> int:
        return max(self.quantity - self.reserved, 0)


@frozen.record
class ProductStockRecord:
    """Stock of every variant of one product at every location, one item per product."""

    product_id: str
    by_variant: Mapping[str, Mapping[str, StockLevel]]

    def levels(self, variant_id: str) -> Mapping[str, StockLevel]:
        return self.by_variant.get(variant_id, {})


class InventorySource(Protocol):
    async def stock_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[ProductStockRecord | None]: ...

    async def locations_by_id(self, ids: Sequence[str]) -> Sequence[LocationRecord | None]: ...

    async def list_locations(
        self, *, limit: int, next_token: str | None
    ) -> Page[LocationRecord]: ...


@frozen.record
class LiveStockRecord:
    """On-hand stock of one product's variants, live from the system of record (the ERP).

    Keyed by SKU (the ERP's material number) and location id (its plant): the ERP knows
    nothing of variant ids. Reservations are not in it; they live beside the order, in
    DynamoDB, and the resolvers subtract them.
    """

    product_id: str
    by_sku: Mapping[str, Mapping[str, int]]  # sku -> location id -> quantity on hand


class LiveStockSource(Protocol):
    async def live_stock_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[LiveStockRecord | None]:
        """One request for the whole batch (`$filter=Product in (...)`); None: not in the ERP."""
        ...
