"""Liveness and readiness."""

from __future__ import annotations

import httpx

from conftest import Graph, settings_for
from server import create_app


async def test_healthz_and_readyz(graph: Graph) -> None:
    assert (await graph.client.get("/healthz")).json() == {"status": "ok"}
    ready = await graph.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["sources"] == {"DynamoDB": True, "Neptune": True}


async def test_readyz_says_not_ready_when_dynamodb_is_unreachable() -> None:
    # given: an endpoint nothing listens on
    app = create_app(settings_for("http://127.0.0.1:9", prefix="x-"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            # when
            ready = await client.get("/readyz")
    # then
    assert ready.status_code == 503
    assert ready.json()["sources"] == {"DynamoDB": False}
