"""A TCP proxy in front of a real server, for fault tests: delay, reset or blackhole on demand.

    with TcpProxy("127.0.0.1", upstream_port) as proxy:   # listens on 127.0.0.1:proxy.port
        proxy.delay(0.5)     # every chunk, both ways, arrives 0.5 s late (order kept)
        proxy.blackhole()    # accept, read, drop: nothing reaches either side
        proxy.reset()        # RST every open connection, and every new one
        proxy.heal()         # forward normally again

The proxy runs its own asyncio loop on a thread of its own, so it keeps serving while a test
blocks, and the mode switches are plain method calls from any thread. A mode applies to open
connections at once (each chunk reads the mode when it moves) and to new ones.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import struct
from contextlib import suppress
from typing import TypeVar

from .loop_thread import LoopThread
from .ports import free_port

T = TypeVar("T")
_CHUNK = 65536


class Mode(enum.Enum):
    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"
    RESET = "reset"


class TcpProxy(LoopThread):
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None):
        super().__init__("tcp-proxy")
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.mode = Mode.PASS
        self.delay_seconds = 0.0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control (any thread) -----------------------------------------------------------

    def heal(self) -> None:
        self.mode, self.delay_seconds = Mode.PASS, 0.0

    def delay(self, seconds: float) -> None:
        self.delay_seconds, self.mode = seconds, Mode.DELAY

    def blackhole(self) -> None:
        self.mode = Mode.BLACKHOLE

    def reset(self) -> None:
        """RST all open connections now, and every new one until the mode changes."""
        self.mode = Mode.RESET
        self._submit(self._reset_all())

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    # --- the loop's thread ----------------------------------------------------------------

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()
        handlers = list(self._tasks)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _reset_all(self) -> None:
        for writer in list(self._writers):
            _rst(writer)
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # so that close() can cancel and await every handler
        try:
            await self._serve(client_r, client_w)
        finally:
            self._tasks.discard(task)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode is Mode.RESET:
            _rst(client_w)
            return
        self._writers.add(client_w)
        if self.mode is Mode.BLACKHOLE:
            await self._drain_forever(client_r, client_w)
            return
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._writers.discard(client_w)
            _rst(client_w)
            return
        self._writers.add(upstream_w)
        pipes = [
            asyncio.create_task(self._pipe(client_r, upstream_w)),
            asyncio.create_task(self._pipe(upstream_r, client_w)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            for writer in (client_w, upstream_w):
                if writer in self._writers:
                    self._writers.discard(writer)
                    with suppress(Exception):
                        writer.close()

    async def _drain_forever(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with suppress(ConnectionError, asyncio.CancelledError):
            while await reader.read(_CHUNK):
                pass
        self._writers.discard(writer)
        with suppress(Exception):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction; each chunk is held until `arrival + delay` and sent in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def send() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if self.mode is Mode.BLACKHOLE:
                    continue
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(_CHUNK):
                delay = self.delay_seconds if self.mode is Mode.DELAY else 0.0
                queue.put_nowait((loop.time() + delay, data))
            queue.put_nowait(None)
            await sender  # deliver what is still held back, then end this direction
        except ConnectionError:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the peer sees a reset rather than an orderly close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(Exception):
        writer.transport.abort()
