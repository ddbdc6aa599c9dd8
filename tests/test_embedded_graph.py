"""The embedded default (`make run`): a local Gremlin Server when Java is here, a notice when not.

Each test starts the whole embedded app as `make run` does (moto in process, demo data, and the
graph), on a small demo set.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from datasources.settings import Settings
from server import create_app

pytestmark = pytest.mark.engine

PAGE = """
query Page($id: ID!) {
  product(id: $id) { id name recommendations(kind: SIMILAR, limit: 3) { id name } }
}
"""


@asynccontextmanager
async def embedded(
    capsys: pytest.CaptureFixture[str],
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The embedded app (as `make run` serves it) and what its start-up printed."""
    settings = Settings(
        embedded=True, seed_products=40, seed_customers=5, seed_orders=8, table_prefix="cg-"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        printed = capsys.readouterr().out
        found = re.search(r"dev API key \(x-api-key\): (\S+)", printed)
        assert found, printed
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://run", headers={"x-api-key": found[1]}
        ) as client:
            yield client, printed


async def page(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": PAGE, "variables": {"id": "prd_00001"}})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_with_java_a_local_gremlin_server_is_started_and_seeded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CG_NEPTUNE_ENDPOINT", raising=False)
    async with embedded(capsys) as (client, printed):
        assert re.search(
            r"Gremlin Server \(the local Neptune\) at ws://127\.0\.0\.1:\d+/gremlin", printed
        )
        body = await page(client)
        assert "errors" not in body, body
        assert len(body["data"]["product"]["recommendations"]) == 3  # the graph was seeded
        ready = (await client.get("/readyz")).json()
        assert ready["sources"] == {"DynamoDB": True, "Neptune": True}


async def test_without_java_the_server_still_starts_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CG_NEPTUNE_ENDPOINT", raising=False)
    monkeypatch.setenv("PATH", "")  # no `java` to be found
    async with embedded(capsys) as (client, printed):
        assert "Java not found" in printed
        assert "recommendations answer Neptune:Unavailable" in printed
        body = await page(client)
        assert body["data"]["product"]["name"]
        assert body["data"]["product"]["recommendations"] is None
        assert [e["errorType"] for e in body["errors"]] == ["Neptune:Unavailable"]
        assert (await client.get("/readyz")).status_code == 200
