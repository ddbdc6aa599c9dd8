"""Fixtures for the ERP adapter: the demo set's ERP rows, served by SAP CAP and by the
embedded demo ERP, and adapters opened on either.

    pytest_plugins = ["erp_fixtures"]     # in a test module, or in tests/conftest.py

`erp_data` is the demo set's ERP side plus a few rows whose keys hold single quotes (to
prove the `$filter` escaping); both servers serve exactly these rows.

PYTEST_DONT_REWRITE: test modules import helpers from here before `pytest_plugins` loads it,
and nothing here asserts, so pytest need not (and could not) rewrite it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from datasources.demo.generate import DemoData
from datasources.erp.build import ErpSources, open_erp
from datasources.erp.demo import ErpData, Row, erp_demo_data
from datasources.erp.embedded import EmbeddedErp, serve_embedded_erp
from datasources.erp.prices import utc_today
from datasources.erp.settings import ErpSettings
from datasources.resilience import Resilience
from engines.odata_service import ODataService, start_odata_service

ERP_ENGINES = ("cap", "embedded")
# Keys with quotes: a generic article, its material and a customer reference.
QUOTED_PRODUCT, QUOTED_SKU, QUOTED_CUSTOMER = "prd_o'hara", "SKU-O'HARA-1", "cus_o'neil"
QUOTED_CUSTOMER_NUMBER = "0019999999"
PAGED_SIZE = 100  # the server page size of the paging tests

OpenErp = Callable[..., AbstractAsyncContextManager[ErpSources]]


def _quoted_rows(data: ErpData) -> ErpData:
    stock: Row = {
        "Material": QUOTED_SKU, "Plant": "loc_01", "StorageLocation": "0001",
        "InventoryStockType": "01", "Product": QUOTED_PRODUCT,
        "MatlWrhsStkQtyInMatlBaseUnit": Decimal(4), "MaterialBaseUnit": "PC",
    }  # fmt: skip
    customer: Row = {
        "Customer": QUOTED_CUSTOMER_NUMBER, "CustomerName": "Aoife O'Neil",
        "ExternalReference": QUOTED_CUSTOMER,
    }  # fmt: skip
    condition: Row = {
        "ConditionRecord": "0099999999", "ConditionType": "PPR0",
        "Customer": QUOTED_CUSTOMER_NUMBER, "Material": QUOTED_SKU, "Product": QUOTED_PRODUCT,
        "Amount": Decimal("12.50"), "Currency": "USD", "ValidFrom": date(2024, 1, 1),
        "ValidTo": date(9999, 12, 31),
    }  # fmt: skip
    return replace(
        data,
        material_stock=(*data.material_stock, stock),
        customers=(*data.customers, customer),
        condition_records=(*data.condition_records, condition),
    )


@pytest.fixture(scope="session")
def erp_today() -> date:
    """The date the ERP rows were generated for (future conditions start 30 days later)."""
    return utc_today()


@pytest.fixture(scope="session")
def erp_data(demo: DemoData, erp_today: date) -> ErpData:
    return _quoted_rows(erp_demo_data(demo, today=erp_today))


@pytest.fixture(scope="session")
def cap_service(erp_data: ErpData) -> Iterator[ODataService]:
    """SAP CAP serving `erp_data`, with a page size above any one request's rows."""
    with start_odata_service(erp_data) as service:
        yield service


@pytest.fixture(scope="session")
def paged_cap_service(erp_data: ErpData) -> Iterator[ODataService]:
    """SAP CAP serving `erp_data` in pages of PAGED_SIZE rows (server-driven paging)."""
    with start_odata_service(erp_data, page_size=PAGED_SIZE) as service:
        yield service


@pytest.fixture(scope="session")
async def embedded_erp(erp_data: ErpData) -> AsyncIterator[EmbeddedErp]:
    async with serve_embedded_erp(erp_data) as server:
        yield server


@pytest.fixture(params=ERP_ENGINES)
def erp_engine(request: pytest.FixtureRequest) -> str:
    engine: str = request.param
    return engine


@pytest.fixture
def erp_urls(erp_engine: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    """(stock root, pricing root) of the engine under test; starts it on first use."""
    server: ODataService | EmbeddedErp = request.getfixturevalue(
        "cap_service" if erp_engine == "cap" else "embedded_erp"
    )
    return server.stock_url, server.pricing_url


def erp_settings(stock_url: str | None, pricing_url: str | None, **overrides: Any) -> ErpSettings:
    """A generous timeout for answer tests: the first query of a cold CAP compiles its CQN.
    Fault tests pass their own."""
    return ErpSettings(
        stock_url=stock_url, pricing_url=pricing_url, **{"timeout_seconds": 5.0, **overrides}
    )


@pytest.fixture
def open_erp_on(erp_urls: tuple[str, str]) -> OpenErp:
    """`async with open_erp_on(**settings_overrides, today=..., resilience=...) as erp:`."""

    def opener(
        *, resilience: Resilience | None = None, today: Callable[[], date] = utc_today, **kw: Any
    ) -> AbstractAsyncContextManager[ErpSources]:
        return open_erp(erp_settings(*erp_urls, **kw), resilience=resilience, today=today)

    return opener


@pytest.fixture
async def erp(open_erp_on: OpenErp) -> AsyncIterator[ErpSources]:
    """The adapter on the engine under test, with fresh counters and breaker."""
    async with open_erp_on() as sources:
        yield sources
