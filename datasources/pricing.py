"""Pricing: list prices per variant and channel, with an optional compare-at price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from datasources.records import Channel, MoneyRecord


@dataclass(frozen=True, slots=True)
class PriceRecord:
    price: MoneyRecord
    compare_at: MoneyRecord | None = None


@dataclass(frozen=True, slots=True)
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
