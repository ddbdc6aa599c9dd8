"""Payments and tax on the Stripe API (the official `stripe` package, its aiohttp client).

Stripe's own retries are off (`max_network_retries=0`): every call already runs under our
`Resilience`, whose retries are bounded by a retry budget, counted in the source's metrics,
stopped by its circuit breaker and spent inside the caller's timeout. Stripe retrying inside
an attempt as well would multiply attempts (3 x 3), sleep where our timeout cannot see why,
and hide failures from the breaker. Retrying a POST is safe only because every mutating call
carries an idempotency key: Stripe answers a repeated key with the first answer.

Errors are translated here, once (`translate`): a card decline is an answer (a DECLINED
record), 429 is `Payments:Throttled` (retryable, honouring Retry-After), 5xx and network
failures are `Unavailable`, 401 is `Unauthorized`, any other 4xx is `Rejected`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams
from stripe.params.tax import (
    CalculationCreateParamsCustomerDetailsAddress,
    CalculationCreateParamsLineItem,
)

from datasources.errors import SourceError, SourceRejectedError, SourceUnavailableError
from datasources.payments import SOURCE as PAYMENTS
from datasources.payments import PaymentRecord, PaymentRequest, PaymentStatus
from datasources.records import MoneyRecord
from datasources.resilience import Resilience
from datasources.saas.minor_units import from_minor_units, to_minor_units
from datasources.tax import SOURCE as TAX
from datasources.tax import TaxAddress, TaxRecord, TaxRequest

PROVIDER = "stripe"

_STATUSES = {
    "requires_capture": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.CAPTURED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "canceled": PaymentStatus.CANCELED,
}


# --- the client ------------------------------------------------------------------------------


def stripe_client(
    api_key: str, http_client: stripe.AIOHTTPClient, *, api_base: str | None = None
) -> stripe.StripeClient:
    """A client on `http_client`'s aiohttp session (closed by its owner: `close_async()`)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else {},
        http_client=http_client,
        max_network_retries=0,  # our Resilience retries: see the module docstring
    )


def translate(exc: stripe.StripeError, source: str) -> SourceError:
    """Map a Stripe failure (other than a card decline) to our error tree."""
    status = exc.http_status
    detail = f"{type(exc).__name__} {status or ''}: {exc.user_message or 'no message'}"
    if exc.request_id:
        detail += f" ({exc.request_id})"
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        return SourceUnavailableError(
            source,
            f"{source} is throttled by Stripe: {detail}",
            reason="Throttled",
            retry_after=retry_after(exc.headers),
        )
    if isinstance(exc, stripe.AuthenticationError) or status == 401:
        return SourceRejectedError(
            source, f"Stripe refused the API key: {detail}", reason="Unauthorized"
        )
    if isinstance(exc, stripe.PermissionError) or status == 403:
        return SourceRejectedError(source, f"Stripe forbade the call: {detail}", reason="Forbidden")
    if isinstance(exc, stripe.IdempotencyError):
        return SourceRejectedError(
            source,
            f"Stripe saw this idempotency key with other parameters: {detail}",
            reason="IdempotencyKeyReused",
        )
    if isinstance(exc, stripe.APIConnectionError) or status is None or status >= 500:
        failed = SourceUnavailableError(
            source, f"Stripe failed: {detail}", retry_after=retry_after(exc.headers)
        )
        # Stripe saves a 500 under its idempotency key when the endpoint ran, and replays it
        # to every retry with that key; it says so with `Stripe-Should-Retry: false`.
        should_retry = _header(exc.headers, "Stripe-Should-Retry")
        if should_retry is not None:
            failed.retryable = should_retry.lower() == "true"
        return failed
    if status == 409:
        # A concurrent request with the same idempotency key is still in flight.
        return SourceRejectedError(source, f"Stripe: conflict: {detail}", reason="Conflict")
    return SourceRejectedError(source, f"Stripe rejected the request: {detail}")


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from an HTTP Retry-After header (delta-seconds or an HTTP-date), if any."""
    value = _header(headers, "Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    # aiohttp's headers are case-insensitive, but a StripeError may carry a plain dict.
    wanted = name.lower()
    return next((v for k, v in (headers or {}).items() if k.lower() == wanted), None)


# --- payments --------------------------------------------------------------------------------


class StripePayments:
    """PaymentIntents with manual capture, created and confirmed in one idempotent call."""

    provider = PROVIDER

    def __init__(self, client: stripe.StripeClient, resilience: Resilience) -> None:
        self._client = client
        self.resilience = resilience

    async def authorize(self, request: PaymentRequest) -> PaymentRecord:
        metadata = {"order_id": request.order_id}
        if request.customer_id is not None:
            # Our customer id, not a Stripe Customer (`customer=` would have to be `cus_...`
            # of this Stripe account).
            metadata["customer_id"] = request.customer_id
        params: PaymentIntentCreateParams = {
            "amount": _minor_or_reject(request.amount, PAYMENTS),
            "currency": request.amount.currency_code.lower(),
            "payment_method": request.payment_method,
            # Confirmed server-side with no page to come back to: a method that needs a
            # redirect fails at once instead of waiting for one.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "confirm": True,
            "capture_method": "manual",
            "metadata": metadata,
        }
        if request.description:
            params["description"] = request.description

        async def create() -> PaymentRecord:
            try:
                intent = await self._client.v1.payment_intents.create_async(
                    params, {"idempotency_key": request.idempotency_key}
                )
            except stripe.CardError as exc:
                return _declined(exc, request.amount)
            except stripe.InvalidRequestError as exc:
                if exc.param == "payment_method":
                    # An unknown or unusable token is the buyer's input, like a declined card
                    # (and what the sandbox answers): not a fault of ours or of Stripe's.
                    return PaymentRecord(
                        id="",
                        status=PaymentStatus.DECLINED,
                        amount=request.amount,
                        provider=PROVIDER,
                        decline_code="invalid_payment_method",
                        message=exc.user_message,
                    )
                raise translate(exc, PAYMENTS) from exc
            except stripe.StripeError as exc:
                raise translate(exc, PAYMENTS) from exc
            return _record(intent.to_dict())

        return await self.resilience.call(create, idempotent=True)

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> PaymentRecord:
        async def cancel() -> PaymentRecord:
            try:
                intent = await self._client.v1.payment_intents.cancel_async(
                    payment_id,
                    {"cancellation_reason": "abandoned"},
                    {"idempotency_key": idempotency_key},
                )
            except stripe.InvalidRequestError as exc:
                # Cancelling a canceled PaymentIntent (under a new key) is a 400 that carries
                # the PaymentIntent: the compensation already happened.
                error = exc.error
                current = error.payment_intent if error is not None else None
                if current is not None and current.to_dict().get("status") == "canceled":
                    return _record(current.to_dict())
                raise translate(exc, PAYMENTS) from exc
            except stripe.StripeError as exc:
                raise translate(exc, PAYMENTS) from exc
            return _record(intent.to_dict())

        return await self.resilience.call(cancel, idempotent=True)


def _record(intent: Mapping[str, Any]) -> PaymentRecord:
    """A PaymentIntent (or the one embedded in an error body) as our record."""
    amount = from_minor_units(int(intent["amount"]), str(intent["currency"]))
    status = str(intent["status"])
    error = intent.get("last_payment_error")
    if status == "requires_payment_method" and error:
        return PaymentRecord(
            id=str(intent["id"]),
            status=PaymentStatus.DECLINED,
            amount=amount,
            provider=PROVIDER,
            decline_code=error.get("decline_code") or error.get("code") or error.get("type"),
            message=error.get("message"),
        )
    mapped = _STATUSES.get(status)
    if mapped is None:
        # processing / requires_confirmation / requires_payment_method without an error:
        # not reachable for a card confirmed server-side; refuse rather than guess.
        raise SourceRejectedError(
            PAYMENTS,
            f"Stripe left PaymentIntent {intent['id']} in status {status!r}.",
            reason="UnexpectedStatus",
        )
    return PaymentRecord(id=str(intent["id"]), status=mapped, amount=amount, provider=PROVIDER)


def _declined(exc: stripe.CardError, requested: MoneyRecord) -> PaymentRecord:
    """A 402 card_error: Stripe's most specific reason is `decline_code`, then `code`."""
    error = exc.error
    payment_id = ""
    if error is not None and error.payment_intent is not None:
        payment_id = str(error.payment_intent.id or "")
    elif error is not None and error.charge:
        payment_id = error.charge
    decline_code = (error.decline_code or error.code) if error is not None else None
    return PaymentRecord(
        id=payment_id,
        status=PaymentStatus.DECLINED,
        amount=requested,  # what the declined PaymentIntent was for
        provider=PROVIDER,
        decline_code=decline_code or exc.code or "card_declined",
        message=(error.message if error is not None else None) or exc.user_message,
    )


def _minor_or_reject(money: MoneyRecord, source: str) -> int:
    try:
        return to_minor_units(money)
    except ValueError as exc:
        raise SourceRejectedError(source, str(exc), reason="InvalidAmount") from exc


# --- tax -------------------------------------------------------------------------------------


class StripeTax:
    """Stripe Tax calculations: amounts exclusive of tax, located by the shipping address."""

    provider = PROVIDER

    def __init__(
        self, client: stripe.StripeClient, resilience: Resilience, *, default_tax_code: str
    ) -> None:
        self._client = client
        self.resilience = resilience
        self._default_tax_code = default_tax_code

    async def calculate(self, request: TaxRequest) -> TaxRecord:
        currency = request.currency_code.upper()
        lines = [(line, _line_minor(line.amount, currency)) for line in request.lines]
        net = from_minor_units(sum(minor for _, minor in lines), currency)
        if not lines:  # Stripe wants at least one line; nothing to tax is no tax
            return TaxRecord(net=net, tax=from_minor_units(0, currency), by_line={})
        line_items: list[CalculationCreateParamsLineItem] = [
            {
                "amount": minor,
                "reference": line.reference,
                "quantity": line.quantity,
                "tax_behavior": "exclusive",
                "tax_code": line.tax_code or self._default_tax_code,
            }
            for line, minor in lines
        ]

        async def create() -> stripe.tax.Calculation:
            try:
                return await self._client.v1.tax.calculations.create_async(
                    {
                        "currency": currency.lower(),
                        "line_items": line_items,
                        "customer_details": {
                            "address": _address(request.address),
                            "address_source": "shipping",
                        },
                        "expand": ["line_items"],
                    }
                )
            except stripe.StripeError as exc:
                raise translate(exc, TAX) from exc

        # A calculation changes nothing on Stripe's side: safe to retry without a key.
        calculation = await self.resilience.call(create, idempotent=True)
        # An expanded list is only its first page: a long cart still gets its whole tax, and
        # `by_line` holds what that page itemised.
        references = {line.reference for line in request.lines}
        items = calculation.line_items.data if calculation.line_items is not None else []
        return TaxRecord(
            net=net,
            tax=from_minor_units(calculation.tax_amount_exclusive, currency),
            by_line={
                item.reference: from_minor_units(item.amount_tax, currency)
                for item in items
                if item.reference in references
            },
            calculation_id=calculation.id,
        )


def _line_minor(money: MoneyRecord, currency: str) -> int:
    if money.currency_code.upper() != currency:
        raise SourceRejectedError(
            TAX, f"a {money.currency_code} line in a {currency} calculation", reason="Invalid"
        )
    return _minor_or_reject(money, TAX)


def _address(address: TaxAddress) -> CalculationCreateParamsCustomerDetailsAddress:
    # Stripe reads an empty value as "unset this field": send only what we know.
    fields: CalculationCreateParamsCustomerDetailsAddress = {"country": address.country}
    if address.postal_code:
        fields["postal_code"] = address.postal_code
    if address.state:
        fields["state"] = address.state
    if address.city:
        fields["city"] = address.city
    if address.line1:
        fields["line1"] = address.line1
    return fields
