"""Recommendations on a real Gremlin Server: hand-ranked results, round trips, IAM, faults.

The graph below is small enough to rank by hand; every expectation says how it was worked out.
Rankings are score descending, then product id ascending.

    categories  cat_shoes > {cat_run, cat_trail};  cat_socks
    products    prd_1 shoes/run   acme      prd_5 shoes/trail zoom
                prd_2 shoes/run   zoom      prd_6 socks       zoom
                prd_3 shoes/trail acme      prd_7 shoes/run   acme
                prd_4 socks       acme      prd_8 (no category, no brand)
                prd_f01 .. prd_f42: catalogue filler, never bought, no links
    orders      ord_1 cus_1 WEB    prd_1 x1, prd_2 x1, prd_3 x2
                ord_2 cus_2 WEB    prd_1 x1, prd_2 x3
                ord_3 cus_2 POS    prd_4 x5
                ord_4 cus_3 MOBILE prd_1 x1, prd_3 x1, prd_5 x1
                ord_5 cus_4 WEB    prd_2 x1, prd_3 x1
                ord_6 cus_5 POS    prd_6 x2
                ord_7 cus_1 WEB    prd_1 x1, prd_2 x1      (a repeat purchase)
    views       cus_6: prd_4 (day 1), prd_6 (day 2), prd_1 (day 3);  cus_8: prd_8
    cus_7       known, bought and viewed nothing

Units sold: prd_2 6 (1+3+1+1), prd_4 5, prd_1 4, prd_3 4 (2+1+1), prd_6 2, prd_5 1.
WEB: prd_2 6, prd_1 3, prd_3 3 (2+1).  POS: prd_4 5, prd_6 2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from gremlin_python.process.anonymous_traversal import traversal
from gremlin_python.process.traversal import Bytecode, T, Traversal
from gremlin_python.structure.graph import Graph

from datasources.errors import (
    CircuitOpenError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.neptune.client import SOURCE, NeptuneClient, build_client
from datasources.neptune.graph import Upserts
from datasources.neptune.recommendations import NeptuneRecommendationSource
from datasources.neptune.settings import NeptuneSettings
from datasources.neptune.sigv4 import ConnectionFactory, HandshakeSigner
from datasources.recommendations import PurchaseLine, RankedProduct
from datasources.resilience import BreakerState, Policy, Resilience
from engines.gremlin_server import GremlinServer, GremlinServerStartError
from engines.ports import free_port
from engines.tcp_proxy import TcpProxy

engine = pytest.mark.engine

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORY_PATHS = {
    "prd_1": ["cat_shoes", "cat_run"],
    "prd_2": ["cat_shoes", "cat_run"],
    "prd_3": ["cat_shoes", "cat_trail"],
    "prd_4": ["cat_socks"],
    "prd_5": ["cat_shoes", "cat_trail"],
    "prd_6": ["cat_socks"],
    "prd_7": ["cat_shoes", "cat_run"],
    "prd_8": [],
}
BRANDS = {
    "prd_1": "brd_acme",
    "prd_2": "brd_zoom",
    "prd_3": "brd_acme",
    "prd_4": "brd_acme",
    "prd_5": "brd_zoom",
    "prd_6": "brd_zoom",
    "prd_7": "brd_acme",
}
FILLER = [f"prd_f{n:02d}" for n in range(1, 43)]
ORDERS = [
    ("ord_1", "cus_1", "WEB", {"prd_1": 1, "prd_2": 1, "prd_3": 2}),
    ("ord_2", "cus_2", "WEB", {"prd_1": 1, "prd_2": 3}),
    ("ord_3", "cus_2", "POS", {"prd_4": 5}),
    ("ord_4", "cus_3", "MOBILE", {"prd_1": 1, "prd_3": 1, "prd_5": 1}),
    ("ord_5", "cus_4", "WEB", {"prd_2": 1, "prd_3": 1}),
    ("ord_6", "cus_5", "POS", {"prd_6": 2}),
    ("ord_7", "cus_1", "WEB", {"prd_1": 1, "prd_2": 1}),
]
VIEWS = [("cus_6", "prd_4", 1), ("cus_6", "prd_6", 2), ("cus_6", "prd_1", 3), ("cus_8", "prd_8", 1)]
CREDENTIALS = ReadOnlyCredentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
)


def ranked(*pairs: tuple[str, int]) -> list[RankedProduct]:
    return [RankedProduct(pid, score) for pid, score in pairs]


def client_for(
    url: str,
    *,
    clock: FakeClock | None = None,
    socket_timeout: float = 2.0,
    **policy: float | int | bool,
) -> NeptuneClient:
    settings = NeptuneSettings(endpoint=url, socket_timeout_seconds=socket_timeout)
    base = {"timeout_seconds": 0.3, "failure_threshold": 5, "reset_seconds": 30.0, "retries": 0}
    resilience = Resilience(
        SOURCE,
        Policy(**{**base, **policy}),  # type: ignore[arg-type]
        clock or time.monotonic,
    )
    return build_client(settings, resilience=resilience)


class FakeClock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


# --- the engine and the graph ---------------------------------------------------------------


@pytest.fixture(scope="session")
def gremlin() -> Iterator[GremlinServer]:
    """A server of this module's own (not conftest's `gremlin_server`): the graph below is
    dropped and hand-built, and its counts would not survive the demo graph beside it."""
    server = GremlinServer()
    server.start()
    print(f"\nGremlin Server ready in {server.startup_seconds:.2f}s at {server.url}")
    yield server
    server.close()


@pytest.fixture(scope="session")
async def graph(gremlin: GremlinServer) -> AsyncIterator[NeptuneClient]:
    """A warmed client on the shared server, with the graph above loaded (through our writers)."""
    client = client_for(gremlin.url, timeout_seconds=5.0)
    assert await client.warm_up()
    source = NeptuneRecommendationSource(client)
    await client.write(lambda g: g.V().drop(), idempotent=True)
    catalogue = Upserts()
    for pid, path in CATEGORY_PATHS.items():
        catalogue.product(pid, category_ids=path, brand_id=BRANDS.get(pid))
    for pid in FILLER:
        catalogue.product(pid)
    await source.write(catalogue)
    for day, (order_id, customer_id, channel, lines) in enumerate(ORDERS):
        purchase = [PurchaseLine(pid, qty) for pid, qty in lines.items()]
        await source.add_purchase(
            order_id, customer_id, purchase, DAY0 + timedelta(days=day), channel=channel
        )
    for customer_id, pid, day in VIEWS:
        await source.add_view(customer_id, pid, DAY0 + timedelta(days=day))
    await source.write(Upserts().customer("cus_7"))
    yield client
    await client.aclose()


@pytest.fixture
def recs(graph: NeptuneClient) -> NeptuneRecommendationSource:
    # A fresh source per test: an empty bestseller cache; views limited to the last two.
    return NeptuneRecommendationSource(graph, recent_views=2)


def test_missing_jars_say_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(GremlinServerStartError, match="make engines-gremlin"):
        GremlinServer(tmp_path).start()


@engine
async def test_the_graph_holds_what_the_writers_wrote(graph: NeptuneClient) -> None:
    counts = await graph.read(lambda g: g.V().group_count().by(T.label))
    # 50 products, 4 categories, 2 brands, 8 customers (cus_1..cus_8)
    assert counts == [{"product": 50, "category": 4, "brand": 2, "customer": 8}]
    edges = await graph.read(lambda g: g.E().group_count().by(T.label))
    # in_category: 2+2+2+1+2+1+2 = 12; made_by: 7; purchased: 3+2+1+3+2+1+2 = 14; viewed: 4
    assert edges == [{"in_category": 12, "made_by": 7, "purchased": 14, "viewed": 4}]


# --- rankings, worked out by hand ------------------------------------------------------------


@engine
async def test_also_bought(recs: NeptuneRecommendationSource) -> None:
    result = await recs.also_bought(["prd_1", "prd_2", "prd_6", "prd_7", "prd_404"], 10)
    assert result == [
        # prd_1's buyers: cus_1 (twice: ord_1, ord_7), cus_2, cus_3. Their other products:
        # cus_1 {2, 3}, cus_2 {2, 4}, cus_3 {3, 5} -> 2: 2, 3: 2, 4: 1, 5: 1.
        # Counting customers, not paths: cus_1's repeat order does not make prd_2 score 5.
        ranked(("prd_2", 2), ("prd_3", 2), ("prd_4", 1), ("prd_5", 1)),
        # prd_2's buyers: cus_1 {1, 3}, cus_2 {1, 4}, cus_4 {3} -> 1: 2, 3: 2, 4: 1.
        ranked(("prd_1", 2), ("prd_3", 2), ("prd_4", 1)),
        [],  # prd_6: its only buyer, cus_5, bought nothing else
        [],  # prd_7: never bought
        [],  # unknown id
    ]


@engine
async def test_also_bought_limit_breaks_ties_by_id(recs: NeptuneRecommendationSource) -> None:
    # prd_2 and prd_3 tie at 2, prd_4 and prd_5 at 1: the limit keeps prd_4 (id order).
    assert await recs.also_bought(["prd_1"], 3) == [
        ranked(("prd_2", 2), ("prd_3", 2), ("prd_4", 1))
    ]


@engine
async def test_similar(recs: NeptuneRecommendationSource) -> None:
    result = await recs.similar(["prd_1", "prd_6", "prd_8"], 10)
    assert result == [
        # prd_1 is in cat_shoes, cat_run, by brd_acme.
        # cat_shoes: 2, 3, 5, 7; cat_run: 2, 7; brd_acme: 3, 4, 7
        # -> 7: 3, 2: 2, 3: 2, 4: 1, 5: 1
        ranked(("prd_7", 3), ("prd_2", 2), ("prd_3", 2), ("prd_4", 1), ("prd_5", 1)),
        # prd_6 is in cat_socks (with 4), by brd_zoom (with 2, 5): one point each.
        ranked(("prd_2", 1), ("prd_4", 1), ("prd_5", 1)),
        [],  # prd_8 shares nothing
    ]


@engine
async def test_for_customer(recs: NeptuneRecommendationSource) -> None:
    result = await recs.for_customer(["cus_4", "cus_6"], 5)
    assert result == [
        # cus_4 bought 2 and 3 (the seeds; no views). Paths seed -> other buyer -> product,
        # minus the seed and what cus_4 bought:
        #   prd_2: cus_1 -> 1;  cus_2 -> 1, 4.   prd_3: cus_1 -> 1;  cus_3 -> 1, 5.
        # -> 1: 4, 4: 1, 5: 1; one short of 5, filled from the overall bestsellers
        # (2 6, 4 5, 1 4, 3 4, 6 2, 5 1) without 2, 3 (bought) nor 1, 4, 5 (listed): 6.
        ranked(("prd_1", 4), ("prd_4", 1), ("prd_5", 1), ("prd_6", 2)),
        # cus_6 bought nothing; its two most recent views are the seeds: prd_1, prd_6
        # (prd_4, viewed first, is not). prd_1: cus_1 -> 2, 3; cus_2 -> 2, 4; cus_3 -> 3, 5.
        # prd_6: cus_5 -> nothing else. -> 2: 2, 3: 2, 4: 1, 5: 1; filled with prd_1 (4 units).
        ranked(("prd_2", 2), ("prd_3", 2), ("prd_4", 1), ("prd_5", 1), ("prd_1", 4)),
    ]


@engine
async def test_for_customer_cold_start_falls_back_to_bestsellers(
    recs: NeptuneRecommendationSource,
) -> None:
    pos = await recs.for_customer(["cus_7", "cus_5", "cus_404", "cus_8"], 3, channel="POS")
    assert pos == [
        # cus_7: nothing known -> POS bestsellers 4 (5), 6 (2), then overall: 2 (6).
        ranked(("prd_4", 5), ("prd_6", 2), ("prd_2", 6)),
        # cus_5 bought only prd_6, which nobody else bought: no personal result;
        # bestsellers without prd_6: 4, then overall 2, 1.
        ranked(("prd_4", 5), ("prd_2", 6), ("prd_1", 4)),
        # an unknown customer is a cold start too
        ranked(("prd_4", 5), ("prd_6", 2), ("prd_2", 6)),
        # cus_8 viewed prd_8, which nobody bought: nothing personal.
        ranked(("prd_4", 5), ("prd_6", 2), ("prd_2", 6)),
    ]
    # WEB: 2 (6), 1 (3), 3 (3, id after prd_1), then overall: 4 (5).
    assert await recs.for_customer(["cus_7"], 4, channel="WEB") == [
        ranked(("prd_2", 6), ("prd_1", 3), ("prd_3", 3), ("prd_4", 5))
    ]


@engine
async def test_for_cart(recs: NeptuneRecommendationSource) -> None:
    # prd_1: cus_1 -> 2, 3; cus_2 -> 2 (4 is in the cart); cus_3 -> 3, 5.
    # prd_4: cus_2 -> 2 (1 is in the cart).  -> 2: 3, 3: 2, 5: 1.
    assert await recs.for_cart(["prd_1", "prd_4"], 10) == ranked(
        ("prd_2", 3), ("prd_3", 2), ("prd_5", 1)
    )
    assert await recs.for_cart(["prd_6"], 10) == []


@engine
async def test_lambdas_are_refused_as_neptune_refuses_them(gremlin: GremlinServer) -> None:
    # The server evaluates a lambda's bytecode with Groovy before the strategy refuses it:
    # the first one pays for starting Groovy's script engine, hence the patient client.
    client = client_for(gremlin.url, timeout_seconds=30.0, socket_timeout=30.0)
    try:
        with pytest.raises(SourceRejectedError) as info:
            await client.read(lambda g: g.inject(1).map(lambda: "it.get() + 1"))
        assert info.value.error_type == "Neptune:Invalid"
        assert "lambda" in info.value.message
        assert client.resilience.breaker.state is BreakerState.CLOSED  # a bad traversal only
    finally:
        await client.aclose()


class Recorder:
    """Stands in for the client: keeps every traversal a source would send, answers nothing."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def read(self, build: Callable[[Any], Any]) -> list[Any]:
        self.sent.append(build(traversal().with_graph(Graph())))
        return []

    async def write(self, build: Callable[[Any], Any], *, idempotent: bool) -> list[Any]:
        self.sent.append(build(traversal().with_graph(Graph())))
        return []


def lambdas_in(value: object) -> list[object]:
    if isinstance(value, Traversal):
        return lambdas_in(value.bytecode)
    if isinstance(value, Bytecode):
        instructions = value.source_instructions + value.step_instructions
        return [f for i in instructions for arg in i[1:] for f in lambdas_in(arg)]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in lambdas_in(k) + lambdas_in(v)]
    if isinstance(value, list | tuple | set):
        return [f for item in value for f in lambdas_in(item)]
    return [value] if callable(value) and not isinstance(value, type) else []


async def test_no_traversal_we_send_holds_a_lambda() -> None:
    recorder = Recorder()
    recs = NeptuneRecommendationSource(recorder)  # type: ignore[arg-type]
    await recs.also_bought(["prd_1"], 5)
    await recs.similar(["prd_1"], 5)
    await recs.for_customer(["cus_1"], 5, channel="WEB")  # and the bestsellers behind it
    await recs.for_cart(["prd_1"], 5)
    await recs.add_purchase("ord_1", "cus_1", [PurchaseLine("prd_1", 1)], DAY0, channel="WEB")
    await recs.add_view("cus_1", "prd_1", DAY0)
    assert len(recorder.sent) == 7
    assert [lambdas_in(t) for t in recorder.sent] == [[]] * 7


# --- round trips ------------------------------------------------------------------------------


@engine
async def test_one_round_trip_per_batch(recs: NeptuneRecommendationSource) -> None:
    client = recs.client
    page = list(CATEGORY_PATHS) + FILLER  # 50 products
    assert len(page) == 50

    def trips() -> int:
        return client.round_trips

    before = trips()
    also = await recs.also_bought(page, 4)
    assert trips() - before == 1
    assert len(also) == 50
    assert also[0] == ranked(("prd_2", 2), ("prd_3", 2), ("prd_4", 1), ("prd_5", 1))

    before = trips()
    similar = await recs.similar(page, 4)
    assert trips() - before == 1
    assert len(similar) == 50

    customers = [f"cus_{n}" for n in range(1, 9)]
    before = trips()
    await recs.for_customer(customers, 5)  # + one for the bestsellers, then cached
    assert trips() - before == 2
    before = trips()
    await recs.for_customer(customers, 5)
    assert trips() - before == 1

    before = trips()
    await recs.for_cart(["prd_1", "prd_2", "prd_3"], 5)
    assert trips() - before == 1
    before = trips()
    assert await recs.for_cart([], 5) == []
    assert await recs.also_bought([], 5) == []
    assert trips() - before == 0


@engine
async def test_add_purchase_is_one_idempotent_round_trip(
    recs: NeptuneRecommendationSource,
) -> None:
    client = recs.client
    lines = [PurchaseLine("prd_w1", 1), PurchaseLine("prd_w2", 1), PurchaseLine("prd_w1", 2)]
    try:
        for _ in range(2):  # a replayed event changes nothing
            before = client.round_trips
            await recs.add_purchase("ord_w", "cus_w", lines, DAY0, channel="MOBILE")
            assert client.round_trips - before == 1
        edges = await client.read(
            lambda g: g.V("cus_w").out_e("purchased").order().by(T.id).value_map()
        )
        # the two prd_w1 lines became one edge of quantity 3
        assert [(e["orderId"], e["quantity"], e["channel"]) for e in edges] == [
            ("ord_w", 3, "MOBILE"),
            ("ord_w", 1, "MOBILE"),
        ]
        assert await recs.also_bought(["prd_w1"], 5) == [ranked(("prd_w2", 1))]
    finally:
        await client.write(lambda g: g.V("cus_w", "prd_w1", "prd_w2").drop(), idempotent=True)


# --- SigV4 -------------------------------------------------------------------------------------


NEPTUNE_URL = "wss://db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182/gremlin"


def test_signed_headers_name_host_service_and_region() -> None:
    signer = HandshakeSigner(NEPTUNE_URL, region="eu-west-1", credentials=lambda: CREDENTIALS)
    headers = signer.headers(datetime(2026, 11, 23, 12, 30, 5, tzinfo=UTC))
    assert set(headers) == {"Host", "X-Amz-Date", "X-Amz-Security-Token", "Authorization"}
    # the port is part of the Host header, exactly as the websocket client sends it
    assert headers["Host"] == "db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182"
    assert headers["X-Amz-Date"] == "20261123T123005Z"
    assert headers["X-Amz-Security-Token"] == "session-token"
    auth = headers["Authorization"]
    assert auth.startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-1/neptune-db/aws4_request, "
    )
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" in auth


def test_signature_matches_botocore_for_the_https_form_of_the_url() -> None:
    # given botocore signing the GET itself (its own clock) ...
    request = AWSRequest(
        method="GET",
        url="https://db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182/gremlin",
        headers={"Host": "db.cluster-abc.eu-west-1.neptune.amazonaws.com:8182"},
    )
    SigV4Auth(CREDENTIALS, "neptune-db", "eu-west-1").add_auth(request)
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    # ... our signer, at the same second, produces the same headers
    signer = HandshakeSigner(NEPTUNE_URL, region="eu-west-1", credentials=lambda: CREDENTIALS)
    assert signer.headers(signed_at.replace(tzinfo=UTC)) == dict(request.headers.items())


def test_default_https_port_is_left_out_of_the_host() -> None:
    signer = HandshakeSigner(
        "wss://neptune.example.com:443/gremlin", region="us-east-1", credentials=lambda: CREDENTIALS
    )
    assert signer.headers(DAY0)["Host"] == "neptune.example.com"


class FakeConnections:
    def __init__(self) -> None:
        self.made: list[dict[str, str]] = []
        self.retired: list[int] = []

    def connect(self, headers: dict[str, str] | object) -> int:
        assert isinstance(headers, dict)
        self.made.append(dict(headers))
        return len(self.made)

    def retire(self, connection: int) -> None:
        self.retired.append(connection)


def test_connections_are_re_signed_before_the_signature_goes_stale() -> None:
    # given a factory signing at an injected time
    now = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]
    fake = FakeConnections()
    signer = HandshakeSigner(NEPTUNE_URL, region="eu-west-1", credentials=lambda: CREDENTIALS)
    factory = ConnectionFactory(
        fake.connect, retire=fake.retire, signer=signer, clock=lambda: now[0]
    )
    # when time passes
    first = factory.connection()
    now[0] += timedelta(minutes=3, seconds=59)
    assert factory.connection() == first  # still fresh: reused, not re-signed
    now[0] += timedelta(seconds=1)  # 4 minutes: re-sign before the 5-minute limit
    second = factory.connection()
    # then a new connection with new headers, and the old one retired
    assert second != first
    assert fake.retired == [first]
    assert fake.made[0]["X-Amz-Date"] == "20261123T120000Z"
    assert fake.made[1]["X-Amz-Date"] == "20261123T120400Z"
    assert fake.made[0]["Authorization"] != fake.made[1]["Authorization"]


def test_a_refused_connection_is_re_signed_at_once() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    fake = FakeConnections()
    signer = HandshakeSigner(NEPTUNE_URL, region="eu-west-1", credentials=lambda: CREDENTIALS)
    factory = ConnectionFactory(fake.connect, retire=fake.retire, signer=signer, clock=lambda: now)
    first = factory.connection()
    factory.invalidate(first)  # a 403
    assert factory.connection() == 2
    assert fake.retired == [first]
    factory.invalidate(first)  # stale news about a retired connection changes nothing
    assert factory.connection() == 2


def test_unsigned_connections_do_not_expire() -> None:
    now = [DAY0]
    fake = FakeConnections()
    factory = ConnectionFactory(fake.connect, retire=fake.retire, clock=lambda: now[0])
    first = factory.connection()
    now[0] += timedelta(days=1)
    assert factory.connection() == first
    assert fake.made == [{}]


@engine
async def test_signed_handshake_reaches_the_server_and_a_403_re_signs() -> None:
    # given a websocket endpoint that refuses every handshake, recording what it was sent
    seen: list[dict[str, str]] = []

    async def gremlin(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(status=403)

    app = web.Application()
    app.router.add_get("/gremlin", gremlin)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = NeptuneSettings(
        endpoint=f"ws://127.0.0.1:{port}/gremlin", iam=True, region="eu-west-1"
    )
    policy = Policy(timeout_seconds=2.0, retries=0)
    client = build_client(
        settings, resilience=Resilience(SOURCE, policy), credentials=lambda: CREDENTIALS
    )
    recs = NeptuneRecommendationSource(client)
    try:
        # when asked twice
        for _ in range(2):
            with pytest.raises(SourceUnavailableError, match="403") as info:
                await recs.also_bought(["prd_1"], 3)
            assert info.value.error_type == "Neptune:Unavailable"
    finally:
        await client.aclose()
        await runner.cleanup()
    # then each attempt was signed for neptune-db with the right host, on a new connection
    assert len(seen) == 2
    for headers in seen:
        assert headers["Host"] == f"127.0.0.1:{port}"
        assert "/eu-west-1/neptune-db/aws4_request" in headers["Authorization"]
        assert headers["X-Amz-Security-Token"] == "session-token"
    assert client.connections is not None
    assert client.connections.created == 2


# --- faults -----------------------------------------------------------------------------------


@pytest.fixture
def doomed() -> Iterator[GremlinServer]:
    """A Gremlin Server of its own, for a test that kills it."""
    server = GremlinServer()
    server.start()
    yield server
    server.close()


@engine
async def test_server_stopped_mid_test_then_breaker_opens_then_recovers(
    doomed: GremlinServer,
) -> None:
    # given a working client on a server of its own
    clock = FakeClock()
    # A generous timeout: this test is about a dead server (fast failures), not a slow one,
    # and a fresh JVM compiles its first traversals slowly.
    client = client_for(
        doomed.url, clock=clock, timeout_seconds=3.0, failure_threshold=3, reset_seconds=30.0
    )
    recs = NeptuneRecommendationSource(client)
    try:
        assert await client.warm_up()
        await recs.write(Upserts().product("prd_1"))
        assert await recs.also_bought(["prd_1"], 3) == [[]]
        # when the server dies
        await asyncio.to_thread(doomed.stop, kill=True)
        # then calls fail with Neptune:Unavailable, on the pooled sockets and on new ones
        for _ in range(3):
            with pytest.raises(SourceUnavailableError) as info:
                await recs.also_bought(["prd_1"], 3)
            assert info.value.error_type == "Neptune:Unavailable"
        # and after three failures the breaker stops calling it
        assert client.resilience.breaker.state is BreakerState.OPEN
        trips = client.round_trips
        with pytest.raises(CircuitOpenError) as opened:
            await recs.also_bought(["prd_1"], 3)
        assert opened.value.error_type == "Neptune:CircuitOpen"
        assert client.round_trips == trips  # rejected without calling
        # when the server is back (an empty graph) and the cool-down is over
        await asyncio.to_thread(doomed.start)
        clock.now += 30.0
        # then the half-open probe goes through and closes the breaker
        assert await recs.also_bought(["prd_1"], 3) == [[]]
        assert client.resilience.breaker.state is BreakerState.CLOSED
        m = client.resilience.metrics
        assert m.failures == {"Unavailable": 3, "CircuitOpen": 1}
        assert (m.breaker_opened, m.breaker_half_opened, m.breaker_closed) == (1, 1, 1)
    finally:
        await client.aclose()


@pytest.fixture
def proxy(gremlin: GremlinServer) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", gremlin.port) as p:
        yield p


@engine
async def test_slow_graph_times_out_at_300_ms(graph: NeptuneClient, proxy: TcpProxy) -> None:
    # given a warmed client (default 300 ms timeout) behind a proxy
    client = client_for(f"ws://127.0.0.1:{proxy.port}/gremlin")
    recs = NeptuneRecommendationSource(client)
    try:
        assert await client.warm_up()
        expected = ranked(("prd_2", 2), ("prd_3", 2), ("prd_4", 1))
        assert await recs.also_bought(["prd_1"], 3) == [expected]
        # when every answer comes 0.6 s late
        proxy.delay(0.6)
        began = time.monotonic()
        with pytest.raises(SourceTimeoutError) as info:
            await recs.also_bought(["prd_1"], 3)
        waited = time.monotonic() - began
        # then Neptune:Timeout after the timeout, not after the answer
        assert info.value.error_type == "Neptune:Timeout"
        assert 0.29 <= waited < 0.55
        assert client.resilience.metrics.failures == {"Timeout": 1}
        # and once the graph is fast again, so are the answers
        proxy.heal()
        assert await recs.also_bought(["prd_1"], 3) == [expected]
    finally:
        await client.aclose()


@engine
async def test_blackholed_graph_times_out(graph: NeptuneClient, proxy: TcpProxy) -> None:
    client = client_for(f"ws://127.0.0.1:{proxy.port}/gremlin")
    try:
        assert await client.warm_up()
        proxy.blackhole()
        with pytest.raises(SourceTimeoutError) as info:
            await client.read(lambda g: g.inject(1))
        assert info.value.error_type == "Neptune:Timeout"
    finally:
        proxy.reset()  # frees the driver thread still waiting for the swallowed answer
        proxy.heal()
        await client.aclose()


@engine
async def test_reset_connections_are_replaced(graph: NeptuneClient, proxy: TcpProxy) -> None:
    # given a warmed client behind a proxy that then resets every connection
    client = client_for(f"ws://127.0.0.1:{proxy.port}/gremlin", failure_threshold=10)
    try:
        assert await client.warm_up()
        assert client.connections is not None
        made = client.connections.created
        proxy.reset()
        with pytest.raises(SourceUnavailableError):
            await client.read(lambda g: g.inject(1))
        # when the network heals, a new pool answers (the broken one was retired)
        proxy.heal()
        assert await client.read(lambda g: g.inject(1)) == [1]
        assert client.connections.created == made + 1
    finally:
        await client.aclose()


@engine
async def test_an_idempotent_retry_rides_over_a_reset(
    graph: NeptuneClient, proxy: TcpProxy
) -> None:
    client = client_for(f"ws://127.0.0.1:{proxy.port}/gremlin", retries=1)
    try:
        assert await client.warm_up()
        proxy.reset()
        proxy.heal()  # the pooled sockets are dead; new ones would work
        assert await client.read(lambda g: g.inject(1)) == [1]
        assert client.resilience.metrics.retries == 1
    finally:
        await client.aclose()


@engine
async def test_a_call_stuck_on_an_exhausted_pool_is_released(gremlin: GremlinServer) -> None:
    # given a pool whose every connection is gone (as after failed handshakes, which the
    # driver never returns to its queue; reached through gremlinpython's internals)
    client = client_for(gremlin.url, timeout_seconds=0.2)
    assert client.connections is not None
    pool = client.connections.connection()._client._pool
    taken = [pool.get_nowait() for _ in range(pool.qsize())]
    try:
        # when a call waits for a connection, it times out (the event loop never blocks) ...
        with pytest.raises(SourceTimeoutError):
            await client.read(lambda g: g.inject(1))
        # ... and closing the client releases the thread still blocked on that queue
        await client.aclose()
        await asyncio.wait_for(asyncio.to_thread(client._submitter.shutdown, wait=True), 5)
    finally:
        for connection in taken:
            pool.put_nowait(connection)
            connection.close()


async def test_no_endpoint_means_unavailable_without_tripping_the_breaker() -> None:
    client = build_client(NeptuneSettings(endpoint=None))
    recs = NeptuneRecommendationSource(client)
    try:
        for _ in range(10):
            with pytest.raises(SourceUnavailableError, match="not configured") as info:
                await recs.also_bought(["prd_1"], 3)
            assert info.value.error_type == "Neptune:Unavailable"
        assert client.resilience.breaker.state is BreakerState.CLOSED
        assert client.round_trips == 0
    finally:
        await client.aclose()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_NEPTUNE_ENDPOINT", NEPTUNE_URL)
    monkeypatch.setenv("CG_NEPTUNE_IAM", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = NeptuneSettings()
    assert (settings.endpoint, settings.iam, settings.region) == (NEPTUNE_URL, True, "eu-west-1")
    assert settings.timeout_seconds == 0.3
    assert settings.policy().max_concurrency == settings.pool_size
