"""Payments (a SaaS provider: Stripe, or the built-in sandbox for `make run`).

A checkout authorizes the order's gross amount (manual capture: the money is held, and taken
when the order ships) and, if the order then fails to commit, cancels that authorization.
Both calls carry an idempotency key derived from the order, so a retried checkout never
authorizes twice: the provider answers a repeated key with the original PaymentIntent.

A decline is an answer, not a fault: `authorize` returns a record with status DECLINED and
the provider's decline code. Faults (timeouts, 5xx, 429, an open breaker) are `SourceError`s
of the `Payments` source.
"""

from __future__ import annotations

import enum
from typing import Protocol

from datasources import frozen
from datasources.records import MoneyRecord

SOURCE = "Payments"


class PaymentStatus(enum.StrEnum):
    AUTHORIZED = "AUTHORIZED"  # held on the card; captured on fulfilment
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REQUIRES_ACTION = "REQUIRES_ACTION"  # 3-D Secure or similar: the head must act
    CANCELED = "CANCELED"  # the authorization was released


@frozen.record
class PaymentRequest:
    order_id: str
    amount: MoneyRecord
    payment_method: str  # a provider token: Stripe's `pm_...` (test: `pm_card_visa`)
    idempotency_key: str  # derived from the order's idempotency key by the caller
    customer_id: str | None = None
    description: str | None = None


@frozen.record
class PaymentRecord:
    id: str  # the provider's id (Stripe: `pi_...`)
    status: PaymentStatus
    amount: MoneyRecord
    provider: str  # "stripe" | "sandbox"
    decline_code: str | None = None  # provider's code when DECLINED (e.g. "card_declined")
    message: str | None = None  # provider's human-readable reason when DECLINED


class PaymentsSource(Protocol):
    async def authorize(self, request: PaymentRequest) -> PaymentRecord:
        """Create and confirm a payment for `request.amount` (manual capture), idempotently."""
        ...

    async def cancel(self, payment_id: str, *, idempotency_key: str) -> PaymentRecord:
        """Release an authorization (compensation when the order did not commit). Idempotent:
        cancelling a canceled payment returns it."""
        ...
