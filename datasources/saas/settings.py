"""Payments and tax knobs, from the environment (`CG_PAYMENTS_` and `CG_TAX_` prefixes).

Classes of their own so the SaaS connectors can be configured without touching the main
`Settings`; `datasources.saas.build` reads them. Both default to the built-in sandbox, so
`make run` needs no Stripe account. Every variable is listed in docs/payments-tax.md.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from datasources.envsettings import EnvSettings, SecretStr, setting
from datasources.resilience import Policy

Provider = Literal["sandbox", "stripe"]

# Any "valid looking" test-mode key satisfies stripe-mock; live Stripe rejects it (401), so a
# forgotten key fails loudly as `Payments:Unauthorized` rather than charging anyone.
PLACEHOLDER_KEY = "sk_test_commercegraph_placeholder"


class PaymentsSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_PAYMENTS_"

    provider: Provider = setting(
        default="sandbox",
        description="sandbox: deterministic, in-process (test cards); stripe: the Stripe API.",
    )
    stripe_api_key: SecretStr = setting(
        default=SecretStr(PLACEHOLDER_KEY),
        env=("CG_PAYMENTS_STRIPE_API_KEY", "STRIPE_API_KEY"),
    )
    api_base: str | None = setting(
        default=None,
        description="Stripe's API base URL; None: https://api.stripe.com (stripe-mock in tests).",
    )

    # --- resilience ---
    # Confirming a PaymentIntent waits for the card network: seconds, not milliseconds.
    timeout_seconds: float = setting(default=10.0, gt=0)
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
    retries: int = setting(default=2, ge=0)
    max_concurrency: int = setting(default=32, ge=1)
    max_retry_after_seconds: float = setting(default=2.0, ge=0)

    def policy(self) -> Policy:
        return _policy(self)


class TaxSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_TAX_"

    provider: Provider = setting(
        default="sandbox",
        description="sandbox: published standard rates by country; stripe: Stripe Tax.",
    )
    stripe_api_key: SecretStr = setting(
        default=SecretStr(PLACEHOLDER_KEY),
        env=("CG_TAX_STRIPE_API_KEY", "STRIPE_API_KEY"),
    )
    api_base: str | None = setting(default=None)
    # Stripe's "General - Tangible Goods"; a line without its own code is taxed as this.
    default_tax_code: str = setting(default="txcd_99999999")

    # --- resilience ---
    # Every cart read shows taxed totals: a slow calculation must not hold the page for long.
    timeout_seconds: float = setting(default=2.0, gt=0)
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
    retries: int = setting(default=2, ge=0)
    max_concurrency: int = setting(default=32, ge=1)
    max_retry_after_seconds: float = setting(default=2.0, ge=0)

    def policy(self) -> Policy:
        return _policy(self)


def _policy(settings: PaymentsSettings | TaxSettings) -> Policy:
    return Policy(
        timeout_seconds=settings.timeout_seconds,
        failure_threshold=settings.failure_threshold,
        reset_seconds=settings.reset_seconds,
        max_concurrency=settings.max_concurrency,
        retries=settings.retries,
        max_retry_after_seconds=settings.max_retry_after_seconds,
    )
