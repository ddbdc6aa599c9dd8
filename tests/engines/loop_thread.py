"""An asyncio loop on a daemon thread of its own, driven from the test's thread.

What the fault proxies serve from: they keep answering while a test blocks on a synchronous
client, and a test changes their behaviour with plain method calls. A subclass opens and
closes what it serves in `_open` / `_close`, which run on the loop; `_submit` runs any other
coroutine there and waits for its result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class LoopThread:
    # How long the test's thread waits for a coroutine it submitted (opening, closing included).
    submit_timeout = 10.0

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        self._submit(self._open())
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._submit(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    async def _open(self) -> None:
        """Start serving (on the loop)."""

    async def _close(self) -> None:
        """Stop serving and release what `_open` took (on the loop)."""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.submit_timeout)
