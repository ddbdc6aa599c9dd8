"""Tax (a SaaS calculation: Stripe Tax, or sandbox rates by country for `make run`).

A calculation is a pure function of its request, so it is idempotent and safe to retry and
to cache. Amounts are exclusive of tax (`net`); the source returns the tax on top.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from datasources import frozen
from datasources.records import MoneyRecord

SOURCE = "Tax"


@frozen.record
class TaxAddress:
    country: str  # ISO 3166-1 alpha-2
    postal_code: str | None = None
    state: str | None = None
    city: str | None = None
    line1: str | None = None


@frozen.record
class TaxLine:
    reference: str  # unique within the request: the cart or order line id
    amount: MoneyRecord  # the line's net total (unit price x quantity)
    quantity: int
    tax_code: str | None = None  # provider tax code (Stripe: `txcd_...`); None: the default


@frozen.record
class TaxRequest:
    currency_code: str
    lines: Sequence[TaxLine]
    address: TaxAddress


@frozen.record
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


class CachedTaxSource:
    """A calculation per distinct request, remembered for `ttl_seconds` (LRU, `max_entries`).

    A cart is read far more often than it changes, and every read shows its taxed totals: the
    provider bills per calculation and adds a network round trip. Rates change rarely, so a
    few minutes of staleness on a *displayed* total is the trade Shopify and Saleor make too;
    checkout calls the provider afresh (`fresh=True`). Failures are not cached.
    """

    def __init__(self, inner: TaxSource, *, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.inner = inner
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[TaxRequest, tuple[float, TaxRecord]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def calculate(self, request: TaxRequest, *, fresh: bool = False) -> TaxRecord:
        key = replace(request, lines=tuple(request.lines))
        now = time.monotonic()
        cached = None if fresh else self._entries.get(key)
        if cached is not None and cached[0] > now:
            self._entries.move_to_end(key)
            self.hits += 1
            return cached[1]
        self.misses += 1
        record = await self.inner.calculate(key)
        if self._ttl > 0:
            self._entries[key] = (now + self._ttl, record)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return record
