"""Money as Shopify and Saleor shape it: a decimal string amount, never a Float."""

import enum
from typing import Self

import strawberry

from datasources.records import MoneyRecord
from schema.access import PUBLIC


@strawberry.enum(description="ISO 4217 currency codes accepted by the catalog.")
class CurrencyCode(enum.StrEnum):
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    CAD = "CAD"
    AUD = "AUD"
    JPY = "JPY"
    CHF = "CHF"
    SEK = "SEK"
    NOK = "NOK"
    DKK = "DKK"
    PLN = "PLN"
    MXN = "MXN"
    BRL = "BRL"
    INR = "INR"
    CNY = "CNY"


@strawberry.type(description="An amount of money in one currency.", directives=PUBLIC)
class Money:
    amount: str = strawberry.field(description='Decimal string, e.g. "19.99".')
    currency_code: CurrencyCode

    @classmethod
    def of(cls, record: MoneyRecord) -> Self:
        return cls(amount=f"{record.amount:.2f}", currency_code=CurrencyCode(record.currency_code))


@strawberry.type(
    description="An amount before tax, the tax, and the amount with tax.", directives=PUBLIC
)
class TaxedMoney:
    net: Money
    tax: Money
    gross: Money

    @classmethod
    def of(cls, net: MoneyRecord, tax: MoneyRecord) -> Self:
        return cls(net=Money.of(net), tax=Money.of(tax), gross=Money.of(net + tax))


@strawberry.type(
    description="The lowest and highest price of a set of variants.", directives=PUBLIC
)
class MoneyRange:
    min: Money
    max: Money
