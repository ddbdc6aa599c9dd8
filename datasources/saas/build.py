"""Open the payments and tax sources the settings ask for; close what they opened.

    async with open_payments(PaymentsSettings()) as payments, open_tax(TaxSettings()) as tax:
        ...

Each source gets its own `Resilience` ("Payments" / "Tax"), exposed as `source.resilience`
for the metrics endpoint; tests pass one with a fake clock and sleep. A Stripe source owns an
aiohttp session, created on its first call and closed on exit. The Stripe SDK is imported only
when the settings choose Stripe: the sandbox needs none of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from datasources.payments import SOURCE as PAYMENTS
from datasources.payments import PaymentsSource
from datasources.resilience import Resilience
from datasources.saas.sandbox import SandboxPayments, SandboxTax
from datasources.saas.settings import PaymentsSettings, TaxSettings
from datasources.tax import SOURCE as TAX
from datasources.tax import TaxSource


@asynccontextmanager
async def open_payments(
    settings: PaymentsSettings, *, resilience: Resilience | None = None
) -> AsyncIterator[PaymentsSource]:
    guard = resilience or Resilience(PAYMENTS, settings.policy())
    if settings.provider == "sandbox":
        yield SandboxPayments(guard)
        return
    import stripe

    from datasources.saas.stripe import StripePayments, stripe_client

    http = stripe.AIOHTTPClient()
    try:
        key = settings.stripe_api_key.get_secret_value()
        yield StripePayments(stripe_client(key, http, api_base=settings.api_base), guard)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe


@asynccontextmanager
async def open_tax(
    settings: TaxSettings, *, resilience: Resilience | None = None
) -> AsyncIterator[TaxSource]:
    guard = resilience or Resilience(TAX, settings.policy())
    if settings.provider == "sandbox":
        yield SandboxTax(guard)
        return
    import stripe

    from datasources.saas.stripe import StripeTax, stripe_client

    http = stripe.AIOHTTPClient()
    try:
        key = settings.stripe_api_key.get_secret_value()
        client = stripe_client(key, http, api_base=settings.api_base)
        yield StripeTax(client, guard, default_tax_code=settings.default_tax_code)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe
