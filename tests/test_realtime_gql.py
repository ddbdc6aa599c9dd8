"""A real AppSync client, unchanged: gql's AppSyncWebsocketsTransport with an API key.

gql builds AppSync's query-string handshake (`?header=...&payload=e30=`), sends
`connection_init`, waits for `connection_ack`, sends `start` with the auth headers in
`payload.extensions.authorization`, and parses `start_ack` / `data` / `error` as AppSync
sends them. Pointed at our `/graphql/realtime`, it must work as against AppSync.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError

import realtime_support
from auth_helpers import API_HOST
from realtime_support import (
    ADD_LINES,
    CREATE_CART,
    LiveServer,
    in_stock_variant,
    wait_for_subscribers,
)

# Session fixtures shared by the realtime tests (a live uvicorn server on moto).
live = realtime_support.live
realtime_demo = realtime_support.realtime_demo

ON_CART_UPDATED = """
subscription OnCart($cartId: ID!) {
  onCartUpdated(cartId: $cartId) { cartId cart { id totalQuantity lines { quantity } } }
}"""


def gql_client(live: LiveServer, api_key: str | None = None) -> Client:
    auth = AppSyncApiKeyAuthentication(host=API_HOST, api_key=api_key or live.api_key)
    transport = AppSyncWebsocketsTransport(url=live.realtime_url, auth=auth)
    return Client(transport=transport)


async def test_gql_appsync_transport_receives_add_cart_lines(
    live: LiveServer, realtime_demo: Any
) -> None:
    # given a cart and gql subscribed to it
    cart_id = (await live.post(CREATE_CART))["data"]["createCart"]["cartId"]
    variant = in_stock_variant(realtime_demo)
    before = live.realtime.active
    async with gql_client(live) as session:
        request = GraphQLRequest(ON_CART_UPDATED, variable_values={"cartId": cart_id})
        received: asyncio.Task[dict[str, Any]] = asyncio.create_task(
            anext(aiter(session.subscribe(request)))
        )
        await wait_for_subscribers(live, before + 1)
        # when lines are added over HTTP
        added = await live.post(ADD_LINES, {"cartId": cart_id, "variantId": variant, "n": 2})
        # then gql yields the mutation's result under the subscription's selection
        result = await asyncio.wait_for(received, 10)
    assert added["data"]["addCartLines"]["userErrors"] == []
    assert result == {
        "onCartUpdated": {
            "cartId": cart_id,
            "cart": {"id": cart_id, "totalQuantity": 2, "lines": [{"quantity": 2}]},
        }
    }
    await wait_for_subscribers(live, before)  # gql's stop/close removed it


async def test_gql_sees_a_refused_subscription_as_a_query_error(live: LiveServer) -> None:
    # given an IAM-only field
    query = 'subscription { onOrderStatusChanged(customerId: "c") { orderId } }'
    # when gql subscribes with the API key
    async with gql_client(live) as session:
        with pytest.raises(TransportQueryError) as refused:
            await anext(aiter(session.subscribe(GraphQLRequest(query))))
    # then the error is AppSync's Unauthorized entry (gql keeps the `error` payload whole)
    assert refused.value.errors is not None
    [entry] = refused.value.errors[0]["errors"]
    assert entry["errorType"] == "Unauthorized"
    assert entry["message"] == "Not Authorized to access onOrderStatusChanged on type Subscription"
    assert entry["path"] == ["onOrderStatusChanged"]


async def test_gql_with_a_wrong_api_key_gets_connection_error(live: LiveServer) -> None:
    with pytest.raises(TransportServerError, match="UnauthorizedException"):
        async with gql_client(live, api_key="da2-thisisnotarealkey00000000"):
            pass
