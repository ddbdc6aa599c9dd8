"""Payments and tax engines for tests: stripe-mock behind the fault proxy, and a fake clock.

A pytest plugin (`pytest_plugins = ["saas_fixtures"]`): stripe-mock and its proxy start once
per session on free ports; `stripe_test_mode` gives each test a clean proxy that answers
Stripe's documented test PaymentMethods as Stripe's test mode does (stripe-mock answers every
one of them with the same fixture). Test modules import from here only under TYPE_CHECKING:
a plugin module imported before pytest registers it cannot have its asserts rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engines.http_fault_proxy import HttpFaultProxy
from engines.stripe_mock import install_stripe_test_mode, start_stripe_mock


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records every wait Resilience asks for and returns at once (advancing the clock)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    """stripe-mock's base URL (see engines/stripe_mock.py)."""
    with start_stripe_mock() as url:
        yield url


@pytest.fixture(scope="session")
def stripe_proxy(stripe_mock: str) -> Iterator[HttpFaultProxy]:
    with HttpFaultProxy(stripe_mock) as proxy:
        yield proxy


@pytest.fixture
def stripe_test_mode(stripe_proxy: HttpFaultProxy) -> Iterator[HttpFaultProxy]:
    """The session's proxy, cleared, answering as Stripe's test mode; cleared again after."""
    stripe_proxy.clear()
    install_stripe_test_mode(stripe_proxy)
    yield stripe_proxy
    stripe_proxy.clear()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep(fake_clock: FakeClock) -> FakeSleep:
    return FakeSleep(fake_clock)
