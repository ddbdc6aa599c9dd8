"""Fan-out between server processes: one channel per mutation field, opaque byte messages.

::

    Broker (Protocol)     publish(channel, message); subscribe(*channels) -> messages
     ├── InProcessBroker  one worker: asyncio queues, nothing leaves the process
     └── RedisBroker      several workers and hosts: Redis pub/sub (redis.asyncio)

`subscribe` is an async context manager: when it has entered, the subscription is live on
the broker (Redis has confirmed every SUBSCRIBE), so a message published afterwards reaches
it. The realtime engine relies on this to send `start_ack` only when nothing can be missed.
Delivery is at most once and unordered across publishers, as Redis pub/sub (and AppSync)
give it: a subscriber that is not connected when a message is published never sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["Broker", "BrokerMessage", "InProcessBroker", "RedisBroker"]

logger = logging.getLogger(__name__)

BrokerMessage = tuple[str, bytes]  # (channel, message)


class Broker(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(
        self, *channels: str
    ) -> AbstractAsyncContextManager[AsyncIterator[BrokerMessage]]: ...


class InProcessBroker:
    """Queues in this process: the default for one worker (no CG_REDIS_URL)."""

    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue[BrokerMessage], frozenset[str]] = {}

    async def publish(self, channel: str, message: bytes) -> None:
        for queue, channels in list(self._queues.items()):
            if channel in channels:
                queue.put_nowait((channel, message))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[BrokerMessage]]:
        queue: asyncio.Queue[BrokerMessage] = asyncio.Queue()
        self._queues[queue] = frozenset(channels)
        try:
            yield _drain(queue)
        finally:
            del self._queues[queue]


async def _drain(queue: asyncio.Queue[BrokerMessage]) -> AsyncIterator[BrokerMessage]:
    while True:
        yield await queue.get()


class RedisBroker:
    """Redis pub/sub: every worker subscribes once to the channels it has subscribers for.

    `redis` is the app's shared client (a lazy pool); a subscription holds one connection
    of its own for as long as it lasts, as Redis requires.
    """

    def __init__(self, redis: Redis, *, prefix: str = "cg:realtime:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(self._prefix + channel, message)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[BrokerMessage]]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(*(self._prefix + channel for channel in channels))
            confirmed = 0
            while confirmed < len(set(channels)):  # live only once Redis says so
                reply = await pubsub.get_message(timeout=5.0)
                if reply is None:
                    raise TimeoutError("Redis did not confirm the realtime subscription")
                if reply["type"] == "subscribe":
                    confirmed += 1
            yield self._messages(pubsub)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _messages(self, pubsub: PubSub) -> AsyncIterator[BrokerMessage]:
        cut = len(self._prefix)
        async for reply in pubsub.listen():
            if reply["type"] != "message":
                continue
            channel = reply["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            data = reply["data"]
            yield name[cut:], data if isinstance(data, bytes) else str(data).encode()
