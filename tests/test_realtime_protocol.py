"""AppSync's real-time protocol at /graphql/realtime against its message catalogue (§5.1-5.3).

A real uvicorn server and a plain WebSocket client; every message is compared whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import realtime_support
from auth_helpers import sigv4_headers
from conftest import DEVICE_KEY, DEVICE_SECRET
from realtime_support import (
    ADD_LINES,
    CREATE_CART,
    LiveServer,
    RealtimeClient,
    iam_start_authorization,
    in_stock_variant,
    open_realtime,
    wait_for_subscribers,
)

# Session fixtures shared by the realtime tests (a live uvicorn server on moto).
live = realtime_support.live
realtime_demo = realtime_support.realtime_demo

ON_CART = "subscription S($id: ID!) { onCartUpdated(cartId: $id) { cartId } }"
ON_STOCK = "subscription { onStockChanged { sku } }"
UNAUTHORIZED_CONNECTION = "com.amazonaws.deepdish.graphql.auth#UnauthorizedException"
UNSUPPORTED = {
    "errorType": "UnsupportedOperation",
    "message": "Operation not supported through the realtime channel",
}


@pytest.fixture
def keepalive(live: LiveServer) -> Iterator[None]:
    endpoint = live.app.state.realtime_endpoint
    before, endpoint.keepalive_seconds = endpoint.keepalive_seconds, 0.2
    yield
    endpoint.keepalive_seconds = before


async def started(
    client: RealtimeClient, sid: str, live: LiveServer, query: str = ON_STOCK
) -> None:
    await client.start(sid, query, authorization=live.api_key_headers())
    assert await client.receive() == {"id": sid, "type": "start_ack"}


# --- handshake and connection -------------------------------------------------------------


@pytest.mark.usefixtures("keepalive")
async def test_query_string_handshake_acks_and_keeps_alive(live: LiveServer) -> None:
    client = await open_realtime(live, style="query")
    assert client.socket.subprotocol == "graphql-ws"
    await client.send({"type": "connection_init"})
    assert await client.receive() == {
        "type": "connection_ack",
        "payload": {"connectionTimeoutMs": 300000},
    }
    assert await client.receive(skip_ka=False) == {"type": "ka"}
    assert await client.receive(2, skip_ka=False) == {"type": "ka"}
    await client.socket.close()


async def test_header_subprotocol_handshake(live: LiveServer) -> None:
    client = await open_realtime(live, style="subprotocol")
    assert client.socket.subprotocol == "graphql-ws"
    assert (await client.init())["type"] == "connection_ack"
    await started(client, "s1", live)
    await client.socket.close()


async def test_without_graphql_ws_the_upgrade_is_refused(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus):
        await connect(live.realtime_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"x-api-key": "da2-wrongwrongwrongwrongwrong00"},
            "You are not authorized to make this call.",
        ),
        ({}, "Valid authorization header not provided."),
    ],
)
async def test_bad_connection_auth_is_connection_error(
    live: LiveServer, headers: dict[str, str], message: str
) -> None:
    client = await open_realtime(live, headers)
    assert await client.init() == {
        "type": "connection_error",
        "payload": {
            "errors": [{"errorType": UNAUTHORIZED_CONNECTION, "message": message, "errorCode": 400}]
        },
    }
    with pytest.raises(ConnectionClosed):
        await client.receive()


async def test_iam_connection_and_iam_start(live: LiveServer) -> None:
    # given SigV4 of POST /graphql/connect with body {} for the connection
    connect_headers = sigv4_headers(
        b"{}", access_key=DEVICE_KEY, secret_key=DEVICE_SECRET, path="/graphql/connect"
    )
    client = await open_realtime(live, connect_headers)
    assert (await client.init())["type"] == "connection_ack"
    # when a start is signed over its data string, then it is accepted
    data = json.dumps({"query": ON_STOCK, "variables": {}})
    await client.send(
        {
            "id": "iam",
            "type": "start",
            "payload": {
                "data": data,
                "extensions": {"authorization": iam_start_authorization(data)},
            },
        }
    )
    assert await client.receive() == {"id": "iam", "type": "start_ack"}
    # and a signature over another body is refused
    other = iam_start_authorization(json.dumps({"query": ON_STOCK}))
    await client.send(
        {
            "id": "bad",
            "type": "start",
            "payload": {"data": data, "extensions": {"authorization": other}},
        }
    )
    refused = await client.receive()
    assert refused["id"] == "bad"
    assert refused["payload"]["errors"][0]["errorType"] == "InvalidSignatureException"
    await client.socket.close()


# --- the message catalogue ----------------------------------------------------------------


async def test_start_data_stop_complete(live: LiveServer, realtime_demo: Any) -> None:
    cart_id = (await live.post(CREATE_CART))["data"]["createCart"]["cartId"]
    client = await open_realtime(live)
    await client.init()
    await client.start("c1", ON_CART, {"id": cart_id}, authorization=live.api_key_headers())
    assert await client.receive() == {"id": "c1", "type": "start_ack"}
    await live.post(
        ADD_LINES, {"cartId": cart_id, "variantId": in_stock_variant(realtime_demo), "n": 1}
    )
    assert await client.receive() == {
        "id": "c1",
        "type": "data",
        "payload": {"data": {"onCartUpdated": {"cartId": cart_id}}},
    }
    await client.send({"id": "c1", "type": "stop"})
    assert await client.receive() == {"id": "c1", "type": "complete"}
    await client.socket.close()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("{not json", {"type": "error", "payload": {"errors": [
            {"errorType": "BadRequestException", "message": "The message is not valid JSON."}]}}),
        ("[1, 2]", {"type": "error", "payload": {"errors": [
            {"errorType": "BadRequestException",
             "message": "The message must be a JSON object."}]}}),
        ('{"type": "subscribe", "id": "x"}',
         {"id": "x", "type": "error", "payload": {"errors": [UNSUPPORTED]}}),
        ('{"type": "connection_terminate"}',
         {"type": "error", "payload": {"errors": [UNSUPPORTED]}}),
        ('{"type": "start", "payload": {}}', {"type": "error", "payload": {"errors": [
            {"errorType": "BadRequestException", "message": "A start message needs an id."}]}}),
        ('{"type": "start", "id": "d", "payload": {"data": {"query": "x"}}}',
         {"id": "d", "type": "error", "payload": {"errors": [{
             "errorType": "BadRequestException",
             "message": "A start message needs payload.data, the request as a JSON string."}]}}),
    ],
)  # fmt: skip
async def test_bad_messages(live: LiveServer, frame: str, expected: dict[str, Any]) -> None:
    client = await open_realtime(live)
    await client.init()
    await client.send(frame)
    assert await client.receive() == expected
    await started(client, "after", live)  # the connection survives
    await client.socket.close()


async def test_queries_and_mutations_are_unsupported(live: LiveServer) -> None:
    client = await open_realtime(live)
    await client.init()
    await client.start("q", "query { __typename }", authorization=live.api_key_headers())
    assert await client.receive() == {
        "id": "q",
        "type": "error",
        "payload": {"errors": [UNSUPPORTED]},
    }
    await client.socket.close()


async def test_invalid_subscription_gets_graphql_java_errors(live: LiveServer) -> None:
    client = await open_realtime(live)
    await client.init()
    await client.start(
        "v", "subscription { onStockChanged { nope } }", authorization=live.api_key_headers()
    )
    assert await client.receive() == {
        "id": "v",
        "type": "error",
        "payload": {"errors": [{
            "path": None,
            "locations": [{"line": 1, "column": 33, "sourceName": None}],
            "message": "Validation error of type FieldUndefined: Field 'nope' in type"
            " 'StockChange' is undefined @ 'onStockChanged/nope'",
        }]},
    }  # fmt: skip
    await client.socket.close()


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, {"errorType": "UnauthorizedException",
                "message": "Valid authorization header not provided."}),
        ({"x-api-key": "da2-wrongwrongwrongwrongwrong00"},
         {"errorType": "UnauthorizedException",
          "message": "You are not authorized to make this call."}),
    ],
)  # fmt: skip
async def test_start_is_authenticated_on_its_own_headers(
    live: LiveServer, authorization: dict[str, str] | None, error: dict[str, Any]
) -> None:
    client = await open_realtime(live)
    await client.init()
    await client.start("a", ON_STOCK, authorization=authorization)
    assert await client.receive() == {"id": "a", "type": "error", "payload": {"errors": [error]}}
    await client.socket.close()


async def test_reused_id_is_refused(live: LiveServer) -> None:
    client = await open_realtime(live)
    await client.init()
    await started(client, "same", live)
    await client.start("same", ON_STOCK, authorization=live.api_key_headers())
    refused = await client.receive()
    assert refused["id"] == "same"
    assert refused["payload"]["errors"][0]["errorType"] == "DuplicateSubscriptionIdError"
    await client.socket.close()


async def test_101st_subscription_is_refused(live: LiveServer) -> None:
    client = await open_realtime(live)
    await client.init()
    for n in range(100):
        await client.start(f"s{n}", ON_STOCK, authorization=live.api_key_headers())
    acks = [await client.receive() for _ in range(100)]
    assert {m["type"] for m in acks} == {"start_ack"}
    await client.start("s100", ON_STOCK, authorization=live.api_key_headers())
    assert await client.receive() == {
        "id": "s100",
        "type": "error",
        "payload": {"errors": [{
            "errorType": "MaxSubscriptionsReachedError",
            "message": "Max number of 100 subscriptions reached",
        }]},
    }  # fmt: skip
    # a stop makes room again
    await client.send({"id": "s0", "type": "stop"})
    assert await client.receive() == {"id": "s0", "type": "complete"}
    await started(client, "s100", live)
    await client.socket.close()


async def test_oversized_frames_and_events(live: LiveServer) -> None:
    client = await open_realtime(live)
    await client.init()
    # an inbound frame above 240 KB
    await client.send(json.dumps({"type": "start", "id": "big", "pad": "x" * (240 * 1024)}))
    assert await client.receive() == {
        "type": "error",
        "payload": {"errors": [{
            "errorType": "PayloadTooLargeError",
            "message": "The message exceeds the limit of 245760 bytes.",
        }]},
    }  # fmt: skip
    # an event whose data message is above the cap (lowered here) is dropped with an error
    endpoint = live.app.state.realtime_endpoint
    await started(client, "small", live)
    before, endpoint.max_payload_bytes = endpoint.max_payload_bytes, 60
    try:
        await live.post(PUBLISH_STOCK, {"input": stock_change("SKU-BIG")}, iam=True)
        refused = await client.receive()
    finally:
        endpoint.max_payload_bytes = before
    assert refused == {
        "id": "small",
        "type": "error",
        "payload": {"errors": [{
            "errorType": "PayloadTooLargeError",
            "message": "The message exceeds the limit of 60 bytes.",
        }]},
    }  # fmt: skip
    await client.socket.close()


async def test_abrupt_disconnects_leave_no_tasks_or_subscriptions(live: LiveServer) -> None:
    # given the server's task count with the broker listener running
    warm = await open_realtime(live)
    await warm.init()
    await started(warm, "warm", live)
    await warm.socket.close()
    await wait_for_subscribers(live, 0)
    baseline = await asyncio.sleep(0.2, live.call(_task_count()))
    # when three clients with five subscriptions each vanish without a close frame
    clients = [await open_realtime(live) for _ in range(3)]
    for n, client in enumerate(clients):
        await client.init()
        for s in range(5):
            await started(client, f"c{n}-{s}", live)
    assert live.realtime.active == 15
    assert live.call(_task_count()) > baseline
    for client in clients:
        client.socket.transport.abort()
    # then every subscription and task of theirs is gone
    await wait_for_subscribers(live, 0)
    for _ in range(100):
        if live.call(_task_count()) == baseline:
            break
        await asyncio.sleep(0.05)
    assert live.call(_task_count()) == baseline


async def _task_count() -> int:
    return len(asyncio.all_tasks())


PUBLISH_STOCK = """
mutation P($input: StockChangeInput!) {
  publishStockChanged(input: $input) {
    sku productId variantId locationId quantity available occurredAt
  }
}"""


def stock_change(sku: str, *, location: str = "loc-1", available: int = 5) -> dict[str, Any]:
    return {
        "sku": sku,
        "productId": "p-1",
        "variantId": "v-1",
        "locationId": location,
        "quantity": available + 1,
        "available": available,
        "occurredAt": "2026-01-01T00:00:00Z",
    }


# --- graphql-transport-ws on /graphql (GraphiQL) ------------------------------------------


async def test_graphiql_subscriptions_over_graphql_transport_ws(live: LiveServer) -> None:
    url = f"ws://127.0.0.1:{live.port}/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        client = RealtimeClient(socket)
        # GraphiQL sends its headers editor's content as the connection params
        await client.send({"type": "connection_init", "payload": {"x-api-key": live.api_key}})
        assert await client.receive() == {"type": "connection_ack"}
        await client.send({"type": "ping"})
        assert await client.receive() == {"type": "pong"}
        before = live.realtime.active
        await client.send(
            {
                "id": "g1",
                "type": "subscribe",
                "payload": {"query": ON_STOCK.replace("sku", "sku available")},
            }
        )
        await wait_for_subscribers(live, before + 1)
        await live.post(PUBLISH_STOCK, {"input": stock_change("SKU-G", available=2)}, iam=True)
        assert await client.receive() == {
            "id": "g1",
            "type": "next",
            "payload": {"data": {"onStockChanged": {"sku": "SKU-G", "available": 2}}},
        }
        await client.send({"id": "g1", "type": "complete"})
        await wait_for_subscribers(live, before)


async def test_graphql_transport_ws_refuses_bad_credentials(live: LiveServer) -> None:
    url = f"ws://127.0.0.1:{live.port}/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"x-api-key": "da2-no"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
