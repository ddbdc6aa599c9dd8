"""Stripe's amounts: integers in the currency's minor unit, for the Stripe sources and the
sandbox alike (which must not load the Stripe SDK to compute them)."""

from __future__ import annotations

from decimal import Decimal

from datasources.records import MoneyRecord

# These currencies have no minor unit (https://docs.stripe.com/currencies#zero-decimal) or
# three (Stripe wants those amounts rounded to tens, which an exact conversion of a two-place
# price already is).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Stripe's "nontaxable" tax code, honoured by the sandbox too.
NONTAXABLE = "txcd_00000000"


def minor_exponent(currency_code: str) -> int:
    code = currency_code.upper()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def to_minor_units(money: MoneyRecord) -> int:
    """The amount in the currency's minor unit; ValueError if it has finer fractions.

    Never rounds: a payment for 10.005 USD is a bug upstream, not something to charge.
    """
    scaled = money.amount.scaleb(minor_exponent(money.currency_code))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{money.amount} {money.currency_code} is not a whole minor unit")
    return int(scaled)


def from_minor_units(amount: int, currency_code: str) -> MoneyRecord:
    exponent = minor_exponent(currency_code)
    return MoneyRecord(Decimal(amount).scaleb(-exponent), currency_code.upper())
