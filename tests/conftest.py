"""Real engines, started once per session on free ports, and one seeded graph per engine.

Every test that takes `graph` runs twice: against DynamoDB Local (the official AWS build from
Maven Central) and against moto's server (the embedded default). No DynamoDB fake exists here.
Both apps share one Gremlin Server (the local Neptune), seeded with the demo set's graph; tests
that stop it or slow it down use a server or a proxy of their own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from appsync.auth import AuthMode, AuthSettings
from appsync.auth.settings import IamCredential
from auth_helpers import CognitoPool, create_cognito_pool, sigv4_headers
from datasources.build import Sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.graph import load_demo_graph
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from datasources.neptune.client import open_neptune
from datasources.neptune.settings import NeptuneSettings
from datasources.settings import Settings
from engines.dynamodb_local import start_dynamodb_local
from engines.gremlin_server import GremlinServer
from engines.moto_server import start_moto_server
from server import create_app

# Session fixtures of the connector engines (PostgreSQL, stripe-mock, the CAP ERP service),
# registered as plugins: importing them would skip pytest's assertion rewriting.
pytest_plugins = ("loyalty_fixtures", "saas_fixtures", "erp_fixtures")

ENGINES = ("dynamodb-local", "moto")
SEED_PRODUCTS = 240
SEED_CUSTOMERS = 30
SEED_ORDERS = 20

# botocore looks for credentials before the first call; engines accept any.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Apps under test write their events to the outbox; the tests that publish them run a relay of
# their own against moto (tests/test_relay.py, tests/test_events_flow.py).
os.environ.setdefault("CG_EVENTS_RELAY_ENABLED", "false")


@pytest.fixture(scope="session")
def engine_endpoints() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            "dynamodb-local": stack.enter_context(start_dynamodb_local()),
            "moto": stack.enter_context(start_moto_server()),
        }


@pytest.fixture(scope="session")
def gremlin_server() -> Iterator[GremlinServer]:
    """Gremlin Server, started once for the session (see datasources/neptune/local.py)."""
    server = GremlinServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
async def demo_gremlin(gremlin_server: GremlinServer, demo: DemoData) -> GremlinServer:
    """The shared Gremlin Server, holding the demo set's graph (seeded once)."""
    async with open_neptune(neptune_settings_for(gremlin_server.url)) as client:
        await load_demo_graph(client, demo, progress=False)
    return gremlin_server


def neptune_settings_for(url: str | None, **overrides: Any) -> NeptuneSettings:
    """The shared apps get a generous read timeout: they test answers, and a cold JVM on a
    busy CI machine may take longer than 300 ms to plan a traversal the first time. The fault
    tests keep the 300 ms default."""
    return NeptuneSettings(endpoint=url, **{"timeout_seconds": 2.0, **overrides})


@pytest.fixture(scope="session")
def demo() -> DemoData:
    return generate_demo(products=SEED_PRODUCTS, customers=SEED_CUSTOMERS, orders=SEED_ORDERS)


DEVICE_KEY, DEVICE_SECRET = "AKIDPOSDEVICE0000001", "pos-device-secret"
CUSTOMER, OTHER_CUSTOMER = "cus_0001", "cus_0002"  # Cognito user names = demo customer ids
STAFF = "clerk"


@dataclass(frozen=True)
class As:
    """Who sends a request: the test API key (default), a Cognito user, or a store device."""

    token: str | None = None
    device: bool = False


@pytest.fixture(scope="session")
def cognito(engine_endpoints: dict[str, str]) -> CognitoPool:
    return create_cognito_pool(
        engine_endpoints["moto"], {CUSTOMER: [], OTHER_CUSTOMER: [], STAFF: ["staff"]}
    )


@dataclass
class Graph:
    """A running app on one engine, and a client that speaks GraphQL to it."""

    engine: str
    app: Starlette
    client: httpx.AsyncClient
    settings: Settings
    cognito: CognitoPool

    @property
    def sources(self) -> Sources:
        sources: Sources = self.app.state.sources
        return sources

    def signed_in(self, username: str) -> As:
        id_token, _ = self.cognito.sign_in(username)
        return As(token=id_token)

    @staticmethod
    def headers_for(body: bytes, as_: As | None) -> dict[str, str]:
        """The request's own headers (the client adds the test API key as its default)."""
        headers = {"content-type": "application/json"}
        if as_ is not None and as_.device:
            headers = sigv4_headers(body, access_key=DEVICE_KEY, secret_key=DEVICE_SECRET)
            headers["x-api-key"] = ""  # the client's default key must not win the mode choice
        elif as_ is not None and as_.token:
            headers |= {"authorization": as_.token, "x-api-key": ""}
        return headers

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: As | None = None
    ) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables or {}})
        headers = self.headers_for(body, as_)
        response = await self.client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: As | None = None
    ) -> dict[str, Any]:
        body = await self.post(query, variables, as_=as_)
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


def auth_settings_for(pool: CognitoPool) -> AuthSettings:
    """API key by default; Cognito (moto's pool) for shoppers and staff; IAM for devices."""
    return AuthSettings(
        default_mode=AuthMode.API_KEY,
        additional_modes=[AuthMode.AMAZON_COGNITO_USER_POOLS, AuthMode.AWS_IAM],
        user_pool_id=pool.pool_id,
        cognito_endpoint=pool.endpoint,
        app_id_client_regex=pool.client_id,
        iam_credentials={
            DEVICE_KEY: IamCredential(
                secret_access_key=DEVICE_SECRET,  # type: ignore[arg-type]
                user_arn="arn:aws:iam::000000000000:user/pos-device-01",
            )
        },
    )


@pytest.fixture(scope="session", params=ENGINES)
async def graph(
    request: pytest.FixtureRequest,
    engine_endpoints: dict[str, str],
    demo: DemoData,
    cognito: CognitoPool,
    demo_gremlin: GremlinServer,
) -> AsyncIterator[Graph]:
    engine: str = request.param
    settings = settings_for(engine_endpoints[engine], prefix="cg-test-")
    app = create_app(
        settings,
        auth_settings=auth_settings_for(cognito),
        neptune_settings=neptune_settings_for(demo_gremlin.url),
    )
    async with app.router.lifespan_context(app):
        sources: Sources = app.state.sources
        await create_tables(sources.dynamo)
        await load_demo(sources.dynamo, demo, progress=False)
        key = (await create_api_key(sources.dynamo, description="tests")).key
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"x-api-key": key}
        ) as client:
            yield Graph(engine, app, client, settings, cognito)
