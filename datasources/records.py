"""Records shared by every domain: money, pages, channels. Frozen, engine-independent."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Generic, TypeVar

from datasources import frozen

T = TypeVar("T")


class Channel(enum.StrEnum):
    WEB = "WEB"
    MOBILE = "MOBILE"
    POS = "POS"


@frozen.record
class MoneyRecord:
    amount: Decimal
    currency_code: str

    def __add__(self, other: MoneyRecord) -> MoneyRecord:
        if other.currency_code != self.currency_code:
            raise ValueError(f"cannot add {other.currency_code} to {self.currency_code}")
        return MoneyRecord(self.amount + other.amount, self.currency_code)

    def negated(self) -> MoneyRecord:
        return MoneyRecord(-self.amount, self.currency_code)

    def times(self, quantity: int) -> MoneyRecord:
        return MoneyRecord(self.amount * quantity, self.currency_code)

    @classmethod
    def zero(cls, currency_code: str) -> MoneyRecord:
        return cls(Decimal("0.00"), currency_code)


@frozen.record
class Page(Generic[T]):
    """One page of a list and the opaque token of the next one (None on the last page)."""

    items: Sequence[T]
    next_token: str | None
