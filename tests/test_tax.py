"""The TaxSource contract, against Stripe Tax (stripe-mock behind the fault proxy) and the
sandbox; then the Stripe request on the wire and its failure modes, and the sandbox's rates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from datasources.envsettings import SecretStr
from datasources.errors import SourceError
from datasources.records import MoneyRecord
from datasources.resilience import BreakerState, Resilience
from datasources.saas.build import open_tax
from datasources.saas.sandbox import TAX_RATES, SandboxTax
from datasources.saas.settings import TaxSettings
from datasources.saas.stripe import StripeTax
from datasources.tax import SOURCE, TaxAddress, TaxLine, TaxRecord, TaxRequest, TaxSource
from engines.http_fault_proxy import HttpFaultProxy
from engines.stripe_mock import TAX_CALCULATIONS, TEST_KEY

if TYPE_CHECKING:
    from saas_fixtures import FakeClock, FakeSleep

pytest_plugins = ["saas_fixtures"]
pytestmark = pytest.mark.engine

PROVIDERS = ("stripe", "sandbox")
NEW_YORK = TaxAddress(country="US", postal_code="10001", state="NY", city="New York")
TOKYO = TaxAddress(country="JP", postal_code="100-0001")
API_ERROR = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}


def line(reference: str, amount: str, currency: str = "USD", **fields: Any) -> TaxLine:
    quantity = fields.pop("quantity", 1)
    return TaxLine(reference, MoneyRecord(Decimal(amount), currency), quantity, **fields)


def cart(*lines: TaxLine, currency: str = "USD", address: TaxAddress = NEW_YORK) -> TaxRequest:
    return TaxRequest(currency_code=currency, lines=lines, address=address)


def settings_for(provider: str, api_base: str | None = None, **knobs: Any) -> TaxSettings:
    return TaxSettings(
        provider=provider,
        stripe_api_key=SecretStr(TEST_KEY),
        api_base=api_base,
        **({"timeout_seconds": 5.0, "retries": 2} | knobs),
    )


def exponent(money: MoneyRecord) -> int:
    return int(money.amount.as_tuple().exponent)


@pytest.fixture(params=PROVIDERS)
def tax_settings(request: pytest.FixtureRequest) -> TaxSettings:
    if request.param == "stripe":
        proxy: HttpFaultProxy = request.getfixturevalue("stripe_test_mode")
        return settings_for("stripe", proxy.url)
    return settings_for("sandbox")


@pytest.fixture
async def tax(
    tax_settings: TaxSettings, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> AsyncIterator[TaxSource]:
    guard = Resilience(SOURCE, tax_settings.policy(), fake_clock, sleep=fake_sleep)
    async with open_tax(tax_settings, resilience=guard) as source:
        yield source


# --- the contract, on every provider ----------------------------------------------------------


async def test_totals_add_up(tax: TaxSource) -> None:
    # given
    request = cart(line("l1", "10.99", quantity=1), line("l2", "25.00", quantity=2))

    # when
    record = await tax.calculate(request)

    # then
    assert record.net == MoneyRecord(Decimal("35.99"), "USD")
    assert record.tax.currency_code == "USD"
    assert record.tax.amount > 0
    assert record.gross == record.net + record.tax
    assert exponent(record.tax) == exponent(record.net) == -2
    assert set(record.by_line) <= {"l1", "l2"}
    assert record.calculation_id


async def test_zero_decimal_currency_stays_whole(tax: TaxSource) -> None:
    record = await tax.calculate(cart(line("l1", "1235", "JPY"), currency="JPY", address=TOKYO))

    assert record.net == MoneyRecord(Decimal("1235"), "JPY")
    assert exponent(record.tax) == exponent(record.net) == 0
    assert record.gross.amount == record.net.amount + record.tax.amount


async def test_nothing_to_tax_is_no_tax(tax: TaxSource) -> None:
    record = await tax.calculate(cart())

    assert record == TaxRecord(
        net=MoneyRecord(Decimal("0.00"), "USD"), tax=MoneyRecord(Decimal("0.00"), "USD"), by_line={}
    )


async def test_a_line_in_another_currency_is_refused(tax: TaxSource) -> None:
    with pytest.raises(SourceError) as info:
        await tax.calculate(cart(line("l1", "10.00", "EUR")))

    assert info.value.source == "Tax"
    assert info.value.error_type.startswith("Tax:")


async def test_an_amount_finer_than_the_currency_is_refused(tax: TaxSource) -> None:
    with pytest.raises(SourceError) as info:
        await tax.calculate(cart(line("l1", "10.005")))

    assert info.value.error_type == "Tax:InvalidAmount"


# --- Stripe Tax --------------------------------------------------------------------------------


@pytest.fixture
async def stripe_tax(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> AsyncIterator[StripeTax]:
    settings = settings_for("stripe", stripe_test_mode.url, failure_threshold=3)
    guard = Resilience(SOURCE, settings.policy(), fake_clock, sleep=fake_sleep, rng=lambda: 0.5)
    async with open_tax(settings, resilience=guard) as source:
        assert isinstance(source, StripeTax)
        yield source


async def test_a_calculation_request_in_minor_units(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy
) -> None:
    # when
    await stripe_tax.calculate(
        cart(
            line("l1", "1234", "JPY", quantity=3),
            line("l2", "500", "JPY", tax_code="txcd_00000000"),
            currency="JPY",
            address=TOKYO,
        )
    )

    # then
    (sent,) = stripe_test_mode.requests
    assert (sent.method, sent.path) == ("POST", TAX_CALCULATIONS)
    assert sent.params == {
        "currency": "jpy",
        "line_items[0][amount]": "1234",
        "line_items[0][reference]": "l1",
        "line_items[0][quantity]": "3",
        "line_items[0][tax_behavior]": "exclusive",
        "line_items[0][tax_code]": "txcd_99999999",
        "line_items[1][amount]": "500",
        "line_items[1][reference]": "l2",
        "line_items[1][quantity]": "1",
        "line_items[1][tax_behavior]": "exclusive",
        "line_items[1][tax_code]": "txcd_00000000",
        "customer_details[address][country]": "JP",
        "customer_details[address][postal_code]": "100-0001",
        "customer_details[address_source]": "shipping",
        "expand[0]": "line_items",
    }


async def test_tax_comes_from_stripe_in_minor_units(stripe_tax: StripeTax) -> None:
    # stripe-mock's fixture calculation: tax_amount_exclusive 148
    usd = await stripe_tax.calculate(cart(line("l1", "14.99")))
    yen = await stripe_tax.calculate(cart(line("l1", "1499", "JPY"), currency="JPY"))

    assert usd.tax == MoneyRecord(Decimal("1.48"), "USD")
    assert yen.tax == MoneyRecord(Decimal("148"), "JPY")
    assert (usd.calculation_id or "").startswith("taxcalc_")


async def test_tax_per_line_when_stripe_itemises_it(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy
) -> None:
    # given: Stripe's answer itemises our two lines (stripe-mock's names a line of its own)
    items = [
        {"object": "tax.calculation_line_item", "id": f"tax_li_{ref}", "reference": ref,
         "amount": amount, "amount_tax": tax, "quantity": 1, "tax_behavior": "exclusive",
         "tax_code": "txcd_99999999", "livemode": False}
        for ref, amount, tax in (("l1", 1000, 89), ("l2", 499, 44))
    ]  # fmt: skip
    stripe_test_mode.amend(
        "POST",
        TAX_CALCULATIONS,
        {"line_items": {"object": "list", "data": items, "has_more": False, "url": "/v1/x"}},
    )

    # when
    record = await stripe_tax.calculate(cart(line("l1", "10.00"), line("l2", "4.99")))

    # then
    assert record.by_line == {
        "l1": MoneyRecord(Decimal("0.89"), "USD"),
        "l2": MoneyRecord(Decimal("0.44"), "USD"),
    }


async def test_nothing_to_tax_asks_stripe_nothing(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy
) -> None:
    await stripe_tax.calculate(cart())

    assert stripe_test_mode.count() == 0


async def test_a_failing_stripe_is_retried_then_unavailable(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy
) -> None:
    # given
    stripe_test_mode.respond("POST", TAX_CALCULATIONS, status=502, json=API_ERROR)

    # when
    with pytest.raises(SourceError) as info:
        await stripe_tax.calculate(cart(line("l1", "10.00")))

    # then
    assert info.value.error_type == "Tax:Unavailable"
    assert stripe_test_mode.count() == 3


async def test_throttled_calculations(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.respond(
        "POST",
        TAX_CALCULATIONS,
        status=429,
        json={"error": {"type": "invalid_request_error", "message": "Too many requests."}},
        headers={"Retry-After": "0.5"},
    )

    # when
    with pytest.raises(SourceError) as info:
        await stripe_tax.calculate(cart(line("l1", "10.00")))

    # then
    assert info.value.error_type == "Tax:Throttled"
    assert fake_sleep.waits == [0.5, 0.5]


async def test_a_slow_calculation_times_out(
    stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    # given
    stripe_test_mode.delay("POST", TAX_CALCULATIONS, 2.0)
    settings = settings_for("stripe", stripe_test_mode.url, timeout_seconds=0.2)

    # when
    async with open_tax(settings, resilience=Resilience(SOURCE, settings.policy())) as source:
        with pytest.raises(SourceError) as info:
            await source.calculate(cart(line("l1", "10.00")))

    # then
    assert info.value.error_type == "Tax:Timeout"


async def test_the_breaker_opens_and_spares_stripe(
    stripe_tax: StripeTax, stripe_test_mode: HttpFaultProxy, fake_clock: FakeClock
) -> None:
    # given: three failing calls (threshold 3), each retried twice
    stripe_test_mode.respond("POST", TAX_CALCULATIONS, status=500, json=API_ERROR)
    with pytest.raises(SourceError) as info:
        await stripe_tax.calculate(cart(line("l1", "10.00")))
    assert stripe_test_mode.count() == 3

    # when
    with pytest.raises(SourceError) as info:
        await stripe_tax.calculate(cart(line("l1", "10.00")))

    # then
    assert info.value.error_type == "Tax:CircuitOpen"
    assert stripe_test_mode.count() == 3

    # and: after the cool-down, a probe that succeeds closes it
    stripe_test_mode.clear()
    fake_clock.advance(60.0)
    await stripe_tax.calculate(cart(line("l1", "10.00")))
    assert stripe_tax.resilience.breaker.state is BreakerState.CLOSED


# --- sandbox rates -----------------------------------------------------------------------------


@pytest.fixture
def sandbox(fake_clock: FakeClock, fake_sleep: FakeSleep) -> SandboxTax:
    return SandboxTax(
        Resilience(SOURCE, settings_for("sandbox").policy(), fake_clock, sleep=fake_sleep)
    )


@pytest.mark.parametrize(
    ("country", "currency", "net", "expected"),
    [
        ("DE", "EUR", "10.00", "1.90"),  # 19 %
        ("GB", "GBP", "9.99", "2.00"),  # 20 %: 1.998
        ("US", "USD", "9.99", "0.89"),  # 8.875 %: 0.8866125
        ("JP", "JPY", "1235", "124"),  # 10 %: 123.5, half up
        ("CH", "CHF", "100.00", "8.10"),  # 8.1 %
        ("BR", "BRL", "100.00", "0.00"),  # not in the table
    ],
)
async def test_sandbox_rates(
    sandbox: SandboxTax, country: str, currency: str, net: str, expected: str
) -> None:
    request = cart(line("l1", net, currency), currency=currency, address=TaxAddress(country))

    record = await sandbox.calculate(request)

    assert record.tax == MoneyRecord(Decimal(expected), currency)
    assert record.by_line == {"l1": record.tax}


async def test_sandbox_rounds_each_line(sandbox: SandboxTax) -> None:
    # given: 5 % of 0.10 is 0.005 a line: 0.01 each, where the total would round 0.015 to 0.02
    lines = [line(f"l{n}", "0.10", "CAD") for n in range(3)]

    # when
    record = await sandbox.calculate(cart(*lines, currency="CAD", address=TaxAddress("CA")))

    # then
    assert record.tax == MoneyRecord(Decimal("0.03"), "CAD")


async def test_sandbox_nontaxable_code(sandbox: SandboxTax) -> None:
    request = cart(line("l1", "10.00", tax_code="txcd_00000000"), line("l2", "10.00"))

    record = await sandbox.calculate(request)

    assert record.by_line["l1"] == MoneyRecord(Decimal("0.00"), "USD")
    assert record.by_line["l2"] == MoneyRecord(Decimal("0.89"), "USD")


async def test_sandbox_is_deterministic(fake_clock: FakeClock, fake_sleep: FakeSleep) -> None:
    policy = settings_for("sandbox").policy()
    request = cart(line("l1", "10.99"), line("l2", "3.50", quantity=2))

    one = await SandboxTax(Resilience(SOURCE, policy, fake_clock, sleep=fake_sleep)).calculate(
        request
    )
    two = await SandboxTax(Resilience(SOURCE, policy, fake_clock, sleep=fake_sleep)).calculate(
        request
    )

    assert one == two
    assert (one.calculation_id or "").startswith("taxcalc_sandbox_")


def test_sandbox_rates_are_published_percentages() -> None:
    assert all(Decimal(0) <= rate < Decimal(30) for rate in TAX_RATES.values())
    assert all(len(country) == 2 and country.isupper() for country in TAX_RATES)
