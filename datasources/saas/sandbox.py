"""The built-in sandbox provider for `make run`: deterministic payments and tax, in process.

It answers as Stripe's test mode does, so a demo checkout behaves like a real one, and it
passes the same contract suite as the Stripe sources (tests/test_payments.py, test_tax.py).
Calls go through the source's `Resilience` like any other, so the metrics endpoint, timeouts
and the breaker behave the same whichever provider is configured.

Test payment methods (Stripe's documented ids, https://docs.stripe.com/testing; the raw card
numbers are accepted too, for convenience):

    payment method                             card number        outcome
    pm_card_visa                               4242424242424242   AUTHORIZED
    pm_card_mastercard                         5555555555554444   AUTHORIZED
    pm_card_amex                               378282246310005    AUTHORIZED
    pm_card_authenticationRequired             4000002760003184   REQUIRES_ACTION
    pm_card_chargeDeclined                     4000000000000002   DECLINED generic_decline
    pm_card_chargeDeclinedInsufficientFunds    4000000000009995   DECLINED insufficient_funds
    pm_card_chargeDeclinedExpiredCard          4000000000000069   DECLINED expired_card
    pm_card_chargeDeclinedIncorrectCvc         4000000000000127   DECLINED incorrect_cvc
    anything else                                                 DECLINED invalid_payment_method

An unknown method is a decline rather than an error: it is the buyer's input, and the Stripe
source maps Stripe's 400 on `payment_method` the same way.

Tax rates by country (standard rates, percent; `TAX_RATES`): one rate per country, whatever
the region, and 0 for a country not listed (as Stripe Tax answers where the merchant is not
registered). A line with Stripe's nontaxable code `txcd_00000000` is not taxed. Tax is
computed per line and rounded half-up to the currency's minor unit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from datasources.errors import SourceRejectedError
from datasources.payments import SOURCE as PAYMENTS
from datasources.payments import PaymentRecord, PaymentRequest, PaymentStatus
from datasources.records import MoneyRecord
from datasources.resilience import Resilience
from datasources.saas.minor_units import NONTAXABLE, from_minor_units, to_minor_units
from datasources.tax import SOURCE as TAX
from datasources.tax import TaxRecord, TaxRequest

PROVIDER = "sandbox"

_AUTHORIZED = (PaymentStatus.AUTHORIZED, None, None)
_ACTION = (PaymentStatus.REQUIRES_ACTION, None, None)
_DECLINED = (PaymentStatus.DECLINED, "generic_decline", "Your card was declined.")
_FUNDS = (PaymentStatus.DECLINED, "insufficient_funds", "Your card has insufficient funds.")
_EXPIRED = (PaymentStatus.DECLINED, "expired_card", "Your card has expired.")
_CVC = (PaymentStatus.DECLINED, "incorrect_cvc", "Your card's security code is incorrect.")

Outcome = tuple[PaymentStatus, str | None, str | None]

TEST_PAYMENT_METHODS: MappingProxyType[str, Outcome] = MappingProxyType(
    {
        "pm_card_visa": _AUTHORIZED,
        "4242424242424242": _AUTHORIZED,
        "pm_card_mastercard": _AUTHORIZED,
        "5555555555554444": _AUTHORIZED,
        "pm_card_amex": _AUTHORIZED,
        "378282246310005": _AUTHORIZED,
        "pm_card_authenticationRequired": _ACTION,
        "4000002760003184": _ACTION,
        "pm_card_chargeDeclined": _DECLINED,
        "4000000000000002": _DECLINED,
        "pm_card_chargeDeclinedInsufficientFunds": _FUNDS,
        "4000000000009995": _FUNDS,
        "pm_card_chargeDeclinedExpiredCard": _EXPIRED,
        "4000000000000069": _EXPIRED,
        "pm_card_chargeDeclinedIncorrectCvc": _CVC,
        "4000000000000127": _CVC,
    }
)

# Standard VAT/GST/sales-tax rates, percent (national rates as published for 2025).
TAX_RATES: MappingProxyType[str, Decimal] = MappingProxyType(
    {
        "US": Decimal("8.875"),  # New York City's combined rate, standing in for every state
        "CA": Decimal("5"),  # federal GST only (HST provinces charge more)
        "GB": Decimal("20"),
        "IE": Decimal("23"),
        "DE": Decimal("19"),
        "FR": Decimal("20"),
        "NL": Decimal("21"),
        "ES": Decimal("21"),
        "IT": Decimal("22"),
        "SE": Decimal("25"),
        "CH": Decimal("8.1"),
        "JP": Decimal("10"),
        "AU": Decimal("10"),
        "NZ": Decimal("15"),
        "SG": Decimal("9"),
    }
)


class SandboxPayments:
    """Stripe test mode, in process: idempotency keys are honoured for real.

    A key answers with the record of its first call (even after a cancel, as Stripe replays
    the stored response); the same key with a different request is `IdempotencyKeyReused`.
    Keys are kept for the `max_keys` most recent calls (Stripe keeps them 24 hours).
    """

    provider = PROVIDER

    def __init__(self, resilience: Resilience, *, max_keys: int = 100_000) -> None:
        self.resilience = resilience
        self._max_keys = max_keys
        self._by_key: OrderedDict[str, tuple[object, PaymentRecord]] = OrderedDict()
        self._by_id: OrderedDict[str, PaymentRecord] = OrderedDict()

    async def authorize(self, request: PaymentRequest) -> PaymentRecord:
        async def authorize() -> PaymentRecord:
            return self._authorize(request)

        return await self.resilience.call(authorize, idempotent=True)

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> PaymentRecord:
        async def cancel() -> PaymentRecord:
            return self._cancel(payment_id, idempotency_key)

        return await self.resilience.call(cancel, idempotent=True)

    def _authorize(self, request: PaymentRequest) -> PaymentRecord:
        replay = self._replay(request.idempotency_key, ("authorize", _fingerprint(request)))
        if replay is not None:
            return replay
        try:
            minor = to_minor_units(request.amount)
        except ValueError as exc:
            raise SourceRejectedError(PAYMENTS, str(exc), reason="InvalidAmount") from exc
        if minor <= 0:
            raise SourceRejectedError(
                PAYMENTS, "Amount must be a positive number of minor units.", reason="InvalidAmount"
            )
        status, code, message = TEST_PAYMENT_METHODS.get(
            request.payment_method,
            (
                PaymentStatus.DECLINED,
                "invalid_payment_method",
                f"No such PaymentMethod: '{request.payment_method}'",
            ),
        )
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        record = PaymentRecord(
            id=f"pi_sandbox_{digest}",
            status=status,
            amount=from_minor_units(minor, request.amount.currency_code),
            provider=PROVIDER,
            decline_code=code,
            message=message,
        )
        self._remember(request.idempotency_key, ("authorize", _fingerprint(request)), record)
        return record

    def _cancel(self, payment_id: str, idempotency_key: str) -> PaymentRecord:
        replay = self._replay(idempotency_key, ("cancel", payment_id))
        if replay is not None:
            return replay
        current = self._by_id.get(payment_id)
        if current is None:
            raise SourceRejectedError(
                PAYMENTS, f"No such payment_intent: '{payment_id}'", reason="NotFound"
            )
        if current.status is PaymentStatus.CAPTURED:
            raise SourceRejectedError(
                PAYMENTS, f"{payment_id} is captured: refund it instead.", reason="UnexpectedState"
            )
        canceled = PaymentRecord(
            id=current.id, status=PaymentStatus.CANCELED, amount=current.amount, provider=PROVIDER
        )
        self._remember(idempotency_key, ("cancel", payment_id), canceled)
        return canceled

    def _replay(self, key: str, fingerprint: object) -> PaymentRecord | None:
        seen = self._by_key.get(key)
        if seen is None:
            return None
        if seen[0] != fingerprint:
            raise SourceRejectedError(
                PAYMENTS,
                "Keys for idempotent requests can only be used with the same parameters they "
                "were first used with.",
                reason="IdempotencyKeyReused",
            )
        return seen[1]

    def _remember(self, key: str, fingerprint: object, record: PaymentRecord) -> None:
        self._by_key[key] = (fingerprint, record)
        self._by_id[record.id] = record
        self._by_id.move_to_end(record.id)
        while len(self._by_key) > self._max_keys:
            self._by_key.popitem(last=False)
        while len(self._by_id) > self._max_keys:
            self._by_id.popitem(last=False)


def _fingerprint(request: PaymentRequest) -> object:
    # Amounts compare by value (10.0 == 10.00), like Stripe comparing minor units.
    return (
        request.order_id,
        request.amount.amount.normalize(),
        request.amount.currency_code.upper(),
        request.payment_method,
        request.customer_id,
        request.description,
    )


class SandboxTax:
    """Tax at `TAX_RATES[country]` on every line, rounded half-up per line."""

    provider = PROVIDER

    def __init__(self, resilience: Resilience) -> None:
        self.resilience = resilience

    async def calculate(self, request: TaxRequest) -> TaxRecord:
        async def calculate() -> TaxRecord:
            return _calculate(request)

        return await self.resilience.call(calculate, idempotent=True)


def _calculate(request: TaxRequest) -> TaxRecord:
    currency = request.currency_code.upper()
    rate = TAX_RATES.get(request.address.country.upper(), Decimal(0))
    net_minor = tax_minor = 0
    by_line: dict[str, MoneyRecord] = {}
    for line in request.lines:
        if line.amount.currency_code.upper() != currency:
            raise SourceRejectedError(
                TAX, f"a {line.amount.currency_code} line in a {currency} calculation"
            )
        try:
            minor = to_minor_units(line.amount)
        except ValueError as exc:
            raise SourceRejectedError(TAX, str(exc), reason="InvalidAmount") from exc
        taxed = Decimal(0) if line.tax_code == NONTAXABLE else rate
        line_tax = int((minor * taxed / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        net_minor += minor
        tax_minor += line_tax
        by_line[line.reference] = from_minor_units(line_tax, currency)
    net, tax = from_minor_units(net_minor, currency), from_minor_units(tax_minor, currency)
    if not request.lines:  # as the Stripe source: nothing was calculated
        return TaxRecord(net=net, tax=tax, by_line={})
    digest = hashlib.sha256(repr((currency, request.address, tuple(request.lines))).encode())
    calculation_id = f"taxcalc_sandbox_{digest.hexdigest()[:24]}"
    return TaxRecord(net=net, tax=tax, by_line=by_line, calculation_id=calculation_id)
