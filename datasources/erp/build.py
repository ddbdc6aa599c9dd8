"""Opening the ERP adapter: one aiohttp session, one "ERP" Resilience, both sources.

    async with open_erp(ErpSettings(), demo=demo_data) as erp:
        erp.stock        # LiveStockSource over the stock service
        erp.prices       # ContractPriceSource over the pricing service

Which ERP: the service roots in the settings; without them and with `CG_EMBEDDED` (or
`CG_ERP_EMBEDDED`) true, the embedded demo ERP serves `demo` in process; otherwise the
sources exist but fail every call with `ERP:Unavailable` (`erp.configured` is False).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING

import aiohttp

from datasources import frozen
from datasources.erp.odata import SOURCE, ODataClient
from datasources.erp.prices import ErpContractPriceSource, utc_today
from datasources.erp.settings import ErpSettings
from datasources.erp.stock import ErpLiveStockSource
from datasources.resilience import Resilience

if TYPE_CHECKING:
    from datasources.demo.generate import DemoData
    from datasources.erp.demo import ErpData

# aiohttp's own limit, far above the policy's per-attempt timeout: it only frees a socket
# whose caller has gone (Resilience's timeout cancels the request itself).
_BACKSTOP_SECONDS = 60.0


@frozen.record
class ErpSources:
    stock: ErpLiveStockSource
    prices: ErpContractPriceSource
    client: ODataClient | None  # None: not configured
    stock_url: str | None
    pricing_url: str | None

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def resilience(self) -> Resilience | None:
        return None if self.client is None else self.client.resilience


@asynccontextmanager
async def open_erp(
    settings: ErpSettings,
    *,
    demo: DemoData | ErpData | None = None,
    resilience: Resilience | None = None,
    today: Callable[[], date] = utc_today,
) -> AsyncIterator[ErpSources]:
    """The process's ERP adapter, opened at start-up and closed (session, embedded server)
    at shutdown. `demo` feeds the embedded ERP; `resilience` and `today` are for tests."""
    stock_url, pricing_url = settings.stock_url, settings.pricing_url
    async with AsyncExitStack() as stack:
        if stock_url is None and pricing_url is None and settings.embedded and demo is not None:
            # The embedded ERP (an aiohttp web server) loads only where it runs.
            from datasources.erp.demo import ErpData, erp_demo_data
            from datasources.erp.embedded import serve_embedded_erp

            data = demo if isinstance(demo, ErpData) else erp_demo_data(demo, today=today())
            server = await stack.enter_async_context(serve_embedded_erp(data))
            stock_url, pricing_url = server.stock_url, server.pricing_url
        client = None
        if stock_url is not None or pricing_url is not None:
            session = aiohttp.ClientSession(
                headers=_auth_header(settings),
                # The pool matches the bulkhead: an admitted call never queues for a socket.
                connector=aiohttp.TCPConnector(limit=settings.max_concurrency),
                timeout=aiohttp.ClientTimeout(total=_BACKSTOP_SECONDS),
            )
            stack.push_async_callback(session.close)
            client = ODataClient(
                session,
                resilience or Resilience(SOURCE, settings.policy()),
                max_page_size=settings.max_page_size,
                max_pages=settings.max_pages,
            )
        keys = settings.max_keys_per_request
        yield ErpSources(
            stock=ErpLiveStockSource(client if stock_url else None, stock_url, max_keys=keys),
            prices=ErpContractPriceSource(
                client if pricing_url else None, pricing_url, max_keys=keys, today=today
            ),
            client=client,
            stock_url=stock_url,
            pricing_url=pricing_url,
        )


def _auth_header(settings: ErpSettings) -> dict[str, str]:
    # Built here rather than with aiohttp.BasicAuth, which aiohttp 3.14 deprecates (and
    # whose replacement, encode_basic_auth, older 3.x releases lack).
    if settings.token is not None:
        return {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
    if settings.user is not None and settings.password is not None:
        pair = f"{settings.user}:{settings.password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    return {}
