"""Real engines, started once per session on free ports, and one seeded graph per engine.

Every test that takes `graph` runs twice: against DynamoDB Local (the official AWS build from
Maven Central) and against moto's server (the embedded default). No DynamoDB fake exists here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from datasources.build import Sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from datasources.settings import Settings
from engines.dynamodb_local import start_dynamodb_local
from engines.moto_server import start_moto_server
from server import create_app

ENGINES = ("dynamodb-local", "moto")
SEED_PRODUCTS = 240
SEED_CUSTOMERS = 30
SEED_ORDERS = 20

# botocore looks for credentials before the first call; engines accept any.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def engine_endpoints() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            "dynamodb-local": stack.enter_context(start_dynamodb_local()),
            "moto": stack.enter_context(start_moto_server()),
        }


@pytest.fixture(scope="session")
def demo() -> DemoData:
    return generate_demo(products=SEED_PRODUCTS, customers=SEED_CUSTOMERS, orders=SEED_ORDERS)


@dataclass
class Graph:
    """A running app on one engine, and a client that speaks GraphQL to it."""

    engine: str
    app: Starlette
    client: httpx.AsyncClient
    settings: Settings

    @property
    def sources(self) -> Sources:
        sources: Sources = self.app.state.sources
        return sources

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


def settings_for(endpoint: str, prefix: str) -> Settings:
    return Settings(
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        token_secret="test-secret",  # type: ignore[arg-type]
        graphiql=True,
    )


@pytest.fixture(scope="session", params=ENGINES)
async def graph(
    request: pytest.FixtureRequest, engine_endpoints: dict[str, str], demo: DemoData
) -> AsyncIterator[Graph]:
    engine: str = request.param
    settings = settings_for(engine_endpoints[engine], prefix="cg-test-")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sources: Sources = app.state.sources
        await create_tables(sources.dynamo)
        await load_demo(sources.dynamo, demo, progress=False)
        key = (await create_api_key(sources.dynamo, description="tests")).key
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"x-api-key": key}
        ) as client:
            yield Graph(engine, app, client, settings)
