"""Scale-out: two server processes share a real Redis; a mutation on one reaches a
subscriber connected to the other, through the Redis broker (and not twice)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from auth_helpers import API_HOST
from datasources.build import open_dynamo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import APIKEYS, create_tables
from datasources.settings import Settings
from engines.ports import free_port, wait_for_port
from engines.process import stop_process_group
from engines.redis_server import start_redis_server
from realtime_support import LiveServer, RealtimeClient, encode_header
from test_realtime_protocol import PUBLISH_STOCK, stock_change

pytestmark = pytest.mark.engine

SERVER = Path(__file__).with_name("realtime_process.py")


@contextmanager
def server_process(env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        yield port
    finally:
        stop_process_group(proc, grace=10)


@pytest.fixture(scope="module")
async def cluster(engine_endpoints: dict[str, str]) -> AsyncIterator[tuple[int, int, str]]:
    """(port A, port B, API key): two processes, one DynamoDB prefix, one Redis."""
    prefix = f"cg-scale-{uuid.uuid4().hex[:6]}-"
    settings = Settings(dynamodb_endpoint=engine_endpoints["moto"], table_prefix=prefix)
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo, (APIKEYS,))
        key = (await create_api_key(dynamo, description="scale-out")).key
    with ExitStack() as processes:
        redis_url = processes.enter_context(start_redis_server())
        env = {
            **os.environ,
            "CG_DYNAMODB_ENDPOINT": engine_endpoints["moto"],
            "CG_TABLE_PREFIX": prefix,
            "CG_REDIS_URL": redis_url,
            "CG_EMBEDDED": "false",
        }
        port_a = processes.enter_context(server_process(env))
        port_b = processes.enter_context(server_process(env))
        yield port_a, port_b, key


async def test_a_mutation_on_one_process_reaches_a_subscriber_on_the_other(
    cluster: tuple[int, int, str],
) -> None:
    port_a, port_b, key = cluster
    server_a = LiveServer(app=None, port=port_a, loop=None, api_key=key)  # type: ignore[arg-type]
    auth = {"host": API_HOST, "x-api-key": key}
    # given a subscriber on B (and one on A, to see each process delivers once)
    clients: list[RealtimeClient] = []
    for port in (port_b, port_a):
        url = f"ws://127.0.0.1:{port}/graphql/realtime?header={encode_header(auth)}&payload=e30="
        client = RealtimeClient(await connect(url, subprotocols=["graphql-ws"]))  # type: ignore[list-item]
        assert (await client.init())["type"] == "connection_ack"
        await client.start(
            "s",
            'subscription { onStockChanged(sku: "SKU-S") { sku available } }',
            authorization=auth,
        )
        assert await client.receive(30) == {"id": "s", "type": "start_ack"}
        clients.append(client)
    on_b, on_a = clients
    # when the event relay's IAM mutation runs on A
    body = await server_a.post(
        PUBLISH_STOCK, {"input": stock_change("SKU-S", available=7)}, iam=True
    )
    assert "errors" not in body
    # then B's subscriber gets it, once, and so does A's
    expected = {
        "id": "s",
        "type": "data",
        "payload": {"data": {"onStockChanged": {"sku": "SKU-S", "available": 7}}},
    }
    assert await on_b.receive() == expected
    assert await on_a.receive() == expected
    await on_b.nothing_within(0.5)
    for client in clients:
        await client.socket.close()
