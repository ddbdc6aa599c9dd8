"""graphql-transport-ws on the `/graphql` WebSocket, so GraphiQL's subscriptions work.

The protocol of the `graphql-ws` library (github.com/enisdenjo/graphql-ws, PROTOCOL.md),
which GraphiQL speaks; it runs on the same engine as AppSync's protocol, so the events,
filters and authorization are the same. Authentication: the `connection_init` payload is
read as request headers (GraphiQL sends its headers editor's content there, e.g.
`{"x-api-key": "da2-..."}`), over the handshake's own headers; the whole connection then
acts as that caller. Only subscriptions are served (AppSync has no other operation over a
socket).

Close codes are the protocol's: 4400 bad message, 4403 refused auth, 4408 no
`connection_init` in time, 4409 a reused id, 4429 a second `connection_init`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from appsync.authz import CallerLike
from appsync.errors import RequestError
from appsync.realtime.protocol import (
    CONNECT_PATH,
    MAX_SUBSCRIPTIONS,
    WebSocketAuthenticator,
)
from appsync.realtime.session import Session
from appsync.realtime.subscriptions import Realtime, SubscribeError

__all__ = ["SUBPROTOCOL", "TransportWsEndpoint"]

SUBPROTOCOL: Final = "graphql-transport-ws"


class TransportWsEndpoint:
    """The ASGI app for `WebSocketRoute("/graphql", ...)`."""

    def __init__(
        self,
        realtime: Realtime,
        *,
        authenticate: WebSocketAuthenticator,
        init_timeout_seconds: float = 10.0,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        send_queue_size: int = 1000,
    ) -> None:
        self.realtime = realtime
        self._authenticate = authenticate
        self._init_timeout = init_timeout_seconds
        self._max_subscriptions = max_subscriptions
        self._send_queue_size = send_queue_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if SUBPROTOCOL not in (scope.get("subprotocols") or ()):
            await websocket.close(1002)
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        caller = await self._connect(websocket)
        if caller is None:
            return
        await websocket.send_text('{"type":"connection_ack"}')
        session = _TransportWsSession(
            websocket,
            self.realtime,
            caller=caller,
            max_subscriptions=self._max_subscriptions,
            send_queue_size=self._send_queue_size,
        )
        await session.run()

    async def _connect(self, websocket: WebSocket) -> CallerLike | None:
        try:
            text = await asyncio.wait_for(websocket.receive_text(), self._init_timeout)
        except TimeoutError:
            await websocket.close(4408, "Connection initialisation timeout")
            return None
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "connection_init":
            await websocket.close(4400, "Expected connection_init")
            return None
        params = message.get("payload")
        headers = {name.lower(): value for name, value in websocket.headers.items()}
        if isinstance(params, dict):
            headers |= {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
        try:
            return await self._authenticate(websocket, headers, b"{}", CONNECT_PATH)
        except RequestError:
            await websocket.close(4403, "Forbidden")
            return None


class _TransportWsSession(Session):
    def __init__(
        self,
        websocket: WebSocket,
        realtime: Realtime,
        *,
        caller: CallerLike,
        max_subscriptions: int,
        send_queue_size: int,
    ) -> None:
        super().__init__(
            websocket,
            realtime,
            max_subscriptions=max_subscriptions,
            send_queue_size=send_queue_size,
        )
        self._caller = caller

    def send_data(self, subscription_id: str, payload: dict[str, Any]) -> None:
        self.send({"id": subscription_id, "type": "next", "payload": payload})

    async def read_loop(self) -> None:
        while (text := await self.receive_text()) is not None:
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                message = None
            if not isinstance(message, dict):
                self.close(4400)
                return
            kind, message_id = message.get("type"), message.get("id")
            if kind == "ping":
                self.send({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "connection_init":
                self.close(4429)
                return
            elif kind in ("subscribe", "complete") and isinstance(message_id, str):
                if kind == "complete":
                    subscription = self.subscriptions.pop(message_id, None)
                    if subscription is not None:
                        self.realtime.unsubscribe(subscription)
                elif not await self._subscribe(message_id, message.get("payload")):
                    return
            else:
                self.close(4400)
                return

    async def _subscribe(self, subscription_id: str, payload: Any) -> bool:
        """False when the protocol says to close the connection."""
        if subscription_id in self.subscriptions:
            self.close(4409)
            return False
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            self.close(4400)
            return False
        if len(self.subscriptions) >= self.max_subscriptions:
            self._error(
                subscription_id,
                [{"message": f"Max number of {self.max_subscriptions} subscriptions reached"}],
            )
            return True
        variables = payload.get("variables")
        extensions = payload.get("extensions")
        try:
            subscription = await self.realtime.subscribe(
                subscription_id,
                self,
                caller=self._caller,
                query=payload["query"],
                variables=variables if isinstance(variables, dict) else None,
                operation_name=payload.get("operationName") or None,
                client_filter=extensions.get("filter") if isinstance(extensions, dict) else None,
            )
        except SubscribeError as error:
            self._error(subscription_id, error.errors)
            return True
        self.subscriptions[subscription_id] = subscription
        return True

    def _error(self, subscription_id: str, errors: list[dict[str, Any]]) -> None:
        self.send({"id": subscription_id, "type": "error", "payload": errors})
