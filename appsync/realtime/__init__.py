"""AppSync's real-time side: GraphQL subscriptions over WebSocket (APPSYNC.md §5).

::

    broker.py         Broker: InProcessBroker (one worker), RedisBroker (several)
    filters.py        enhanced subscription filters (filterGroup, 13 operators, limits)
    projection.py     the mutation's selected result → each subscriber's selection
    subscriptions.py  Realtime: the engine (subscribe, publish hook, fan-out, invalidation)
    session.py        one connection's tasks and clean-up, for both protocols
    protocol.py       AppSync's graphql-ws dialect at /graphql/realtime
    transport_ws.py   graphql-transport-ws at /graphql (GraphiQL)
    access.py         subscribe-time hooks of this graph's subscription fields

Wiring (server.py): build `Realtime(broker, authorization=...)`, put it in the schema's
extensions (it publishes after every mutation), `prepare(schema)`, mount both endpoints,
`aclose()` at shutdown.
"""

from appsync.realtime.broker import Broker, InProcessBroker, RedisBroker
from appsync.realtime.protocol import AppSyncRealtimeEndpoint, WebSocketAuthenticator
from appsync.realtime.subscriptions import (
    Invalidation,
    Realtime,
    SubscribeRequest,
    SubscriptionFilters,
)
from appsync.realtime.transport_ws import TransportWsEndpoint

__all__ = [
    "AppSyncRealtimeEndpoint",
    "Broker",
    "InProcessBroker",
    "Invalidation",
    "Realtime",
    "RedisBroker",
    "SubscribeRequest",
    "SubscriptionFilters",
    "TransportWsEndpoint",
    "WebSocketAuthenticator",
]
