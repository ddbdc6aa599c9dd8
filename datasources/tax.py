"""Tax (a SaaS calculation: Stripe Tax, or sandbox rates by country for `make run`).

A calculation is a pure function of its request, so it is idempotent and safe to retry and
to cache. Amounts are exclusive of tax (`net`); the source returns the tax on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from datasources.records import MoneyRecord

SOURCE = "Tax"


@dataclass(frozen=True, slots=True)
class TaxAddress:
    country: str  # ISO 3166-1 alpha-2
    postal_code: str | None = None
    state: str | None = None
    city: str | None = None
    line1: str | None = None


@dataclass(frozen=True, slots=True)
class TaxLine:
    reference: str  # unique within the request: the cart or order line id
    amount: MoneyRecord  # the line's net total (unit price x quantity)
    quantity: int
    tax_code: str | None = None  # provider tax code (Stripe: `txcd_...`); None: the default


@dataclass(frozen=True, slots=True)
class TaxRequest:
    currency_code: str
    lines: Sequence[TaxLine]
    address: TaxAddress


@dataclass(frozen=True, slots=True)
class TaxRecord:
    net: MoneyRecord
    tax: MoneyRecord
    # Tax per line reference, when the provider itemises it (empty otherwise).
    by_line: Mapping[str, MoneyRecord]
    calculation_id: str | None = None  # Stripe: `taxcalc_...`, for a later tax transaction

    @property
    def gross(self) -> MoneyRecord:
        return self.net + self.tax


class TaxSource(Protocol):
    async def calculate(self, request: TaxRequest) -> TaxRecord: ...
