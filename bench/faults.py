"""The product page, the cart and checkout under faults: ERP, payments and loyalty (issue 6).

    python -m bench.faults [--clients 12] [--warmup-seconds 15] [--phase-seconds 15]
                           [--heal-seconds 10] [--products 240] [--out PATH]

Real engines, each on a free port: DynamoDB Local, stripe-mock (payments and tax, each behind
its own `HttpFaultProxy`), SAP CAP serving the demo set's ERP rows (stock and contract prices,
behind a `TcpProxy`), and PostgreSQL for loyalty (behind a `TcpProxy`). The app is built with
`create_app` and `ConnectorSettings` pointing at the proxies, with short timeouts and a 2 s
breaker reset, and driven in process (`httpx.ASGITransport`) by closed-loop clients, each a
signed-in contract customer with a loyalty account (an in-process Lambda authorizer,
bench/fault_auth.py):

    product page   product { variants { price availability stock } } + customer { loyalty }
    cart read      cart { lines { unitPrice total } totals }
    placeOrder     a cart of that customer, pm_card_visa; a failed checkout retries the same
                   cart with a new idempotency key, a placed one moves on to a new cart

Phases: warm-up, baseline, ERP delayed past its timeout, healed, payments answering 500,
healed, loyalty database stopped, restarted. Per phase: latency percentiles, the share of
responses with each part present, errorTypes, placeOrder's userError codes, per-source
metric deltas, and (bench/fault_trace.py) what each breaker let through while open, counted
by the guard and at the source side of the wire. Checks (PASS/FAIL, exit 1 on any FAIL):

1. p99 <= 1.2 x the slowest per-attempt timeout of the connectors the operation touches, in
   every fault phase (DynamoDB is not faulted here; its guard's deadline, the sum of
   botocore's attempts, would make the bound meaningless);
2. every part that does not depend on the faulted (or just healed) source is present in
   100 % of the responses; once the healed source's breaker has closed, its parts are too;
3. the breaker opens under the fault, and while it is open the only attempts are the
   half-open probes: at the guard exactly, and at the source (connections a TcpProxy
   accepted, requests the HTTP proxy received) at most the probes plus the attempts that
   were in flight when it opened;
4. the breaker closes after healing and stays closed to the end of the phase.

Writes bench/results/faults-latest.json and prints a markdown report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from starlette.applications import Starlette

from appsync.auth import AuthMode, AuthSettings
from appsync.settings import EdgeSettings
from bench.fault_auth import token_for
from bench.fault_trace import BreakerTrace
from bench.machine import busy_cpu_seconds
from datasources.build import ConnectorSettings, Sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.tables import create_tables
from datasources.envsettings import SecretStr
from datasources.erp.demo import contract_customers, erp_demo_data
from datasources.erp.loyalty_demo import Enrolling, demo_accounts, seed_loyalty
from datasources.erp.loyalty_settings import LoyaltySettings
from datasources.erp.prices import utc_today
from datasources.erp.settings import ErpSettings
from datasources.records import Channel
from datasources.resilience import BreakerState, Resilience, SourceMetrics
from datasources.saas.settings import PaymentsSettings, TaxSettings
from datasources.settings import Settings
from server import create_app
from tests.engines.dynamodb_local import start_dynamodb_local
from tests.engines.http_fault_proxy import HttpFaultProxy
from tests.engines.odata_service import start_odata_service
from tests.engines.postgres_server import PostgresServer
from tests.engines.stripe_mock import PAYMENT_INTENTS, TEST_KEY, start_stripe_mock
from tests.engines.tcp_proxy import TcpProxy

ERP, PAYMENTS, TAX, LOYALTY, DYNAMODB = "ERP", "Payments", "Tax", "Loyalty", "DynamoDB"
TRACED = (ERP, PAYMENTS, LOYALTY, TAX)
RESULTS = Path(__file__).resolve().parent / "results" / "faults-latest.json"

# Short, realistic per-attempt timeouts, and a short breaker reset so a run shows
# open -> half-open -> closed several times.
TIMEOUTS = {ERP: 1.0, LOYALTY: 1.0, TAX: 2.0, PAYMENTS: 3.0}
RESET_SECONDS = 2.0
ERP_DELAY_SECONDS = 2.0  # each chunk, each way: far past the ERP's timeout

PAGE = """
query Page($id: ID!, $customer: ID!) {
  product(id: $id) {
    id name
    variants {
      id sku name
      price(channel: WEB) {
        price { amount currencyCode } compareAtPrice { amount } isContractPrice
      }
      availability(channel: WEB) { quantityAvailable inStock }
      stock { locationId available }
    }
  }
  customer(id: $customer) { id firstName loyalty { tier points nextTierAt } }
}
"""
CART = """
query Cart($id: ID!) {
  cart(id: $id) {
    id totalQuantity
    lines {
      id quantity variant { id sku } unitPrice { amount currencyCode } total { amount }
    }
    totals { net { amount } tax { amount } gross { amount currencyCode } }
  }
}
"""
CREATE_CART = """
mutation Create($input: CreateCartInput!) {
  createCart(input: $input) { cart { id } userErrors { code message } }
}
"""
PLACE_ORDER = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number amountDue { amount currencyCode } payment { id status } }
    userErrors { code message }
  }
}
"""

# The parts of each answer, and the sources each part depends on (besides DynamoDB).
PARTS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "page": {
        "product": frozenset(),
        "customer": frozenset(),
        "price": frozenset({ERP}),
        "stock": frozenset({ERP}),
        "loyalty": frozenset({LOYALTY}),
    },
    "cart": {
        "lines": frozenset(),
        "prices": frozenset({ERP}),
        "totals": frozenset({ERP, TAX}),
    },
    "order": {
        "payload": frozenset(),
        "order": frozenset({ERP, TAX, PAYMENTS}),
    },
}
TOUCHES: Mapping[str, frozenset[str]] = {
    op: frozenset().union(*parts.values()) for op, parts in PARTS.items()
}


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float
    affected: str | None  # the source faulted (or just healed) in this phase
    fault: bool  # True while the fault is on; False for baseline, healed and warm-up


@dataclass(frozen=True, slots=True)
class Sample:
    op: str
    phase: str
    started: float
    seconds: float
    parts: Mapping[str, bool]
    error_types: tuple[str, ...]
    user_errors: tuple[str, ...] = ()
    # The phase when the answer came; another than `phase` when a fault switched on or off
    # meanwhile: such a request is reported but left out of the phase's figures and checks.
    ended_phase: str = ""

    @property
    def straddles(self) -> bool:
        return self.phase != self.ended_phase


@dataclass(slots=True)
class PhaseRun:
    phase: Phase
    started: float = 0.0
    ended: float = 0.0
    metrics_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_before: dict[str, int] = field(default_factory=dict)
    source_after: dict[str, int] = field(default_factory=dict)
    cpu_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Engines:
    dynamodb: str
    erp_proxy: TcpProxy
    pg: PostgresServer
    pg_proxy: TcpProxy
    payments_proxy: HttpFaultProxy
    tax_proxy: HttpFaultProxy


@dataclass(frozen=True, slots=True)
class Shopping:
    """What the clients work with, prepared while everything is healthy."""

    customers: tuple[str, ...]
    products: tuple[str, ...]
    variants: tuple[str, ...]
    carts: dict[str, str]  # customer -> a cart to read


def phases(args: argparse.Namespace) -> list[Phase]:
    fault, heal = args.phase_seconds, args.heal_seconds
    return [
        Phase("warm-up", args.warmup_seconds, None, fault=False),
        Phase("baseline", args.baseline_seconds, None, fault=False),
        Phase("erp-delayed", fault, ERP, fault=True),
        Phase("erp-healed", heal, ERP, fault=False),
        Phase("payments-500", fault, PAYMENTS, fault=True),
        Phase("payments-healed", heal, PAYMENTS, fault=False),
        Phase("loyalty-stopped", fault, LOYALTY, fault=True),
        Phase("loyalty-restarted", heal, LOYALTY, fault=False),
    ]


# --- engines ------------------------------------------------------------------------------


@contextmanager
def start_engines(demo: DemoData) -> Iterator[Engines]:
    with ExitStack() as stack:
        print("starting DynamoDB Local, stripe-mock, SAP CAP, PostgreSQL ...", file=sys.stderr)
        dynamodb = stack.enter_context(start_dynamodb_local())
        stripe = stack.enter_context(start_stripe_mock())
        erp = stack.enter_context(start_odata_service(erp_demo_data(demo, today=utc_today())))
        pg = PostgresServer().start()
        stack.callback(pg.close)
        yield Engines(
            dynamodb=dynamodb,
            erp_proxy=stack.enter_context(TcpProxy("127.0.0.1", erp.port)),
            pg=pg,
            pg_proxy=stack.enter_context(TcpProxy("127.0.0.1", pg.port)),
            payments_proxy=stack.enter_context(HttpFaultProxy(stripe)),
            tax_proxy=stack.enter_context(HttpFaultProxy(stripe)),
        )


def build_app(engines: Engines, args: argparse.Namespace) -> Starlette:
    erp_root = f"http://127.0.0.1:{engines.erp_proxy.port}/odata/v4"
    # No SSL on the throwaway cluster: asyncpg's default (`prefer`) would open a second
    # connection per attempt after the SSL request fails, doubling what the proxy counts.
    pg_dsn = (
        f"postgresql://postgres@127.0.0.1:{engines.pg_proxy.port}/{engines.pg.database}"
        "?sslmode=disable"
    )
    key = SecretStr(TEST_KEY)
    connectors = ConnectorSettings(
        payments=PaymentsSettings(
            provider="stripe", api_base=engines.payments_proxy.url, stripe_api_key=key,
            timeout_seconds=TIMEOUTS[PAYMENTS], reset_seconds=RESET_SECONDS,
        ),
        tax=TaxSettings(
            provider="stripe", api_base=engines.tax_proxy.url, stripe_api_key=key,
            timeout_seconds=TIMEOUTS[TAX], reset_seconds=RESET_SECONDS,
        ),
        erp=ErpSettings(
            stock_url=f"{erp_root}/stock", pricing_url=f"{erp_root}/pricing",
            timeout_seconds=TIMEOUTS[ERP], reset_seconds=RESET_SECONDS,
        ),
        loyalty=LoyaltySettings(
            dsn=SecretStr(pg_dsn), timeout_seconds=TIMEOUTS[LOYALTY],
            reset_seconds=RESET_SECONDS, connect_timeout_seconds=TIMEOUTS[LOYALTY],
            pool_min_size=args.loyalty_pool_min_size,
        ),
    )  # fmt: skip
    return create_app(
        Settings(dynamodb_endpoint=engines.dynamodb, table_prefix="bench-faults-", graphiql=False),
        auth_settings=AuthSettings(
            default_mode=AuthMode.API_KEY,
            additional_modes=[AuthMode.AWS_LAMBDA],
            lambda_authorizer="bench.fault_auth:authorize",
            authorizer_result_ttl_seconds=3600,
        ),
        # a handful of callers send every request: lift the per-caller rate limit
        edge_settings=EdgeSettings(rate_limit_per_second=1e9, rate_limit_burst=10**9),
        connector_settings=connectors,
    )


# --- faults -------------------------------------------------------------------------------

STRIPE_500 = {
    "error": {
        "type": "api_error",
        "message": "An unknown error occurred (bench.faults: injected 500).",
    }
}


async def apply(phase: Phase, engines: Engines) -> None:
    """Switch the fault of `phase` on (or off)."""
    match phase.name:
        case "erp-delayed":
            engines.erp_proxy.delay(ERP_DELAY_SECONDS)
        case "erp-healed":
            engines.erp_proxy.heal()
        case "payments-500":
            engines.payments_proxy.respond("POST", PAYMENT_INTENTS, status=500, json=STRIPE_500)
        case "payments-healed":
            # the newest matching rule wins: this one forwards, unchanged
            engines.payments_proxy.amend("POST", PAYMENT_INTENTS, {})
        case "loyalty-stopped":
            await asyncio.to_thread(engines.pg.stop)
        case "loyalty-restarted":
            await asyncio.to_thread(engines.pg.start)


# --- clients ------------------------------------------------------------------------------


class Driver:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.phase = "setup"
        self.samples: list[Sample] = []
        self.stop = asyncio.Event()
        # One example message per errorType and per userError code, for the report.
        self.messages: dict[str, Counter[str]] = {}

    async def post(
        self, customer: str, query: str, variables: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, Any]]:
        began = time.perf_counter()
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": dict(variables)},
            headers={"authorization": token_for(customer)},
        )
        seconds = time.perf_counter() - began
        try:
            body = response.json()
        except ValueError:
            body = {}
        return seconds, response.status_code, body if isinstance(body, dict) else {}

    def record(
        self,
        op: str,
        started: float,
        phase: str,
        result: tuple[float, int, dict[str, Any]],
        parts: Mapping[str, bool],
        user_errors: tuple[str, ...] = (),
    ) -> None:
        seconds, status, body = result
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        types = tuple(sorted({str(e.get("errorType")) for e in errors}))
        for e in errors:
            self.note(str(e.get("errorType")), str(e.get("message")))
        if status != 200:
            parts = dict.fromkeys(parts, False)
            types = (*types, f"HTTP {status}")
        self.samples.append(
            Sample(op, phase, started, seconds, parts, types, user_errors, self.phase)
        )

    def note(self, key: str, message: str) -> None:
        self.messages.setdefault(key, Counter())[message[:200]] += 1

    async def page_client(self, n: int, customer: str, products: Sequence[str]) -> None:
        i = n
        while not self.stop.is_set():
            product = products[i % len(products)]
            i += 7
            phase, started = self.phase, time.perf_counter()
            result = await self.post(customer, PAGE, {"id": product, "customer": customer})
            self.record("page", started, phase, result, page_parts(result[2]))

    async def cart_client(self, customer: str, cart_id: str) -> None:
        while not self.stop.is_set():
            phase, started = self.phase, time.perf_counter()
            result = await self.post(customer, CART, {"id": cart_id})
            self.record("cart", started, phase, result, cart_parts(result[2]))

    async def order_client(self, n: int, customer: str, variants: Sequence[str]) -> None:
        i = n
        cart: str | None = None
        while not self.stop.is_set():
            if cart is None:
                cart = await self.new_cart(customer, [variants[i % len(variants)]])
                i += 5
                if cart is None:
                    await asyncio.sleep(0.1)  # the ERP (stock) cannot answer: try again
                    continue
            phase, started = self.phase, time.perf_counter()
            place = {"cartId": cart, "idempotencyKey": str(uuid.uuid4()),
                     "paymentMethodId": "pm_card_visa"}  # fmt: skip
            result = await self.post(customer, PLACE_ORDER, {"input": place})
            payload = (result[2].get("data") or {}).get("placeOrder")
            problems = (payload or {}).get("userErrors") or []
            codes = tuple(str(e.get("code")) for e in problems)
            for e in problems:
                self.note(str(e.get("code")), str(e.get("message")))
            placed = bool(payload and payload.get("order"))
            self.record("order", started, phase, result,
                        {"payload": payload is not None, "order": placed}, codes)  # fmt: skip
            if placed:
                cart = None

    async def new_cart(self, customer: str, variants: Sequence[str]) -> str | None:
        cart_input = {
            "channel": "WEB",
            "customerId": customer,
            "lines": [{"variantId": v, "quantity": 1} for v in variants],
        }
        _, _, body = await self.post(customer, CREATE_CART, {"input": cart_input})
        created = (body.get("data") or {}).get("createCart") or {}
        cart = created.get("cart") or {}
        cart_id = cart.get("id")
        return str(cart_id) if cart_id else None


def page_parts(body: Mapping[str, Any]) -> dict[str, bool]:
    data = body.get("data") or {}
    product = data.get("product") or {}
    variants = product.get("variants") or []
    customer = data.get("customer") or {}
    return {
        "product": bool(product.get("name")) and bool(variants)
        and all(v and v.get("sku") for v in variants),
        "customer": bool(customer.get("id")),
        "price": bool(variants) and all(v and v.get("price") for v in variants),
        "stock": bool(variants)
        and all(v and v.get("stock") is not None and v.get("availability") for v in variants),
        "loyalty": bool(customer.get("loyalty")),
    }  # fmt: skip


def cart_parts(body: Mapping[str, Any]) -> dict[str, bool]:
    cart = (body.get("data") or {}).get("cart") or {}
    lines = cart.get("lines") or []
    return {
        "lines": bool(lines) and bool(cart.get("totalQuantity"))
        and all(ln and ln.get("quantity") and (ln.get("variant") or {}).get("sku")
                for ln in lines),
        "prices": bool(lines) and all(ln and ln.get("unitPrice") for ln in lines),
        "totals": bool(cart.get("totals")),
    }  # fmt: skip


# --- setup --------------------------------------------------------------------------------


def shopping_list(demo: DemoData, clients: int) -> Shopping:
    enrolled = {a.customer_id for a in demo_accounts([c.id for c in demo.customers])}
    customers = tuple(c for c in contract_customers(demo) if c in enrolled)
    web = {loc.id for loc in demo.locations if Channel.WEB in loc.channels}
    products, variants = [], []
    for product, prices, stock in zip(demo.products, demo.prices, demo.stock, strict=True):
        if not product.variants:
            continue
        if all(prices.price(v.id, Channel.WEB) for v in product.variants):
            products.append(product.id)
        for v in product.variants:
            available = sum(lv.available for loc, lv in stock.levels(v.id).items() if loc in web)
            if prices.price(v.id, Channel.WEB) and available >= 60:
                variants.append(v.id)
    if not customers or not products or len(variants) < 3:
        raise RuntimeError("the demo set has no contract customer, product or stocked variant")
    return Shopping(customers, tuple(products[:120]), tuple(variants[:60]), {})


async def prepare(app: Starlette, driver: Driver, demo: DemoData, shop: Shopping) -> None:
    sources: Sources = app.state.sources
    await create_tables(sources.dynamo)
    print("seeding DynamoDB Local and loyalty ...", file=sys.stderr)
    await load_demo(sources.dynamo, demo, progress=False)
    await seed_loyalty(cast(Enrolling, sources.loyalty), [c.id for c in demo.customers])
    for n, customer in enumerate(shop.customers):
        lines = [shop.variants[(n * 3 + k) % len(shop.variants)] for k in range(3)]
        cart = await driver.new_cart(customer, lines)
        if cart is None:
            raise RuntimeError(f"could not create a cart for {customer}")
        shop.carts[customer] = cart


# --- the run ------------------------------------------------------------------------------


class LogCounter(logging.Handler):
    """Every WARNING+ record, formatted (as a deployed server would) into a file, and counted
    per phase and logger: under faults the log volume is part of the cost."""

    def __init__(self, path: Path, phase: Callable[[], str]) -> None:
        super().__init__(logging.WARNING)
        self.path = path
        self.counts: Counter[tuple[str, str]] = Counter()
        self._phase = phase
        self._stream = path.open("w")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[(self._phase(), record.name)] += 1
        self._stream.write(self.format(record) + "\n")

    def close(self) -> None:
        self._stream.close()
        super().close()


def log_records(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (phase, logger), n in sorted(counts.items()):
        out.setdefault(phase, {})[logger] = n
    return out


def cpu_now() -> tuple[float, float, float]:
    """(machine busy, machine stolen, this process and its descendants) CPU seconds so far:
    the difference of the first and the last is what other jobs on the machine used."""
    machine = busy_cpu_seconds() or (0.0, 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo += children.get(pid, [])
    return machine[0], machine[1], total


def metrics_of(guards: Sequence[Resilience]) -> dict[str, dict[str, Any]]:
    return {g.source: _counters(g.metrics) for g in guards}


def _counters(m: SourceMetrics) -> dict[str, Any]:
    return {
        "calls": m.calls, "attempts": m.attempts, "successes": m.successes,
        "rejected": m.rejected, "retries": m.retries, "failures": dict(m.failures),
        "breaker_opened": m.breaker_opened, "breaker_half_opened": m.breaker_half_opened,
        "breaker_closed": m.breaker_closed, "breaker_state": m.breaker_state.value,
    }  # fmt: skip


def delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, int):
            out[key] = value - int(before.get(key, 0))
        elif isinstance(value, dict):
            old = before.get(key) or {}
            moved = {k: v - old.get(k, 0) for k, v in value.items() if v - old.get(k, 0)}
            out[key] = moved
        else:
            out[key] = value
    return out


async def drive(
    app: Starlette, engines: Engines, demo: DemoData, args: argparse.Namespace
) -> dict[str, Any]:
    sources: Sources = app.state.sources
    guards = {g.source: g for g in sources.guards}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        driver = Driver(client)
        log_path = Path(tempfile.mkstemp(prefix="bench-faults-", suffix=".log")[1])
        logs = LogCounter(log_path, lambda: driver.phase)
        root = logging.getLogger()
        root.addHandler(logs)
        root.setLevel(logging.WARNING)
        shop = shopping_list(demo, args.clients)
        await prepare(app, driver, demo, shop)
        counters: dict[str, Callable[[], int]] = {
            ERP: lambda: engines.erp_proxy.accepted,
            LOYALTY: lambda: engines.pg_proxy.accepted,
            PAYMENTS: lambda: len(engines.payments_proxy.requests),
            TAX: lambda: len(engines.tax_proxy.requests),
        }
        trace = BreakerTrace({s: guards[s] for s in TRACED}, counters)
        tracing = asyncio.Event()
        tracer = asyncio.create_task(trace.run(tracing))
        tasks = _clients(driver, shop, args)
        runs: list[PhaseRun] = []
        try:
            for phase in phases(args):
                run = PhaseRun(phase)
                run.metrics_before = metrics_of(sources.guards)
                run.source_before = {k: f() for k, f in counters.items()}
                run.cpu_before = cpu_now()
                driver.phase = phase.name
                run.started = time.perf_counter()
                print(f"phase {phase.name} ({phase.seconds:g} s) ...", file=sys.stderr)
                await apply(phase, engines)
                await asyncio.sleep(max(0.0, run.started + phase.seconds - time.perf_counter()))
                run.ended = time.perf_counter()
                run.metrics_after = metrics_of(sources.guards)
                run.source_after = {k: f() for k, f in counters.items()}
                run.cpu_after = cpu_now()
                runs.append(run)
            driver.phase = "drain"
        finally:
            driver.stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            tracing.set()
            await tracer
            root.removeHandler(logs)
            logs.close()
    result = report(driver.samples, runs, trace, guards, shop, args, logs.counts)
    result["log"] = {"path": str(log_path), "records": log_records(logs.counts)}
    result["messages"] = {
        key: dict(found.most_common(3)) for key, found in sorted(driver.messages.items())
    }
    return result


def _clients(driver: Driver, shop: Shopping, args: argparse.Namespace) -> list[asyncio.Task[None]]:
    """Half the clients read product pages, a quarter read carts, a quarter check out."""
    carts = max(1, args.clients // 4)
    orders = max(1, args.clients // 4)
    pages = max(1, args.clients - carts - orders)
    customers = shop.customers
    coros: list[Awaitable[None]] = []
    for n in range(pages):
        coros.append(driver.page_client(n, customers[n % len(customers)], shop.products))
    for n in range(carts):
        customer = customers[n % len(customers)]
        coros.append(driver.cart_client(customer, shop.carts[customer]))
    for n in range(orders):
        coros.append(driver.order_client(n, customers[(n + 1) % len(customers)], shop.variants))
    return [asyncio.ensure_future(c) for c in coros]


# --- report -------------------------------------------------------------------------------


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass(slots=True)
class Checks:
    results: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.results.append({"check": name, "pass": ok, "detail": detail})

    @property
    def passed(self) -> bool:
        return all(r["pass"] for r in self.results)


def report(
    samples: Sequence[Sample],
    runs: Sequence[PhaseRun],
    trace: BreakerTrace,
    guards: Mapping[str, Resilience],
    shop: Shopping,
    args: argparse.Namespace,
    logged: Counter[tuple[str, str]],
) -> dict[str, Any]:
    timeouts = {name: g.policy.timeout_seconds for name, g in guards.items()}
    bounds = {op: 1.2 * max(timeouts[s] for s in touched) for op, touched in TOUCHES.items()}
    checks = Checks()
    phases_out: list[dict[str, Any]] = []
    for run in runs:
        phase = run.phase
        mine = [s for s in samples if s.phase == phase.name and not s.straddles]
        straddling = sum(s.phase == phase.name and s.straddles for s in samples)
        seconds = run.ended - run.started
        busy, stolen, ours = (b - a for a, b in zip(run.cpu_before, run.cpu_after, strict=True))
        ops: dict[str, Any] = {}
        closed_at = (
            trace.closed_at(phase.affected, run.started)
            if phase.affected and not phase.fault
            else None
        )
        for op in PARTS:
            got = [s for s in mine if s.op == op]
            ops[op] = summarize(op, got, phase, closed_at)
        sources_out: dict[str, Any] = {}
        for name in guards:
            if name not in (*TRACED, DYNAMODB):
                continue
            entry: dict[str, Any] = delta(run.metrics_before[name], run.metrics_after[name])
            if name in TRACED:
                entry["source_side"] = run.source_after[name] - run.source_before[name]
                entry["breaker"] = trace.account(name, run.started, run.ended).as_dict()
            sources_out[name] = entry
        out: dict[str, Any] = {
            "phase": phase.name,
            "seconds": round(seconds, 2),
            "bench_cpu_cores": round(ours / seconds, 2),
            "noise_cores": round(max(0.0, busy - ours) / seconds, 2),
            "stolen_cores": round(stolen / seconds, 2),
            "straddling_requests": straddling,
            "fault": phase.fault,
            "affected": phase.affected,
            "operations": ops,
            "sources": sources_out,
        }
        if closed_at is not None:
            out["breaker_closed_after_s"] = round(closed_at - run.started, 3)
        phases_out.append(out)
        if phase.name != "warm-up":
            judge(checks, out, phase, bounds, trace, run, closed_at, logged)
    baseline = next(p for p in phases_out if p["phase"] == "baseline")
    for p in phases_out:
        for op, o in p["operations"].items():
            base = baseline["operations"][op]
            if o["requests"] and base["requests"]:
                o["p50_vs_baseline"] = round(o["p50_ms"] / base["p50_ms"], 2)
                o["p99_vs_baseline"] = round(o["p99_ms"] / base["p99_ms"], 2)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "clients": args.clients,
        "products": args.products,
        "customers": list(shop.customers),
        "timeouts_s": timeouts,
        "reset_s": RESET_SECONDS,
        "loyalty_pool_min_size": args.loyalty_pool_min_size,
        "erp_delay_s_each_way": ERP_DELAY_SECONDS,
        "p99_bound_ms": {op: round(b * 1000, 1) for op, b in bounds.items()},
        "phases": phases_out,
        "checks": checks.results,
        "passed": checks.passed,
    }


def summarize(
    op: str, got: Sequence[Sample], phase: Phase, closed_at: float | None
) -> dict[str, Any]:
    if not got:
        return {"requests": 0}
    ms = [s.seconds * 1000 for s in got]
    n = len(got)
    healthy = healthy_parts(op, phase.affected)
    errors: Counter[str] = Counter(t for s in got for t in s.error_types)
    codes: Counter[str] = Counter(c for s in got for c in s.user_errors)
    out: dict[str, Any] = {
        "requests": n,
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "healthy_parts": sorted(healthy),
        "healthy_share": round(sum(all(s.parts[p] for p in healthy) for s in got) / n, 4),
        "part_share": {p: round(sum(s.parts[p] for s in got) / n, 4) for p in PARTS[op]},
        "with_errors_share": round(sum(bool(s.error_types) for s in got) / n, 4),
        "error_types": {t: round(c / n, 4) for t, c in sorted(errors.items())},
        "user_errors": dict(sorted(codes.items())),
    }
    if op == "order":
        out["placed"] = sum(s.parts["order"] for s in got)
    # Requests that waited out a source's timeout: what the p99 of a fault phase is made of.
    waited = [s.seconds * 1000 for s in got if any(t.endswith(":Timeout") for t in s.error_types)]
    if waited:
        out["waited_out_timeout"] = {
            "requests": len(waited),
            "min_ms": round(min(waited), 1),
            "max_ms": round(max(waited), 1),
        }
    if closed_at is not None and phase.affected is not None:
        after = [s for s in got if s.started >= closed_at]
        recovered = [p for p in PARTS[op] if phase.affected in PARTS[op][p]]
        out["after_close"] = {
            "requests": len(after),
            "recovered_parts": recovered,
            "share": round(sum(all(s.parts[p] for p in recovered) for s in after) / len(after), 4)
            if after
            else None,
        }
    return out


def healthy_parts(op: str, affected: str | None) -> list[str]:
    return [p for p, needs in PARTS[op].items() if affected is None or affected not in needs]


def judge(
    checks: Checks,
    out: Mapping[str, Any],
    phase: Phase,
    bounds: Mapping[str, float],
    trace: BreakerTrace,
    run: PhaseRun,
    closed_at: float | None,
    logged: Counter[tuple[str, str]],
) -> None:
    name = phase.name
    for op, o in out["operations"].items():
        if not o["requests"]:
            checks.add(f"{name}: {op} answered", False, "no request completed")
            continue
        if phase.fault:
            bound = bounds[op] * 1000
            checks.add(
                f"{name}: {op} p99 <= {bound:.0f} ms",
                o["p99_ms"] <= bound,
                f"p99 {o['p99_ms']} ms (max {o['max_ms']} ms)",
            )
        checks.add(
            f"{name}: {op} healthy parts in 100 %",
            o["healthy_share"] == 1.0,
            f"{', '.join(o['healthy_parts'])}: {o['healthy_share']:.2%} of {o['requests']}",
        )
        after = o.get("after_close")
        if after and after["recovered_parts"]:
            share = after["share"]
            checks.add(
                f"{name}: {op} {'+'.join(after['recovered_parts'])} back once closed",
                share is None or share == 1.0,
                f"{share if share is None else f'{share:.2%}'} of {after['requests']} "
                "requests started after the breaker closed",
            )
    source = phase.affected
    if source is None:
        return
    stats = out["sources"][source]
    account = stats["breaker"]
    if phase.fault:
        checks.add(
            f"{name}: {source} breaker opened",
            stats["breaker_opened"] >= 1,
            f"opened {stats['breaker_opened']}x, half-opened {stats['breaker_half_opened']}x",
        )
    if account["open_seconds"]:
        checks.add(
            f"{name}: {source} attempts while open == half-open probes",
            account["open_attempts"] == account["open_probes"],
            f"{account['open_attempts']} attempts, {account['open_probes']} probes in "
            f"{account['open_seconds']:.1f} s open",
        )
        detail = (
            f"{account['open_source']} {'requests' if source == PAYMENTS else 'connections'}"
            f" reached the source, {account['open_probes']} probes, "
            f"{account['open_in_flight']} attempts in flight as it opened"
        )
        if floor := logged[(name, "asyncpg.pool")]:
            detail += f"; asyncpg.pool logged {floor} failed pool-floor reconnects in the phase"
        checks.add(
            f"{name}: {source} at the source while open <= probes + in flight at opening",
            account["open_source"] <= account["open_probes"] + account["open_in_flight"],
            detail,
        )
    if not phase.fault:
        final = trace.state_at_end(source, run.ended)
        checks.add(
            f"{name}: {source} breaker closed after healing",
            closed_at is not None and final is BreakerState.CLOSED,
            f"closed {closed_at - run.started:.2f} s after healing, state at end: "
            f"{final.value if final else '?'}"
            if closed_at is not None
            else f"never closed; state at end: {final.value if final else '?'}",
        )


def markdown(result: Mapping[str, Any]) -> str:
    lines = [
        f"Machine: {result['machine']}; {result['clients']} closed-loop clients; timeouts "
        + ", ".join(f"{k} {v:g} s" for k, v in result["timeouts_s"].items() if k in TIMEOUTS)
        + f"; breaker reset {result['reset_s']:g} s",
        "",
        "| phase | operation | requests | p50 ms | p90 ms | p99 ms | p99 bound ms "
        "| p99 ÷ baseline | healthy parts | errors (share of responses) | userErrors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for p in result["phases"]:
        for op, o in p["operations"].items():
            if not o["requests"]:
                lines.append(f"| {p['phase']} | {op} | 0 | | | | | | | | |")
                continue
            errors = ", ".join(f"{t} {s:.0%}" for t, s in o["error_types"].items()) or "-"
            codes = ", ".join(f"{c} {n}" for c, n in o["user_errors"].items()) or "-"
            if op == "order":
                codes = f"placed {o['placed']}; " + codes
            bound = result["p99_bound_ms"][op] if p["fault"] else ""
            lines.append(
                f"| {p['phase']} | {op} | {o['requests']} | {o['p50_ms']} | {o['p90_ms']} "
                f"| {o['p99_ms']} | {bound} | {o.get('p99_vs_baseline', '')} "
                f"| {o['healthy_share']:.1%} ({', '.join(o['healthy_parts'])}) "
                f"| {errors} | {codes} |"
            )
    lines += [
        "",
        "| phase | source | calls | attempts | rejected | opened | half-opened | closed "
        "| failures | open s | attempts while open | probes | in flight at opening "
        "| at source while open | at source while closed (per s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in result["phases"]:
        for name, s in p["sources"].items():
            b = s.get("breaker")
            failures = ", ".join(f"{k} {v}" for k, v in s["failures"].items()) or "-"
            row = (
                f"| {p['phase']} | {name} | {s['calls']} | {s['attempts']} | {s['rejected']} "
                f"| {s['breaker_opened']} | {s['breaker_half_opened']} | {s['breaker_closed']} "
                f"| {failures} "
            )
            if b:
                rate = b["closed_source"] / b["closed_seconds"] if b["closed_seconds"] else 0.0
                row += (
                    f"| {b['open_seconds']:.1f} | {b['open_attempts']} | {b['open_probes']} "
                    f"| {b['open_in_flight']} | {b['open_source']} "
                    f"| {b['closed_source']} ({rate:.1f}) |"
                )
            else:
                row += "| | | | | | |"
            lines.append(row)
    lines += [
        "",
        "| phase | seconds | bench CPU (cores) | other jobs (cores) | stolen (cores) "
        "| requests across a switch (left out) | log records |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    records = result.get("log", {}).get("records", {})
    for p in result["phases"]:
        logged = ", ".join(f"{k} {v}" for k, v in records.get(p["phase"], {}).items()) or "-"
        lines.append(
            f"| {p['phase']} | {p['seconds']} | {p['bench_cpu_cores']} | {p['noise_cores']} "
            f"| {p['stolen_cores']} | {p['straddling_requests']} | {logged} |"
        )
    lines += ["", "| check | result | detail |", "|---|---|---|"]
    for c in result["checks"]:
        lines.append(f"| {c['check']} | {'PASS' if c['pass'] else 'FAIL'} | {c['detail']} |")
    lines.append("")
    lines.append("ALL PASS" if result["passed"] else "FAIL")
    return "\n".join(lines)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    demo = generate_demo(products=args.products, customers=args.customers, orders=args.orders)
    with start_engines(demo) as engines:
        app = build_app(engines, args)
        async with app.router.lifespan_context(app):
            return await drive(app, engines, demo, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults")
    parser.add_argument("--clients", type=int, default=8, help="concurrent closed-loop clients")
    parser.add_argument("--warmup-seconds", type=float, default=15.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--phase-seconds", type=float, default=15.0, help="each fault")
    parser.add_argument("--heal-seconds", type=float, default=10.0, help="each recovery")
    parser.add_argument("--products", type=int, default=240)
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument(
        "--loyalty-pool-min-size",
        type=int,
        default=LoyaltySettings.fields()["pool_min_size"].default,
        help="asyncpg's connection floor (default: the product's); a pool below its floor "
        "reconnects in the background, breaker or not",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    result = asyncio.run(measure(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    print(f"\nresults: {args.out}; server log: {result['log']['path']}", file=sys.stderr)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
