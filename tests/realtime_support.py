"""A real server for the realtime tests: uvicorn on a free port, and WebSocket helpers.

The app runs in a thread with its own event loop (the realtime protocol needs a real
socket: httpx's ASGI transport has no WebSockets); `LiveServer.call` runs a coroutine on
that loop, e.g. to seed DynamoDB through the app's own sources.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from appsync.realtime import Realtime
from appsync.settings import EdgeSettings
from auth_helpers import API_HOST, CognitoPool, sigv4_headers
from conftest import DEVICE_KEY, DEVICE_SECRET, auth_settings_for, settings_for
from datasources.build import Sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from engines.ports import free_port
from server import create_app

T = TypeVar("T")


@dataclass
class LiveServer:
    app: Starlette
    port: int
    loop: asyncio.AbstractEventLoop
    api_key: str = ""

    @property
    def realtime(self) -> Realtime:
        realtime: Realtime = self.app.state.realtime
        return realtime

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realtime_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/realtime"

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def api_key_headers(self) -> dict[str, str]:
        return {"host": API_HOST, "x-api-key": self.api_key}

    async def post(
        self, query: str, variables: Mapping[str, Any] | None = None, *, iam: bool = False
    ) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": dict(variables or {})})
        if iam:
            headers = sigv4_headers(body, access_key=DEVICE_KEY, secret_key=DEVICE_SECRET)
        else:
            headers = {"content-type": "application/json", "x-api-key": self.api_key}
        async with httpx.AsyncClient(base_url=self.http_url, timeout=30) as client:
            response = await client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def serve(app: Starlette, *, port: int | None = None) -> Iterator[LiveServer]:
    """Run `app` (lifespan included) on 127.0.0.1 until the block ends."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # reported by the waiting test
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            loop.close()
            raise RuntimeError(f"the test server did not start: {failure!r}")
        time.sleep(0.05)
    try:
        yield LiveServer(app, port, loop)
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


def encode_header(headers: Mapping[str, str], *, urlsafe: bool = False) -> str:
    raw = json.dumps(dict(headers), separators=(",", ":")).encode()
    if urlsafe:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return base64.b64encode(raw).decode()


class RealtimeClient:
    """A plain WebSocket speaking AppSync's protocol, for the message catalogue tests."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, message: Mapping[str, Any] | str) -> None:
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, within: float = 10.0, *, skip_ka: bool = True) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), within))
            if not (skip_ka and message.get("type") == "ka"):
                return message

    async def nothing_within(self, seconds: float) -> None:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def init(self) -> dict[str, Any]:
        await self.send({"type": "connection_init"})
        return await self.receive()

    async def start(
        self,
        sid: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        authorization: Mapping[str, str] | None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        data = json.dumps({"query": query, "variables": dict(variables or {})})
        ext: dict[str, Any] = dict(extensions or {})
        if authorization is not None:
            ext["authorization"] = dict(authorization)
        await self.send({"id": sid, "type": "start", "payload": {"data": data, "extensions": ext}})


def iam_start_authorization(data: str) -> dict[str, str]:
    """AWS_IAM headers for one start: a SigV4 POST /graphql whose body is the data string."""
    return sigv4_headers(data.encode(), access_key=DEVICE_KEY, secret_key=DEVICE_SECRET)


async def open_realtime(
    server: LiveServer,
    headers: Mapping[str, str] | None = None,
    *,
    style: str = "query",
) -> RealtimeClient:
    """Connect with the auth `headers` (default: the API key) in the given handshake style."""
    auth = dict(headers if headers is not None else server.api_key_headers())
    if style == "query":
        url = f"{server.realtime_url}?header={encode_header(auth)}&payload=e30="
        socket = await connect(url, subprotocols=["graphql-ws"])  # type: ignore[list-item]
    else:
        protocols = ["graphql-ws", f"header-{encode_header(auth, urlsafe=True)}"]
        socket = await connect(server.realtime_url, subprotocols=protocols)  # type: ignore[arg-type]
    return RealtimeClient(socket)


# --- the shared fixture: import it into a test module to use it ---

SMALL_DEMO = {"products": 12, "customers": 3, "orders": 2}


@pytest.fixture(scope="session")
def realtime_demo() -> DemoData:
    return generate_demo(**SMALL_DEMO)


@pytest.fixture(scope="session")
def live(
    engine_endpoints: dict[str, str], cognito: CognitoPool, realtime_demo: DemoData
) -> Iterator[LiveServer]:
    """The app on moto with a small demo set, served by uvicorn; API key in `api_key`."""
    settings = settings_for(engine_endpoints["moto"], prefix=f"cg-rt-{uuid.uuid4().hex[:6]}-")
    # Rate limiting has its own tests; a hundred starts in a burst must not trip it here.
    edge = EdgeSettings(rate_limit_per_second=10_000, rate_limit_burst=10_000)
    app = create_app(settings, auth_settings=auth_settings_for(cognito), edge_settings=edge)
    with serve(app) as server:
        server.api_key = server.call(_seed(app, realtime_demo))
        yield server


async def _seed(app: Starlette, demo: DemoData) -> str:
    sources: Sources = app.state.sources
    await create_tables(sources.dynamo)
    await load_demo(sources.dynamo, demo, progress=False)
    return (await create_api_key(sources.dynamo, description="realtime tests")).key


# --- documents and helpers shared by the realtime tests ---

CREATE_CART = "mutation { createCart(input: {channel: WEB}) { cartId userErrors { code } } }"
ADD_LINES = """
mutation Add($cartId: ID!, $variantId: ID!, $n: Int!) {
  addCartLines(cartId: $cartId, lines: [{variantId: $variantId, quantity: $n}]) {
    cartId cart { id totalQuantity lines { quantity } } userErrors { code message }
  }
}"""


def in_stock_variant(demo: DemoData, index: int = 0) -> str:
    """A variant with plenty of stock in the WEB warehouses."""
    web = {loc.id for loc in demo.locations if "WEB" in loc.channels}
    found = [
        variant_id
        for stock in demo.stock
        for variant_id, levels in stock.by_variant.items()
        if sum(lv.available for loc, lv in levels.items() if loc in web) >= 20
    ]
    return found[index]


async def wait_for_subscribers(server: LiveServer, count: int, within: float = 10.0) -> None:
    """Until `count` subscriptions are live on the server (start_ack may still be in flight)."""
    deadline = time.monotonic() + within
    while server.realtime.active != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.realtime.active} subscriptions live, not {count}")
        await asyncio.sleep(0.02)
