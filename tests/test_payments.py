"""The PaymentsSource contract, against Stripe (stripe-mock behind the fault proxy) and the
sandbox; then what only the Stripe source does: idempotency keys on the wire, and every
failure mode through Resilience (retries, Retry-After, timeout, breaker), counted at the proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from datasources.envsettings import SecretStr
from datasources.errors import SourceError
from datasources.payments import (
    SOURCE,
    PaymentRecord,
    PaymentRequest,
    PaymentsSource,
    PaymentStatus,
)
from datasources.records import MoneyRecord
from datasources.resilience import BreakerState, Resilience
from datasources.saas.build import open_payments
from datasources.saas.sandbox import SandboxPayments
from datasources.saas.settings import PaymentsSettings
from datasources.saas.stripe import StripePayments
from engines.http_fault_proxy import HttpFaultProxy
from engines.stripe_mock import PAYMENT_INTENTS, TEST_KEY, UNKNOWN_PAYMENT_METHOD

if TYPE_CHECKING:
    from saas_fixtures import FakeClock, FakeSleep

pytest_plugins = ["saas_fixtures"]
pytestmark = pytest.mark.engine

PROVIDERS = ("stripe", "sandbox")
USD_10 = MoneyRecord(Decimal("10.99"), "USD")


def payment(key: str = "order-1:pay", **overrides: Any) -> PaymentRequest:
    fields: dict[str, Any] = {
        "order_id": "order-1",
        "amount": USD_10,
        "payment_method": "pm_card_visa",
        "idempotency_key": key,
    }
    return PaymentRequest(**(fields | overrides))


def settings_for(provider: str, api_base: str | None = None, **knobs: Any) -> PaymentsSettings:
    return PaymentsSettings(
        provider=provider,
        stripe_api_key=SecretStr(TEST_KEY),
        api_base=api_base,
        **({"timeout_seconds": 5.0, "retries": 2} | knobs),
    )


@pytest.fixture(params=PROVIDERS)
def payments_settings(request: pytest.FixtureRequest) -> PaymentsSettings:
    if request.param == "stripe":
        proxy: HttpFaultProxy = request.getfixturevalue("stripe_test_mode")
        return settings_for("stripe", proxy.url)
    return settings_for("sandbox")


@pytest.fixture
async def payments(
    payments_settings: PaymentsSettings, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> AsyncIterator[PaymentsSource]:
    guard = Resilience(SOURCE, payments_settings.policy(), fake_clock, sleep=fake_sleep)
    async with open_payments(payments_settings, resilience=guard) as source:
        yield source


# --- the contract, on every provider ----------------------------------------------------------


async def test_authorize_holds_the_amount(payments: PaymentsSource) -> None:
    # when
    record = await payments.authorize(payment())

    # then
    assert record.status is PaymentStatus.AUTHORIZED
    assert record.id.startswith("pi_")
    assert record.amount == USD_10
    assert record.decline_code is None


async def test_zero_decimal_currency_keeps_its_amount(payments: PaymentsSource) -> None:
    # given
    yen = MoneyRecord(Decimal("1234"), "JPY")

    # when
    record = await payments.authorize(payment(amount=yen))

    # then
    assert record.status is PaymentStatus.AUTHORIZED
    assert record.amount == yen


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        (UNKNOWN_PAYMENT_METHOD, "invalid_payment_method"),
    ],
)
async def test_a_decline_is_an_answer(
    payments: PaymentsSource, method: str, decline_code: str
) -> None:
    # when
    record = await payments.authorize(payment(payment_method=method))

    # then
    assert record.status is PaymentStatus.DECLINED
    assert record.decline_code == decline_code
    assert record.message
    assert record.amount == USD_10


async def test_authentication_required(payments: PaymentsSource) -> None:
    record = await payments.authorize(payment(payment_method="pm_card_authenticationRequired"))

    assert record.status is PaymentStatus.REQUIRES_ACTION


async def test_same_key_answers_the_same_payment(payments: PaymentsSource) -> None:
    # given
    first = await payments.authorize(payment())

    # when
    again = await payments.authorize(payment())

    # then
    assert again == first


async def test_same_key_for_another_amount_is_refused(payments: PaymentsSource) -> None:
    # given
    await payments.authorize(payment())

    # when
    with pytest.raises(SourceError) as info:
        await payments.authorize(payment(amount=MoneyRecord(Decimal("11.99"), "USD")))

    # then
    assert info.value.error_type == "Payments:IdempotencyKeyReused"


async def test_cancel_releases_the_authorization(payments: PaymentsSource) -> None:
    # given
    held = await payments.authorize(payment())

    # when
    released = await payments.cancel(held.id, idempotency_key="order-1:cancel")
    again = await payments.cancel(held.id, idempotency_key="order-1:cancel")

    # then
    assert released.status is PaymentStatus.CANCELED
    assert released.id == held.id
    assert released.amount == held.amount
    assert again == released


async def test_an_amount_finer_than_the_currency_is_refused(payments: PaymentsSource) -> None:
    with pytest.raises(SourceError) as info:
        await payments.authorize(payment(amount=MoneyRecord(Decimal("10.005"), "USD")))

    assert info.value.error_type == "Payments:InvalidAmount"


# --- Stripe: the wire ----------------------------------------------------------------------


@asynccontextmanager
async def stripe_payments(
    proxy: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep, **knobs: Any
) -> AsyncIterator[StripePayments]:
    settings = settings_for("stripe", proxy.url, **knobs)
    guard = Resilience(SOURCE, settings.policy(), fake_clock, sleep=fake_sleep, rng=lambda: 0.5)
    async with open_payments(settings, resilience=guard) as source:
        assert isinstance(source, StripePayments)
        yield source


@pytest.fixture
async def stripe(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> AsyncIterator[StripePayments]:
    async with stripe_payments(stripe_test_mode, fake_clock, fake_sleep) as source:
        yield source


async def test_a_payment_intent_is_created_and_confirmed_for_manual_capture(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy
) -> None:
    # when
    await stripe.authorize(payment(amount=MoneyRecord(Decimal("1234"), "JPY"), customer_id="c1"))

    # then
    (sent,) = stripe_test_mode.requests
    assert (sent.method, sent.path) == ("POST", PAYMENT_INTENTS)
    assert sent.idempotency_key == "order-1:pay"
    assert sent.params["amount"] == "1234"  # JPY has no minor unit
    assert sent.params["currency"] == "jpy"
    assert sent.params["confirm"] == "true"
    assert sent.params["capture_method"] == "manual"
    assert sent.params["payment_method"] == "pm_card_visa"
    assert sent.params["metadata[order_id]"] == "order-1"
    assert sent.params["metadata[customer_id]"] == "c1"


async def test_amounts_go_in_minor_units(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy
) -> None:
    await stripe.authorize(payment(amount=MoneyRecord(Decimal("10.99"), "USD"), key="a"))
    await stripe.authorize(payment(amount=MoneyRecord(Decimal("1.23"), "KWD"), key="b"))

    # KWD has three decimals (and Stripe wants its amounts in tens of fils)
    assert [r.params["amount"] for r in stripe_test_mode.requests] == ["1099", "1230"]


async def test_cancel_carries_its_key(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy
) -> None:
    # given
    held = await stripe.authorize(payment())

    # when
    await stripe.cancel(held.id, idempotency_key="order-1:cancel")

    # then
    sent = stripe_test_mode.requests[-1]
    assert sent.path == f"{PAYMENT_INTENTS}/{held.id}/cancel"
    assert sent.idempotency_key == "order-1:cancel"


async def test_the_key_is_stable_across_retries(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given: Stripe fails once before the endpoint runs
    stripe_test_mode.respond("POST", PAYMENT_INTENTS, status=500, json=API_ERROR, times=1)

    # when
    record = await stripe.authorize(payment())

    # then
    assert record.status is PaymentStatus.AUTHORIZED
    keys = [r.idempotency_key for r in stripe_test_mode.requests]
    assert keys == ["order-1:pay", "order-1:pay"]
    assert len(fake_sleep.waits) == 1
    assert stripe.resilience.metrics.retries == 1


async def test_a_stored_decline_is_replayed_not_recharged(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy
) -> None:
    # given
    declined = payment(payment_method="pm_card_chargeDeclined")
    first = await stripe.authorize(declined)

    # when
    again = await stripe.authorize(declined)

    # then
    assert again == first
    assert again.status is PaymentStatus.DECLINED
    assert again.id.startswith("pi_")


# --- Stripe: failures ----------------------------------------------------------------------

API_ERROR = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
RATE_LIMITED = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly.",
    }
}


async def test_server_errors_are_retried_then_unavailable(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.respond("POST", PAYMENT_INTENTS, status=500, json=API_ERROR)

    # when
    with pytest.raises(SourceError) as info:
        await stripe.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Unavailable"
    assert info.value.retryable
    assert stripe_test_mode.count("POST", PAYMENT_INTENTS) == 3  # 1 + retries=2
    assert len(fake_sleep.waits) == 2


async def test_a_500_stripe_will_replay_is_not_retried(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy
) -> None:
    # given
    stripe_test_mode.respond(
        "POST",
        PAYMENT_INTENTS,
        status=500,
        json=API_ERROR,
        headers={"Stripe-Should-Retry": "false"},
    )

    # when
    with pytest.raises(SourceError) as info:
        await stripe.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Unavailable"
    assert stripe_test_mode.count() == 1


async def test_throttling_waits_as_long_as_stripe_asks(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.respond(
        "POST",
        PAYMENT_INTENTS,
        status=429,
        json=RATE_LIMITED,
        headers={"Retry-After": "1.5"},
        times=1,
    )

    # when
    record = await stripe.authorize(payment())

    # then
    assert record.status is PaymentStatus.AUTHORIZED
    assert fake_sleep.waits == [1.5]  # the jittered backoff (at most 25 ms) is shorter
    assert stripe_test_mode.count() == 2


async def test_persistent_throttling_is_throttled(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.respond(
        "POST", PAYMENT_INTENTS, status=429, json=RATE_LIMITED, headers={"Retry-After": "1"}
    )

    # when
    with pytest.raises(SourceError) as info:
        await stripe.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Throttled"
    assert info.value.retry_after == 1.0
    assert fake_sleep.waits == [1.0, 1.0]


async def test_a_retry_after_too_long_is_not_waited_out(
    stripe: StripePayments, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.respond(
        "POST", PAYMENT_INTENTS, status=429, json=RATE_LIMITED, headers={"Retry-After": "60"}
    )

    # when
    with pytest.raises(SourceError) as info:
        await stripe.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Throttled"
    assert fake_sleep.waits == []
    assert stripe_test_mode.count() == 1


async def test_a_slow_stripe_times_out(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.delay("POST", PAYMENT_INTENTS, 2.0)

    # when
    async with stripe_payments(
        stripe_test_mode, fake_clock, fake_sleep, timeout_seconds=0.2
    ) as source:
        with pytest.raises(SourceError) as info:
            await source.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Timeout"
    assert stripe_test_mode.count() == 1  # a timeout is not retried: it may have run


async def test_the_breaker_stops_calls_until_a_probe_succeeds(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    async with stripe_payments(
        stripe_test_mode, fake_clock, fake_sleep, failure_threshold=3, retries=0, reset_seconds=30.0
    ) as source:
        # given: three failures in a row
        stripe_test_mode.respond("POST", PAYMENT_INTENTS, status=503, json=API_ERROR)
        for n in range(3):
            with pytest.raises(SourceError) as info:
                await source.authorize(payment(key=f"k{n}"))
            assert info.value.error_type == "Payments:Unavailable"

        # when: the breaker is open, nothing reaches Stripe
        with pytest.raises(SourceError) as info:
            await source.authorize(payment(key="k3"))
        assert info.value.error_type == "Payments:CircuitOpen"
        assert stripe_test_mode.count() == 3

        # then: after the cool-down, Stripe is back and one probe closes the breaker
        stripe_test_mode.clear()
        fake_clock.advance(30.0)
        record = await source.authorize(payment(key="k4"))
        assert record.status is PaymentStatus.AUTHORIZED
        assert stripe_test_mode.count() == 1
        assert source.resilience.breaker.state is BreakerState.CLOSED


async def test_a_decline_does_not_trip_the_breaker(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    async with stripe_payments(
        stripe_test_mode, fake_clock, fake_sleep, failure_threshold=1
    ) as source:
        for n in range(3):
            record = await source.authorize(
                payment(key=f"d{n}", payment_method="pm_card_chargeDeclined")
            )
            assert record.status is PaymentStatus.DECLINED
        assert source.resilience.breaker.state is BreakerState.CLOSED


async def test_a_bad_api_key_is_unauthorized(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    # given: stripe-mock itself refuses a key that is not a test-mode secret key
    settings = settings_for("stripe", stripe_test_mode.url).replace(
        stripe_api_key=SecretStr("not-a-key")
    )

    # when
    async with open_payments(settings) as source:
        with pytest.raises(SourceError) as info:
            await source.authorize(payment())

    # then
    assert info.value.error_type == "Payments:Unauthorized"
    assert stripe_test_mode.count() == 1


async def test_an_unreachable_stripe_is_unavailable(
    unused_tcp_port: int, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    settings = settings_for("stripe", f"http://127.0.0.1:{unused_tcp_port}")
    guard = Resilience(SOURCE, settings.policy(), fake_clock, sleep=fake_sleep)
    async with open_payments(settings, resilience=guard) as source:
        with pytest.raises(SourceError) as info:
            await source.authorize(payment())

    assert info.value.error_type == "Payments:Unavailable"
    assert len(fake_sleep.waits) == 2


# --- sandbox ---------------------------------------------------------------------------------


@pytest.fixture
def sandbox(fake_clock: FakeClock, fake_sleep: FakeSleep) -> SandboxPayments:
    return SandboxPayments(
        Resilience(SOURCE, settings_for("sandbox").policy(), fake_clock, sleep=fake_sleep)
    )


@pytest.mark.parametrize(
    ("number", "status", "decline_code"),
    [
        ("4242424242424242", PaymentStatus.AUTHORIZED, None),
        ("4000000000000002", PaymentStatus.DECLINED, "generic_decline"),
        ("4000000000009995", PaymentStatus.DECLINED, "insufficient_funds"),
        ("4000002760003184", PaymentStatus.REQUIRES_ACTION, None),
    ],
)
async def test_sandbox_takes_raw_test_card_numbers(
    sandbox: SandboxPayments, number: str, status: PaymentStatus, decline_code: str | None
) -> None:
    record = await sandbox.authorize(payment(payment_method=number))

    assert (record.status, record.decline_code) == (status, decline_code)


async def test_sandbox_is_deterministic(fake_clock: FakeClock, fake_sleep: FakeSleep) -> None:
    # given: two processes' worth of sandboxes
    policy = settings_for("sandbox").policy()
    one = SandboxPayments(Resilience(SOURCE, policy, fake_clock, sleep=fake_sleep))
    two = SandboxPayments(Resilience(SOURCE, policy, fake_clock, sleep=fake_sleep))

    # when
    answers: list[PaymentRecord] = [await s.authorize(payment()) for s in (one, two)]

    # then
    assert answers[0] == answers[1]


async def test_sandbox_cancel_of_an_unknown_payment_is_refused(sandbox: SandboxPayments) -> None:
    with pytest.raises(SourceError) as info:
        await sandbox.cancel("pi_unknown", idempotency_key="x")

    assert info.value.error_type == "Payments:NotFound"


async def test_sandbox_calls_are_counted(sandbox: SandboxPayments) -> None:
    await sandbox.authorize(payment())

    assert sandbox.resilience.metrics.calls == 1
    assert sandbox.resilience.metrics.successes == 1
