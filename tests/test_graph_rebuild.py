"""`commerce-graph graph rebuild`: the graph rebuilt from DynamoDB, through the real command."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import pytest
from gremlin_python.process.traversal import T

from conftest import settings_for
from datasources.build import open_sources
from datasources.demo.generate import DemoData
from datasources.demo.graph import load_demo_graph
from datasources.demo.load import load_demo
from datasources.dynamodb.order import order_item
from datasources.dynamodb.tables import create_tables
from datasources.neptune.client import open_neptune
from datasources.neptune.rebuild import drop_graph
from datasources.neptune.recommendations import NeptuneRecommendationSource
from datasources.neptune.settings import NeptuneSettings
from datasources.order import OrderStatus
from datasources.settings import Settings
from engines.gremlin_server import GremlinServer
from server import main
from test_recommendations import HandRanking

GUEST_ORDER = "ord_guest_rebuild"


@pytest.fixture(scope="module")
async def rebuild_settings(engine_endpoints: dict[str, str], demo: DemoData) -> Settings:
    """Tables of their own: the demo set, plus a guest's repeat of ord_00019 (189 and 174)."""
    settings = settings_for(engine_endpoints["dynamodb-local"], prefix="cg-rebuild-")
    guest = replace(demo.orders[18], id=GUEST_ORDER, customer_id=None)
    async with open_sources(settings, NeptuneSettings(endpoint=None)) as sources:
        await create_tables(sources.dynamo)
        await load_demo(sources.dynamo, demo, progress=False)
        await sources.dynamo.batch_write(sources.dynamo.table("orders"), [order_item(guest)])
    return settings


def test_graph_rebuild_command_rebuilds_from_dynamodb(
    rebuild_settings: Settings,
    demo: DemoData,
    demo_gremlin: GremlinServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given DynamoDB tables holding the demo set and a guest order
    monkeypatch.setenv("CG_DYNAMODB_ENDPOINT", str(rebuild_settings.dynamodb_endpoint))
    monkeypatch.setenv("CG_TABLE_PREFIX", rebuild_settings.table_prefix)
    monkeypatch.setenv("CG_NEPTUNE_ENDPOINT", demo_gremlin.url)
    try:
        # when
        assert main(["graph", "rebuild", "--drop"]) == 0
        # then the graph holds every product, customer and purchase of DynamoDB
        out = capsys.readouterr().out
        assert "graph rebuilt: 60 categories, 240 products, 30 customers, 21 orders" in out
        graph = asyncio.run(_read_graph(demo_gremlin.url))
    finally:
        asyncio.run(_reseed(demo_gremlin.url, demo))  # the demo graph, for whoever comes next
    guest = f"guest:{GUEST_ORDER}"
    live = [o for o in demo.orders if o.status is not OrderStatus.CANCELED]
    assert graph.vertices["product"] == 240
    assert graph.vertices["customer"] == 30 + 1  # the guest has a vertex of its own
    assert graph.edges["purchased"] == sum(len({ln.product_id for ln in o.lines}) for o in live) + 2
    hand = HandRanking(demo, [*demo.orders, replace(demo.orders[18], customer_id=guest)])
    assert graph.edges["in_category"] == sum(len(hand.paths[p.category_id]) for p in demo.products)
    assert "viewed" not in graph.edges  # views live only in the graph: a rebuild has none
    # and ranks as the orders say: prd_00174 now has two buyers of prd_00189
    assert graph.also_bought == hand.also_bought("prd_00189", 5)
    assert graph.also_bought[0] == "prd_00174"


@dataclass
class GraphContents:
    vertices: dict[str, int]
    edges: dict[str, int]
    also_bought: list[str]


async def _read_graph(url: str) -> GraphContents:
    async with open_neptune(NeptuneSettings(endpoint=url, timeout_seconds=5.0)) as client:
        (vertices,) = await client.read(lambda g: g.V().group_count().by(T.label))
        (edges,) = await client.read(lambda g: g.E().group_count().by(T.label))
        (ranked,) = await NeptuneRecommendationSource(client).also_bought(["prd_00189"], 5)
    return GraphContents(vertices, edges, [r.product_id for r in ranked])


async def _reseed(url: str, demo: DemoData) -> None:
    async with open_neptune(NeptuneSettings(endpoint=url)) as client:
        await drop_graph(client)
        await load_demo_graph(client, demo, progress=False)
