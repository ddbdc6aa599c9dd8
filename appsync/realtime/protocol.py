"""AppSync's real-time protocol at `/graphql/realtime` (APPSYNC.md §5.1-5.3).

Handshake: subprotocol `graphql-ws` (refused before the upgrade otherwise, as the
simulator does). Connection auth is the JSON header object, from `?header=<base64>&payload=e30=`
(gql, older Amplify) or from a `header-<base64url>` subprotocol (Amplify v6); it goes to the
app's authenticator like an HTTP request: AWS_IAM signs `POST /graphql/connect` with body
`{}`. A refusal answers the client's first message (`connection_init`) with
`connection_error`, then closes; the entry is AppSync's observed one:
`{"errorType": "com.amazonaws.deepdish.graphql.auth#UnauthorizedException", "message": ...,
"errorCode": 400}`.

Messages, exactly §5.2:

- `connection_init` → `connection_ack {"connectionTimeoutMs": 300000}`, then `ka` at once
  and every `keepalive_seconds` (60; AppSync's interval is unverified, Amplify alerts after
  65 s without one). `connection_init` is optional: a `start` also starts the keep-alive.
- `start {id, payload: {data: "<JSON string>", extensions: {authorization: {...}}}}` →
  `start_ack`, or `error` with the id. Each start is authenticated on its own headers
  (AWS_IAM signs `POST /graphql` with the `data` string as body); then the engine checks
  the document and the field's auth directives (subscriptions.py).
- `stop {id}` → `complete {id}` (also sent when an invalidation ends a subscription).
- events → `data {id, payload: {data, errors?}}`.

Refusals (errorType / message; [obs] = observed on AppSync, the rest is ours):

- 101st subscription on a connection: `MaxSubscriptionsReachedError` / `Max number of 100
  subscriptions reached` [obs], with the id;
- a query or mutation, or an unknown message type: `UnsupportedOperation` / `Operation not
  supported through the realtime channel` [obs], with the id when the message had one;
- start without `authorization`, or refused by it: `UnauthorizedException` (or IAM's
  signature errors) with the authenticator's message, with the id;
- not JSON, no id on start/stop, `data` not a JSON object with a `query`:
  `BadRequestException`, without id when none could be read;
- a reused id: `DuplicateSubscriptionIdError`, with the id;
- a frame or a `data` message above 240 KB (`max_payload_bytes`, §5.3):
  `PayloadTooLargeError` (the event is dropped, the subscription lives on).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from appsync.auth.modes import NO_VALID_HEADER
from appsync.authz import CallerLike
from appsync.errors import RequestError
from appsync.realtime.session import Session
from appsync.realtime.subscriptions import Realtime, SubscribeError

__all__ = [
    "CONNECT_PATH",
    "MAX_PAYLOAD_BYTES",
    "MAX_SUBSCRIPTIONS",
    "SUBPROTOCOL",
    "AppSyncRealtimeEndpoint",
    "WebSocketAuthenticator",
]

SUBPROTOCOL: Final = "graphql-ws"
HEADER_SUBPROTOCOL_PREFIX: Final = "header-"
CONNECT_PATH: Final = "/graphql/connect"  # what AWS_IAM clients sign for the connection
START_PATH: Final = "/graphql"  # ... and for each start
MAX_SUBSCRIPTIONS: Final = 100
MAX_PAYLOAD_BYTES: Final = 240 * 1024
CONNECTION_TIMEOUT_MS: Final = 300_000
CONNECTION_INIT_WAIT_SECONDS: Final = 10.0
CONNECTION_UNAUTHORIZED: Final = "com.amazonaws.deepdish.graphql.auth#UnauthorizedException"
UNSUPPORTED: Final = {
    "errorType": "UnsupportedOperation",
    "message": "Operation not supported through the realtime channel",
}

# (websocket, auth headers as sent, the signed body, the signed path) -> the caller; raises
# a RequestError (UnauthorizedError, RateLimitExceededError, ...) to refuse.
WebSocketAuthenticator = Callable[[WebSocket, Mapping[str, str], bytes, str], Awaitable[CallerLike]]


class AppSyncRealtimeEndpoint:
    """The ASGI app for `WebSocketRoute("/graphql/realtime", ...)`."""

    def __init__(
        self,
        realtime: Realtime,
        *,
        authenticate: WebSocketAuthenticator,
        keepalive_seconds: float = 60.0,
        connection_timeout_ms: int = CONNECTION_TIMEOUT_MS,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        send_queue_size: int = 1000,
    ) -> None:
        self.realtime = realtime
        self._authenticate = authenticate
        self.keepalive_seconds = keepalive_seconds
        self._connection_timeout_ms = connection_timeout_ms
        self._max_subscriptions = max_subscriptions
        self.max_payload_bytes = max_payload_bytes
        self._send_queue_size = send_queue_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        offered = [str(p) for p in scope.get("subprotocols") or ()]
        if SUBPROTOCOL not in offered:
            await websocket.close(1002)  # before accept: the upgrade is refused
            return
        headers = _handshake_headers(offered, websocket.query_params.get("header"))
        await websocket.accept(subprotocol=SUBPROTOCOL)
        try:
            await self._authenticate(websocket, headers, b"{}", CONNECT_PATH)
        except RequestError as error:
            await self._refuse(websocket, error)
            return
        session = _AppSyncSession(
            websocket,
            self.realtime,
            endpoint=self,
            max_subscriptions=self._max_subscriptions,
            send_queue_size=self._send_queue_size,
        )
        await session.run()

    async def _refuse(self, websocket: WebSocket, error: RequestError) -> None:
        # Clients send connection_init first and read the answer to it: answering before
        # would race their send against our close.
        with contextlib.suppress(TimeoutError):
            message = await asyncio.wait_for(websocket.receive(), CONNECTION_INIT_WAIT_SECONDS)
            if message["type"] == "websocket.disconnect":
                return
        entry = {"errorType": CONNECTION_UNAUTHORIZED, "message": error.message, "errorCode": 400}
        refusal = {"type": "connection_error", "payload": {"errors": [entry]}}
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.send_text(orjson.dumps(refusal).decode())
            await websocket.close(1000)


class _AppSyncSession(Session):
    def __init__(
        self,
        websocket: WebSocket,
        realtime: Realtime,
        *,
        endpoint: AppSyncRealtimeEndpoint,
        max_subscriptions: int,
        send_queue_size: int,
    ) -> None:
        super().__init__(
            websocket,
            realtime,
            max_subscriptions=max_subscriptions,
            send_queue_size=send_queue_size,
        )
        self._endpoint = endpoint
        self._keepalive_started = False

    def send_data(self, subscription_id: str, payload: dict[str, Any]) -> None:
        text = orjson.dumps({"id": subscription_id, "type": "data", "payload": payload}).decode()
        limit = self._endpoint.max_payload_bytes
        if len(text.encode()) > limit:
            self.send_error(subscription_id, _too_large(limit))
            return
        self.send_text(text)

    def send_error(self, subscription_id: str | None, *errors: Mapping[str, Any]) -> None:
        message: dict[str, Any] = {"type": "error", "payload": {"errors": list(errors)}}
        if subscription_id is not None:
            message = {"id": subscription_id, **message}
        self.send(message)

    async def read_loop(self) -> None:
        while (text := await self.receive_text()) is not None:
            limit = self._endpoint.max_payload_bytes
            if len(text.encode()) > limit:
                self.send_error(None, _too_large(limit))
                continue
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                self.send_error(None, _bad_request("The message is not valid JSON."))
                continue
            if not isinstance(message, dict):
                self.send_error(None, _bad_request("The message must be a JSON object."))
                continue
            await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_id = message.get("id")
        message_id = raw_id if isinstance(raw_id, str) and raw_id else None
        if kind == "connection_init":
            ack = {"connectionTimeoutMs": self._endpoint._connection_timeout_ms}
            self.send({"type": "connection_ack", "payload": ack})
            self._start_keepalive()
        elif kind in ("start", "stop") and message_id is None:
            self.send_error(None, _bad_request(f"A {kind} message needs an id."))
        elif kind == "start":
            assert message_id is not None
            self._start_keepalive()
            await self._start(message_id, message.get("payload"))
        elif kind == "stop":
            assert message_id is not None
            subscription = self.subscriptions.pop(message_id, None)
            if subscription is not None:
                self.realtime.unsubscribe(subscription)
            self.send({"id": message_id, "type": "complete"})
        else:
            self.send_error(message_id, UNSUPPORTED)

    async def _start(self, subscription_id: str, payload: Any) -> None:
        if subscription_id in self.subscriptions:
            self.send_error(subscription_id, _duplicate(subscription_id))
            return
        if len(self.subscriptions) >= self.max_subscriptions:
            self.send_error(subscription_id, _max_reached(self.max_subscriptions))
            return
        request = _start_request(payload)
        if isinstance(request, str):
            self.send_error(subscription_id, _bad_request(request))
            return
        data, query, variables, operation_name, extensions = request
        authorization = extensions.get("authorization")
        if not isinstance(authorization, dict):
            self.send_error(
                subscription_id, {"errorType": "UnauthorizedException", "message": NO_VALID_HEADER}
            )
            return
        try:
            caller = await self._endpoint._authenticate(
                self.websocket, _string_headers(authorization), data.encode(), START_PATH
            )
            subscription = await self.realtime.subscribe(
                subscription_id,
                self,
                caller=caller,
                query=query,
                variables=variables,
                operation_name=operation_name,
                client_filter=extensions.get("filter"),
            )
        except RequestError as error:
            self.send_error(
                subscription_id, {"errorType": error.error_type, "message": error.message}
            )
            return
        except SubscribeError as error:
            self.send_error(subscription_id, *error.errors)
            return
        self.subscriptions[subscription_id] = subscription
        self.send({"id": subscription_id, "type": "start_ack"})

    def _start_keepalive(self) -> None:
        if not self._keepalive_started:
            self._keepalive_started = True
            self.start_task(self._keepalive())

    async def _keepalive(self) -> None:
        while True:
            self.send({"type": "ka"})
            await asyncio.sleep(self._endpoint.keepalive_seconds)


_StartRequest = tuple[str, str, dict[str, Any] | None, str | None, dict[str, Any]]


def _start_request(payload: Any) -> _StartRequest | str:
    """(data string, query, variables, operationName, extensions), or what is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        return "A start message needs payload.data, the request as a JSON string."
    data: str = payload["data"]
    try:
        request = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "payload.data is not valid JSON."
    if not isinstance(request, dict):
        return "payload.data must hold a JSON object."
    query, variables = request.get("query"), request.get("variables")
    operation_name = request.get("operationName") or None
    if not isinstance(query, str) or not query.strip():
        return "payload.data has no 'query'."
    if variables is not None and not isinstance(variables, dict):
        return "'variables' must be a JSON object."
    if operation_name is not None and not isinstance(operation_name, str):
        return "'operationName' must be a string."
    extensions = payload.get("extensions")
    return (
        data,
        query,
        variables,
        operation_name,
        extensions if isinstance(extensions, dict) else {},
    )


def _handshake_headers(offered: list[str], query_header: str | None) -> dict[str, str]:
    """The auth header object of the handshake, from either style; {} when absent or bad."""
    encoded = next(
        (
            p[len(HEADER_SUBPROTOCOL_PREFIX) :]
            for p in offered
            if p.startswith(HEADER_SUBPROTOCOL_PREFIX)
        ),
        query_header,
    )
    if not encoded:
        return {}
    try:
        raw = base64.urlsafe_b64decode(
            encoded.replace("+", "-").replace("/", "_") + "=" * (-len(encoded) % 4)
        )
        headers = orjson.loads(raw)
    except (binascii.Error, ValueError):
        return {}
    return _string_headers(headers) if isinstance(headers, dict) else {}


def _string_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {str(name): value for name, value in headers.items() if isinstance(value, str)}


def _bad_request(message: str) -> dict[str, Any]:
    return {"errorType": "BadRequestException", "message": message}


def _duplicate(subscription_id: str) -> dict[str, Any]:
    return {
        "errorType": "DuplicateSubscriptionIdError",
        "message": f"Subscription id {subscription_id} is already in use on this connection.",
    }


def _max_reached(limit: int) -> dict[str, Any]:
    return {
        "errorType": "MaxSubscriptionsReachedError",
        "message": f"Max number of {limit} subscriptions reached",
    }


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "errorType": "PayloadTooLargeError",
        "message": f"The message exceeds the limit of {limit} bytes.",
    }
