"""The ERP adapter over OData v4: one contract suite run against SAP CAP and the embedded demo
ERP alike, request counts, server paging, and faults through a TCP proxy in front of CAP."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from datasources.demo.generate import DemoData, product_id
from datasources.envsettings import SecretStr
from datasources.erp.build import ErpSources, open_erp
from datasources.erp.demo import ErpData
from datasources.erp.embedded import EmbeddedErp, serve_embedded_erp
from datasources.erp.odata import SOURCE, error_message, literal, parse_retry_after
from datasources.erp.settings import ErpSettings
from datasources.errors import (
    CircuitOpenError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.inventory import LiveStockRecord
from datasources.pricing import ContractPriceRecord
from datasources.records import Channel
from datasources.resilience import BreakerState, Resilience
from engines.odata_service import ODataService
from engines.tcp_proxy import TcpProxy
from erp_fixtures import (
    PAGED_SIZE,
    QUOTED_CUSTOMER,
    QUOTED_PRODUCT,
    QUOTED_SKU,
    OpenErp,
    erp_settings,
)

pytest_plugins = ["erp_fixtures"]
pytestmark = pytest.mark.engine

PAGE = [product_id(n) for n in range(1, 101)]
CONTRACT_CUSTOMER, NO_CONTRACT_CUSTOMER = "cus_0001", "cus_0020"
CENTS = Decimal("0.01")


def stock_requests(erp: ErpSources) -> int:
    assert erp.client is not None
    return erp.client.requests["MaterialStock"]


def price_requests(erp: ErpSources) -> int:
    assert erp.client is not None
    return erp.client.requests["ConditionRecord"]


def demo_stock(demo: DemoData, pid: str) -> dict[str, dict[str, int]]:
    """What the ERP must answer: the demo quantities, per SKU and location."""
    n = int(pid.removeprefix("prd_"))
    product, stock = demo.products[n - 1], demo.stock[n - 1]
    return {
        v.sku: {loc: level.quantity for loc, level in stock.levels(v.id).items()}
        for v in product.variants
    }


def demo_contract(demo: DemoData, pid: str, factor: str = "0.90") -> dict[str, Decimal]:
    """The demo contract price per SKU: the WEB list price times `factor`, to the cent."""
    n = int(pid.removeprefix("prd_"))
    product, prices = demo.products[n - 1], demo.prices[n - 1]
    out = {}
    for variant in product.variants:
        web_price = prices.price(variant.id, Channel.WEB)
        assert web_price is not None
        amount = web_price.price.amount * Decimal(factor)
        out[variant.sku] = amount.quantize(CENTS, rounding=ROUND_HALF_UP)
    return out


def amounts(prices: Sequence[Mapping[str, ContractPriceRecord]]) -> list[dict[str, Decimal]]:
    return [{sku: r.price.amount for sku, r in p.items()} for p in prices]


# --- the contract suite: CAP and the embedded ERP answer alike -----------------------------


async def test_live_stock_sums_storage_locations_per_plant(erp: ErpSources, demo: DemoData) -> None:
    # when
    records = await erp.stock.live_stock_by_product(PAGE)

    # then: quality-inspection stock is left out, storage locations are summed per plant
    assert [r.product_id if r else None for r in records] == PAGE
    assert {r.product_id: r.by_sku for r in records if r} == {
        pid: demo_stock(demo, pid) for pid in PAGE
    }
    assert stock_requests(erp) == 1


async def test_live_stock_keeps_order_duplicates_and_misses(
    erp: ErpSources, demo: DemoData
) -> None:
    # given
    ids = ["prd_99999", "prd_00002", "prd_00001", "prd_00002"]

    # when
    records = await erp.stock.live_stock_by_product(ids)

    # then
    assert records[0] is None
    assert records[1] == records[3] == LiveStockRecord("prd_00002", demo_stock(demo, "prd_00002"))
    assert records[2] == LiveStockRecord("prd_00001", demo_stock(demo, "prd_00001"))
    assert stock_requests(erp) == 1


async def test_empty_batches_send_nothing(erp: ErpSources) -> None:
    assert await erp.stock.live_stock_by_product([]) == []
    assert await erp.prices.contract_prices(CONTRACT_CUSTOMER, []) == []
    assert stock_requests(erp) == price_requests(erp) == 0


async def test_contract_prices_of_a_page_in_one_request(erp: ErpSources, demo: DemoData) -> None:
    # when
    prices = await erp.prices.contract_prices(CONTRACT_CUSTOMER, PAGE)

    # then: today's condition, not the expired or the future one beside it
    assert amounts(prices) == [demo_contract(demo, pid) for pid in PAGE]
    record = next(iter(prices[0].values()))
    assert record.price.currency_code == "USD"
    assert record.condition_id.isdigit()
    assert len(record.condition_id) == 10
    assert {r.sku for p in prices for r in p.values()} == {
        v.sku for p in demo.products[:100] for v in p.variants
    }
    assert price_requests(erp) == 1


@pytest.mark.parametrize("customer", [NO_CONTRACT_CUSTOMER, "cus_9999"])
async def test_customers_without_contract_get_empty_maps(erp: ErpSources, customer: str) -> None:
    prices = await erp.prices.contract_prices(customer, PAGE[:10])

    assert prices == [{}] * 10
    assert price_requests(erp) == 1


async def test_validity_is_evaluated_for_the_day_asked(
    open_erp_on: OpenErp, demo: DemoData, erp_today: date
) -> None:
    # given: every seventh product has an expired (2023) and a future condition
    ids = ["prd_00006", "prd_00007", "prd_00014"]

    # when
    async with open_erp_on(today=lambda: erp_today + timedelta(days=30)) as later:
        future = await later.prices.contract_prices(CONTRACT_CUSTOMER, ids)
    async with open_erp_on(today=lambda: date(2023, 6, 30)) as earlier:
        expired = await earlier.prices.contract_prices(CONTRACT_CUSTOMER, ids)
    async with open_erp_on(today=lambda: date(2022, 6, 30)) as before:
        none = await before.prices.contract_prices(CONTRACT_CUSTOMER, ids)

    # then
    assert amounts(future) == [
        demo_contract(demo, "prd_00006"),
        demo_contract(demo, "prd_00007", "0.80"),
        demo_contract(demo, "prd_00014", "0.80"),
    ]
    assert amounts(expired) == [
        {},
        demo_contract(demo, "prd_00007", "0.85"),
        demo_contract(demo, "prd_00014", "0.85"),
    ]
    assert none == [{}, {}, {}]


async def test_more_keys_than_one_request_takes_are_split(erp: ErpSources, demo: DemoData) -> None:
    # given: 250 products, 100 keys per request
    ids = [product_id(n) for n in range(1, 251)]

    # when
    stock = await erp.stock.live_stock_by_product(ids)
    prices = await erp.prices.contract_prices(CONTRACT_CUSTOMER, ids)

    # then: 100 + 100 + 50 keys; products 241-250 are not in the demo set
    assert stock_requests(erp) == price_requests(erp) == 3
    assert [r.by_sku if r else None for r in stock] == [
        demo_stock(demo, pid) for pid in ids[:240]
    ] + [None] * 10
    assert amounts(prices) == [demo_contract(demo, pid) for pid in ids[:240]] + [{}] * 10


async def test_quotes_in_keys_are_escaped(erp: ErpSources) -> None:
    # when
    stock = await erp.stock.live_stock_by_product([QUOTED_PRODUCT, "prd_o'"])
    prices = await erp.prices.contract_prices(QUOTED_CUSTOMER, [QUOTED_PRODUCT])

    # then
    assert stock == [LiveStockRecord(QUOTED_PRODUCT, {QUOTED_SKU: {"loc_01": 4}}), None]
    assert amounts(prices) == [{QUOTED_SKU: Decimal("12.50")}]
    assert literal("o'hara") == "'o''hara'"


async def test_a_wrong_query_is_rejected_with_the_servers_message(erp: ErpSources) -> None:
    # given
    assert erp.client is not None
    assert erp.stock_url is not None

    # when
    with pytest.raises(SourceRejectedError) as unknown_set:
        await erp.client.read(erp.stock_url, "NoSuchSet", filter="Plant eq 'x'", select=["Plant"])
    with pytest.raises(SourceRejectedError) as unknown_property:
        await erp.client.read(erp.stock_url, "MaterialStock", filter="Bogus eq 1", select=["Plant"])

    # then: the source answered, so no retry and the breaker stays closed
    assert unknown_set.value.error_type == "ERP:Rejected"
    assert "404" in unknown_set.value.message
    assert "NoSuchSet" in unknown_set.value.message
    assert "Bogus" in unknown_property.value.message
    assert erp.client.requests["NoSuchSet"] == 1
    assert stock_requests(erp) == 1
    assert erp.client.resilience.breaker.state is BreakerState.CLOSED


FILTERS = [
    "Product eq 'prd_00001' or Product eq 'prd_00002'",
    "(Product le 'prd_00005' or Material eq 'SKU-000009-1') and InventoryStockType ne '01'",
    "Product in ('prd_00005','prd_00006') and not (Plant eq 'loc_01') and Plant le 'loc_04'",
    "Product eq 'prd_00007' and MatlWrhsStkQtyInMatlBaseUnit gt 30",
    "Material eq 'SKU-000008-1' and Product ne null",
]


@pytest.mark.parametrize("where", FILTERS)
async def test_embedded_erp_filters_as_cap_does(
    cap_service: ODataService, embedded_erp: EmbeddedErp, where: str
) -> None:
    # given
    select = ["Material", "Plant", "StorageLocation", "InventoryStockType"]
    answers = []

    # when
    for root in (cap_service.stock_url, embedded_erp.stock_url):
        async with open_erp(erp_settings(root, None)) as erp:
            assert erp.client is not None
            rows = await erp.client.read(root, "MaterialStock", filter=where, select=select)
        answers.append(sorted(tuple(row[c] for c in select) for row in rows))

    # then
    assert answers[0], "the filter should match some rows"
    assert answers[0] == answers[1]


# --- server-driven paging ------------------------------------------------------------------


def unrestricted_rows(data: ErpData, ids: Sequence[str]) -> int:
    wanted = set(ids)
    return sum(
        1
        for row in data.material_stock
        if row["Product"] in wanted and row["InventoryStockType"] == "01"
    )


async def test_cap_pages_are_followed_through_next_links(
    paged_cap_service: ODataService, erp_data: ErpData, demo: DemoData
) -> None:
    # given: CAP answers at most 100 rows per response
    settings = erp_settings(paged_cap_service.stock_url, paged_cap_service.pricing_url)
    rows = unrestricted_rows(erp_data, PAGE)
    assert rows > 3 * PAGED_SIZE

    # when
    async with open_erp(settings) as erp:
        records = await erp.stock.live_stock_by_product(PAGE)

        # then: CAP sends a nextLink after every full page, even the last one
        assert [r.by_sku if r else None for r in records] == [demo_stock(demo, p) for p in PAGE]
        assert stock_requests(erp) == rows // PAGED_SIZE + 1


async def test_embedded_pages_honour_prefer_maxpagesize(
    embedded_erp: EmbeddedErp, erp_data: ErpData, demo: DemoData
) -> None:
    # given: the client asks for pages of 100 rows (`Prefer: odata.maxpagesize=100`)
    settings = erp_settings(
        embedded_erp.stock_url, embedded_erp.pricing_url, max_page_size=PAGED_SIZE
    )
    rows = unrestricted_rows(erp_data, PAGE)

    # when
    async with open_erp(settings) as erp:
        records = await erp.stock.live_stock_by_product(PAGE)

        # then
        assert [r.by_sku if r else None for r in records] == [demo_stock(demo, p) for p in PAGE]
        assert stock_requests(erp) == math.ceil(rows / PAGED_SIZE)


# --- faults: a TCP proxy in front of CAP ----------------------------------------------------


@pytest.fixture
def cap_proxy(cap_service: ODataService) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", cap_service.port) as proxy:
        yield proxy


def proxied(proxy: TcpProxy, **overrides: Any) -> ErpSettings:
    base = f"http://127.0.0.1:{proxy.port}/odata/v4"
    return ErpSettings(stock_url=f"{base}/stock", pricing_url=f"{base}/pricing", **overrides)


async def test_slower_than_the_timeout_is_erp_timeout(cap_proxy: TcpProxy) -> None:
    # given
    cap_proxy.delay(1.0)

    # when
    async with open_erp(proxied(cap_proxy, timeout_seconds=0.3)) as erp:
        with pytest.raises(SourceTimeoutError) as failure:
            await erp.stock.live_stock_by_product(PAGE)

    # then: a timeout is not retried (the policy's retry_timeouts is off)
    assert failure.value.error_type == "ERP:Timeout"
    assert stock_requests(erp) == 1


async def test_reset_connections_are_retried_then_unavailable(cap_proxy: TcpProxy) -> None:
    # given
    cap_proxy.reset()

    # when
    async with open_erp(proxied(cap_proxy, retries=2)) as erp:
        with pytest.raises(SourceUnavailableError) as failure:
            await erp.prices.contract_prices(CONTRACT_CUSTOMER, PAGE)

    # then
    assert failure.value.error_type == "ERP:Unavailable"
    assert price_requests(erp) == 3
    assert erp.resilience is not None
    assert erp.resilience.metrics.retries == 2
    assert cap_proxy.accepted >= 3


async def test_breaker_opens_fails_fast_and_probes_after_reset(
    cap_proxy: TcpProxy, demo: DemoData
) -> None:
    # given: two failures open the breaker; its clock is ours
    now = [0.0]
    settings = proxied(cap_proxy, failure_threshold=2, retries=0, reset_seconds=30.0)
    guard = Resilience(SOURCE, settings.policy(), clock=lambda: now[0])
    cap_proxy.reset()

    async with open_erp(settings, resilience=guard) as erp:
        for _ in range(2):
            with pytest.raises(SourceUnavailableError):
                await erp.stock.live_stock_by_product(PAGE[:5])
        reached = cap_proxy.accepted

        # when: the ERP is back, but the breaker is open
        cap_proxy.heal()
        with pytest.raises(CircuitOpenError) as open_failure:
            await erp.stock.live_stock_by_product(PAGE[:5])

        # then: nothing reached the ERP
        assert open_failure.value.error_type == "ERP:CircuitOpen"
        assert cap_proxy.accepted == reached
        assert stock_requests(erp) == 2

        # when: the cool-down has passed, one probe goes through and closes the breaker
        now[0] += 31.0
        records = await erp.stock.live_stock_by_product(PAGE[:5])

    # then
    assert records[0] == LiveStockRecord("prd_00001", demo_stock(demo, "prd_00001"))
    assert cap_proxy.accepted == reached + 1
    assert stock_requests(erp) == 3
    assert guard.breaker.state is BreakerState.CLOSED


# --- HTTP statuses a CAP service never sends: a small server of our own --------------------


@asynccontextmanager
async def answering(
    status: int, headers: dict[str, str], body: str, seen: list[str]
) -> AsyncIterator[str]:
    """An HTTP server answering every request alike; yields its service root."""

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(
            status=status, headers=headers, text=body, content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/sap/opu/odata4/stock"
    finally:
        await runner.cleanup()


ODATA_ERROR = '{"error": {"code": "SY/530", "message": "Too many requests"}}'


@pytest.mark.parametrize(
    ("status", "headers", "error_type", "retry_after", "attempts"),
    [
        (429, {"Retry-After": "2"}, "ERP:Throttled", 2.0, 3),
        (429, {"Retry-After": "120"}, "ERP:Throttled", 120.0, 1),  # longer than we wait
        (503, {"Retry-After": "1"}, "ERP:Unavailable", 1.0, 3),
        (500, {}, "ERP:Unavailable", None, 3),
        (504, {}, "ERP:Timeout", None, 1),
        (401, {}, "ERP:Unavailable", None, 3),
        (400, {}, "ERP:Rejected", None, 1),
    ],
)
async def test_http_statuses_map_to_the_error_tree(
    status: int,
    headers: dict[str, str],
    error_type: str,
    retry_after: float | None,
    attempts: int,
) -> None:
    # given: backoff sleeps are recorded, not slept
    seen: list[str] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    settings = ErpSettings(retries=2)
    guard = Resilience(SOURCE, settings.policy(), sleep=sleep)

    async with answering(status, headers, ODATA_ERROR, seen) as root:
        settings = ErpSettings(stock_url=root, retries=2)
        async with open_erp(settings, resilience=guard) as erp:
            # when
            with pytest.raises(SourceError) as failure:
                await erp.stock.live_stock_by_product(["prd_00001"])

    # then
    error = failure.value
    assert error.error_type == error_type
    assert error.retry_after == retry_after
    assert "Too many requests" in str(error)
    assert len(seen) == stock_requests(erp) == attempts
    assert len(slept) == attempts - 1
    assert all(seconds >= (retry_after or 0.0) for seconds in slept)


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ({"user": "RFC_GRAPH", "password": "s3cret"}, "Basic UkZDX0dSQVBIOnMzY3JldA=="),
        ({"token": "eyJ.token"}, "Bearer eyJ.token"),
        ({}, ""),
    ],
)
async def test_credentials_are_sent(auth: dict[str, Any], header: str) -> None:
    seen: list[str] = []
    async with (
        answering(200, {}, '{"value": []}', seen) as root,
        open_erp(ErpSettings(stock_url=root, **auth)) as erp,
    ):
        assert await erp.stock.live_stock_by_product(["prd_00001"]) == [None]

    assert seen == [header]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-1", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
def test_retry_after_takes_seconds_or_an_http_date(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_in_the_future() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25.0 < (parse_retry_after(later) or 0.0) <= 30.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"code": "400", "message": "Bad $filter"}}', "Bad $filter (code 400)"),
        (b'{"error": {"code": "SY/530", "message": {"lang": "en", "value": "Gone"}}}', "Gone"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    ],
)
def test_odata_error_bodies_are_read(body: bytes, message: str) -> None:
    assert error_message(body).startswith(message)


# --- configuration --------------------------------------------------------------------------


async def test_without_an_erp_every_call_is_unavailable() -> None:
    async with open_erp(ErpSettings(embedded=False)) as erp:
        assert not erp.configured
        with pytest.raises(SourceUnavailableError) as stock_failure:
            await erp.stock.live_stock_by_product(PAGE)
        with pytest.raises(SourceUnavailableError):
            await erp.prices.contract_prices(CONTRACT_CUSTOMER, PAGE)

    assert stock_failure.value.error_type == "ERP:Unavailable"


async def test_make_run_serves_the_demo_set_from_the_embedded_erp(demo: DemoData) -> None:
    # given: what `make run` sets (CG_EMBEDDED=true) and hands over (the demo set)
    async with open_erp(ErpSettings(embedded=True), demo=demo) as erp:
        # when
        stock = await erp.stock.live_stock_by_product(["prd_00001"])
        prices = await erp.prices.contract_prices(CONTRACT_CUSTOMER, ["prd_00001"])

    # then
    assert erp.configured
    assert erp.stock_url is not None
    assert "127.0.0.1" in erp.stock_url
    assert stock == [LiveStockRecord("prd_00001", demo_stock(demo, "prd_00001"))]
    assert amounts(prices) == [demo_contract(demo, "prd_00001")]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("CG_ERP_STOCK_URL", "https://erp.example.com/odata/v4/stock")
    monkeypatch.setenv("CG_ERP_TIMEOUT_SECONDS", "0.8")
    monkeypatch.setenv("CG_ERP_RETRIES", "1")
    monkeypatch.setenv("CG_EMBEDDED", "true")

    # when
    settings = ErpSettings()

    # then
    assert settings.stock_url == "https://erp.example.com/odata/v4/stock"
    assert settings.embedded
    policy = settings.policy()
    assert (policy.timeout_seconds, policy.retries, policy.max_concurrency) == (0.8, 1, 16)
    with pytest.raises(ValueError, match="not both"):
        ErpSettings(user="u", password=SecretStr("p"), token=SecretStr("t"))
    with pytest.raises(ValueError, match="go together"):
        ErpSettings(user="u")


async def test_serve_embedded_erp_closes_cleanly(erp_data: ErpData) -> None:
    async with (
        serve_embedded_erp(erp_data, page_size=10) as server,
        open_erp(erp_settings(server.stock_url, None)) as erp,
    ):
        records = await erp.stock.live_stock_by_product(PAGE[:5])
        assert all(records)
        assert stock_requests(erp) >= 2  # the 10-row server pages
