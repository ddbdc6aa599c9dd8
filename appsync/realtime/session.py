"""One WebSocket connection's life, shared by both realtime protocols.

A session owns three tasks: the reader (the protocol's message loop), the sender (one
bounded outbox, so a slow client never stalls the fan-out to others) and, once the protocol
starts it, the keep-alive. When any of them ends (client gone, socket error, outbox
overflow) the others are cancelled and every subscription of the connection is removed from
the engine: nothing outlives the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any, Final

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from appsync.realtime.subscriptions import Realtime, Subscription

__all__ = ["Session"]

logger = logging.getLogger(__name__)

_CLOSE: Final = None  # the outbox sentinel: close the socket
SLOW_CONSUMER_CLOSE_CODE: Final = 1013  # "try again later"


class Session(ABC):
    """Implements the engine's `Sink`; subclasses speak one protocol."""

    def __init__(
        self,
        websocket: WebSocket,
        realtime: Realtime,
        *,
        max_subscriptions: int,
        send_queue_size: int,
    ) -> None:
        self.websocket = websocket
        self.realtime = realtime
        self.max_subscriptions = max_subscriptions
        self.subscriptions: dict[str, Subscription] = {}
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=send_queue_size)
        self._tasks: set[asyncio.Task[None]] = set()
        self._close_code = 1000

    # --- the engine's Sink -------------------------------------------------------------

    def deliver(self, subscription_id: str, payload: dict[str, Any]) -> None:
        if subscription_id in self.subscriptions:
            self.send_data(subscription_id, payload)

    def invalidated(self, subscription_id: str) -> None:
        if self.subscriptions.pop(subscription_id, None) is not None:
            self.send({"id": subscription_id, "type": "complete"})

    # --- protocol hooks ----------------------------------------------------------------

    @abstractmethod
    async def read_loop(self) -> None:
        """Receive and handle messages until the client leaves."""

    @abstractmethod
    def send_data(self, subscription_id: str, payload: dict[str, Any]) -> None:
        """Send one event to one subscription."""

    # --- plumbing ------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(orjson.dumps(message).decode())

    def send_text(self, text: str) -> None:
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            logger.warning("realtime client too slow: %d messages queued", self._outbox.qsize())
            self.close(SLOW_CONSUMER_CLOSE_CODE)

    def close(self, code: int = 1000) -> None:
        """Close once what is queued so far is sent (at once when the outbox is full)."""
        self._close_code = code
        if self._outbox.full():
            while not self._outbox.empty():
                self._outbox.get_nowait()
        self._outbox.put_nowait(_CLOSE)

    def start_task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receive_text(self) -> str | None:
        """The next text (or UTF-8 bytes) frame; None when the client has gone."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", errors="replace")
        return str(text)

    async def run(self) -> None:
        reader = asyncio.create_task(self._guarded(self.read_loop()))
        sender = asyncio.create_task(self._guarded(self._send_loop()))
        try:
            await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [reader, sender, *self._tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for subscription in self.subscriptions.values():
                self.realtime.unsubscribe(subscription)
            self.subscriptions.clear()

    async def _send_loop(self) -> None:
        while True:
            text = await self._outbox.get()
            if text is _CLOSE:
                with contextlib.suppress(RuntimeError):
                    await self.websocket.close(self._close_code)
                return
            await self.websocket.send_text(text)

    @staticmethod
    async def _guarded(coroutine: Coroutine[Any, Any, None]) -> None:
        # A client that vanishes mid-send is normal; anything else is logged, and either
        # way the session ends.
        try:
            await coroutine
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass
        except Exception:
            logger.exception("realtime session failed")
