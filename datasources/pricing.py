"""Pricing: list prices per variant and channel, with an optional compare-at price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from datasources import frozen
from datasources.records import Channel, MoneyRecord


@frozen.record
class PriceRecord:
    price: MoneyRecord
    compare_at: MoneyRecord | None = None
    contract: bool = False  # the customer's negotiated price, not the list price


@frozen.record
class ProductPricesRecord:
    """All prices of one product, stored together so a listing reads one item per product."""

    product_id: str
    by_variant: Mapping[str, Mapping[Channel, PriceRecord]]

    def price(self, variant_id: str, channel: Channel) -> PriceRecord | None:
        return self.by_variant.get(variant_id, {}).get(channel)


class PricingSource(Protocol):
    async def prices_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[ProductPricesRecord | None]: ...


@frozen.record
class ContractPriceRecord:
    """A customer's negotiated price for one SKU (an ERP price condition), valid today."""

    sku: str
    price: MoneyRecord
    condition_id: str  # the ERP's condition record, for support and audit


class ContractPriceSource(Protocol):
    async def contract_prices(
        self, customer_id: str, product_ids: Sequence[str]
    ) -> Sequence[Mapping[str, ContractPriceRecord]]:
        """Per product, the customer's contract prices by SKU (empty: none), in one request."""
        ...
