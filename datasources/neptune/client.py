"""One gremlinpython connection pool per process, driven from asyncio, errors translated here.

gremlinpython's driver is synchronous at heart: every connection runs a private event loop on
the driver's worker threads. `traversal.promise()` returns a concurrent future, but the call
itself may block the calling thread: it takes a connection from a blocking queue, and the first
use of a connection performs the websocket handshake with `run_until_complete`, which raises
"Cannot run the event loop while another loop is running" on an event loop's thread (and then
leaks that connection). So `promise()` (and re-signing, which may refresh AWS credentials) runs
on a small executor of our own, and the loop only awaits `asyncio.wrap_future` of the result
(shielded: a timed-out caller must not cancel the driver's future under its feet). Nothing here
blocks the event loop.

Every call runs under the "Neptune" `Resilience` (timeout, breaker, bulkhead sized to the pool,
retry of idempotent calls), is counted in `round_trips`, and carries `evaluationTimeout` so the
server gives up when the caller has. A connection that broke (server restarted, socket reset,
403 on a stale signature) is replaced as a whole, and the old pool is closed off the loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

import aiohttp
from gremlin_python.driver.aiohttp.transport import AiohttpTransport
from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.process.anonymous_traversal import traversal

from datasources.errors import (
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.neptune import SOURCE as SOURCE  # re-exported: importers name it from here
from datasources.neptune.graph import Traversal
from datasources.neptune.settings import NeptuneSettings
from datasources.neptune.sigv4 import ConnectionFactory, CredentialsProvider, HandshakeSigner
from datasources.resilience import Resilience

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_CLOSE_WAIT_SECONDS = 15.0

# Gremlin Server answers 598 when `evaluationTimeout` expires, and 500 both for a failing
# server and for a traversal that cannot run; the message tells them apart. Neptune puts its
# error code (`{"code": "ConcurrentModificationException", ...}`) in the message.
_TIMEOUT_STATUS = {598}
_TIMEOUT_CODES = ("TimeLimitExceededException",)
_REJECTED_CODES = (
    "MalformedQueryException",
    "InvalidParameterException",
    "ConstraintViolationException",
    "UnsupportedOperationException",
    "could not be resolved",  # TinkerGraph: mergeE to a missing vertex
    "already exists",  # TinkerGraph: id taken by another label
    "contains a lambda step",  # LambdaRestrictionStrategy (tools/engines/gremlin)
)

log = logging.getLogger(__name__)

RemoteConnection = Any  # gremlinpython's DriverRemoteConnection (untyped)
Build = Callable[[Traversal], Traversal]


class BoundedTransport(AiohttpTransport):  # type: ignore[misc]  # gremlinpython is untyped
    """gremlinpython's websocket transport, with a bounded handshake that cleans up on failure.

    The stock transport waits for the upgrade response up to aiohttp's 5-minute default, and
    a failed handshake leaves its private loop and ClientSession to the garbage collector,
    whose `__del__` then runs that loop on whatever thread collects it.
    """

    def __init__(self, *, handshake_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handshake_timeout = handshake_timeout

    def connect(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        async def handshake() -> None:
            self._client_session = aiohttp.ClientSession(loop=self._loop)
            self._websocket = await asyncio.wait_for(
                self._client_session.ws_connect(url, headers=headers, **self._aiohttp_kwargs),
                self._handshake_timeout,
            )

        try:
            self._loop.run_until_complete(handshake())
        except BaseException:
            self.close()
            raise


def translate(exc: BaseException) -> SourceError:
    """Map a gremlinpython/aiohttp failure to the most specific error of our tree."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, GremlinServerError):
        status = int(getattr(exc, "status_code", 0) or 0)
        message = str(getattr(exc, "status_message", "") or exc)
        if status in _TIMEOUT_STATUS or any(c in message for c in _TIMEOUT_CODES):
            return SourceTimeoutError(SOURCE, "Neptune gave up on the traversal in time.")
        if status in (401, 403, 407):
            return SourceUnavailableError(SOURCE, f"Neptune refused the credentials ({status}).")
        if status < 500 or any(c in message for c in _REJECTED_CODES):
            detail = f"{status} {message[:200]}"
            return SourceRejectedError(
                SOURCE, f"Neptune rejected the traversal: {detail}", reason="Invalid"
            )
        # ConcurrentModification, Throttling, MemoryLimitExceeded, ReadOnlyViolation, ...
        return SourceUnavailableError(SOURCE, f"Neptune failed: {status} {message[:200]}")
    if _forbidden(exc):
        return SourceUnavailableError(SOURCE, "Neptune refused the signed handshake (403).")
    if isinstance(exc, asyncio.TimeoutError):
        return SourceTimeoutError(SOURCE, "Neptune did not answer the websocket in time.")
    return SourceUnavailableError(SOURCE, f"Neptune cannot be reached: {type(exc).__name__}")


def _forbidden(exc: BaseException) -> bool:
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status in (401, 403)
    return "403" in str(exc) and "Forbidden" in str(exc)  # the stock transport's wording


def _broken_connection(exc: BaseException) -> bool:
    """Whether the pool behind this failure should be replaced rather than reused."""
    if isinstance(exc, GremlinServerError):
        return int(getattr(exc, "status_code", 0) or 0) in (401, 403, 407)
    return True  # socket, handshake, protocol or driver-state failures


def _retrieve(answer: asyncio.Future[list[Any]]) -> None:
    if not answer.cancelled():
        answer.exception()


class _Retired:
    """Stands in a retired pool's queue for the connections it lost, so a thread blocked on
    that queue (every connection busy or leaked by a failed handshake) wakes up and fails."""

    def write(self, message: object) -> Future[Any]:
        raise RuntimeError("this Neptune connection pool was retired")

    def close(self) -> None:
        pass


def close_remote(connection: RemoteConnection, *, waiters: int = 0) -> None:
    """Close a DriverRemoteConnection and the pooled connections it left behind; blocking.

    `DriverRemoteConnection.close()` closes the idle connections, then waits for the busy ones,
    which return to its pool afterwards and would stay open: they are closed here too. Then
    `waiters` stand-ins release threads still blocked on the pool's queue.
    """
    try:
        connection.close()
    except Exception:
        log.warning("closing a Neptune connection pool failed", exc_info=True)
    pool = getattr(getattr(connection, "_client", None), "_pool", None)
    if pool is None:
        return
    while True:
        try:
            leftover = pool.get_nowait()
        except queue.Empty:
            break
        with suppress(Exception):
            leftover.close()
    for _ in range(waiters):
        pool.put_nowait(_Retired())


class PoolCloser:
    """Closes replaced pools, each on a thread of its own (closing waits for busy sockets).

    `waiters`: how many threads may be blocked on a pool's queue (our submit executor's size).
    """

    def __init__(self, waiters: int = 8) -> None:
        self._waiters = waiters
        self._threads: list[threading.Thread] = []

    def __call__(self, connection: RemoteConnection) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(
            target=close_remote,
            args=(connection,),
            kwargs={"waiters": self._waiters},
            name="neptune-close",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def join(self, timeout: float = _CLOSE_WAIT_SECONDS) -> None:
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()


class NeptuneClient:
    """Submits traversals built on `g`; returns their results as lists.

    `connections` is None when no endpoint is configured: every call then fails at once with
    `Neptune:Unavailable` (not through the breaker, which would turn it into CircuitOpen).
    """

    def __init__(
        self,
        connections: ConnectionFactory[RemoteConnection] | None,
        resilience: Resilience,
        *,
        closer: PoolCloser | None = None,
        pool_size: int = 8,
        write_timeout_seconds: float = 5.0,
    ) -> None:
        self._connections = connections
        self.resilience = resilience
        self.round_trips = 0
        self._closer = closer or PoolCloser()
        self._pool_size = pool_size
        self._write_timeout = write_timeout_seconds
        # One thread per pooled connection: a submission blocks at most on the driver's pool.
        self._submitter = ThreadPoolExecutor(pool_size, thread_name_prefix="neptune-submit")

    @property
    def enabled(self) -> bool:
        return self._connections is not None

    @property
    def connections(self) -> ConnectionFactory[RemoteConnection] | None:
        return self._connections

    async def read(self, build: Build) -> list[Any]:
        """An idempotent traversal under the read timeout (retried per the policy)."""
        return await self.submit(build, idempotent=True)

    async def write(self, build: Build, *, idempotent: bool) -> list[Any]:
        """A mutating traversal under the write timeout; retried only if `idempotent`."""
        return await self.submit(build, idempotent=idempotent, timeout_seconds=self._write_timeout)

    async def submit(
        self, build: Build, *, idempotent: bool, timeout_seconds: float | None = None
    ) -> list[Any]:
        if self._connections is None:
            raise SourceUnavailableError(
                SOURCE, "Neptune is not configured (CG_NEPTUNE_ENDPOINT is not set)."
            )
        limit = timeout_seconds or self.resilience.policy.timeout_seconds
        return await self.resilience.call(
            lambda: self._attempt(build, limit),
            idempotent=idempotent,
            timeout_seconds=timeout_seconds,
        )

    async def ping(self, timeout_seconds: float | None = None) -> bool:
        """Readiness: does `g.inject(1)` come back?"""
        try:
            result = await self.submit(
                lambda g: g.inject(1), idempotent=True, timeout_seconds=timeout_seconds
            )
        except SourceError:
            return False
        return result == [1]

    async def warm_up(self, timeout_seconds: float = 5.0) -> bool:
        """Open every pooled websocket now (a TLS + IAM handshake costs far more than 300 ms
        would allow a first call). Bypasses the breaker: a graph that is down at start-up
        fails its first calls with Unavailable, as any other time."""
        if self._connections is None:
            return False

        async def one() -> bool:
            try:
                async with asyncio.timeout(timeout_seconds):
                    return await self._attempt(lambda g: g.inject(1), timeout_seconds) == [1]
            except (SourceError, TimeoutError):
                return False

        return all(await asyncio.gather(*(one() for _ in range(self._pool_size))))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Close the pool and wait (bounded) for pools being retired; blocking."""
        if self._connections is not None:
            self._connections.close()
        self._closer.join()
        self._submitter.shutdown(wait=False, cancel_futures=True)

    async def _attempt(self, build: Build, limit: float) -> list[Any]:
        self.round_trips += 1
        loop = asyncio.get_running_loop()
        connection, submitted = await loop.run_in_executor(
            self._submitter, self._submit, build, limit
        )
        try:
            if isinstance(submitted, BaseException):
                raise submitted
            answer = asyncio.wrap_future(submitted)
            # If the caller times out first, the answer still comes, to nobody: retrieve its
            # exception so asyncio does not log it as never retrieved.
            answer.add_done_callback(_retrieve)
            result: list[Any] = await asyncio.shield(answer)
        except Exception as exc:
            if connection is not None and _broken_connection(exc):
                assert self._connections is not None
                self._connections.invalidate(connection)
            raise translate(exc) from exc
        return result

    def _submit(
        self, build: Build, limit: float
    ) -> tuple[RemoteConnection | None, Future[list[Any]] | Exception]:
        """On the submit executor: everything that may block, returning, not raising."""
        assert self._connections is not None
        connection = None
        try:
            # May re-sign, and so refresh AWS credentials (network I/O).
            connection = self._connections.connection()
            g = traversal().with_remote(connection)
            # The server stops working on a traversal the caller no longer waits for.
            t = build(g.with_("evaluationTimeout", math.ceil(limit * 1000)))
            # May wait for a free connection in the driver's blocking pool, and perform that
            # connection's first handshake.
            pending: Future[list[Any]] = t.promise(lambda done: done.to_list())
        except Exception as exc:
            return connection, exc
        return connection, pending


def open_connections(
    settings: NeptuneSettings,
    *,
    retire: Callable[[RemoteConnection], None],
    credentials: CredentialsProvider | None = None,
) -> ConnectionFactory[RemoteConnection]:
    """The connection factory for `settings.endpoint`: SigV4-signed when `settings.iam`."""
    url = settings.endpoint
    if url is None:
        raise ValueError("no Neptune endpoint configured")
    signer = None
    if settings.iam:
        signer = HandshakeSigner(
            url, region=settings.region, credentials=credentials or _default_credentials
        )
    socket_timeout = settings.socket_timeout_seconds

    def transport() -> BoundedTransport:
        return BoundedTransport(
            handshake_timeout=socket_timeout,
            read_timeout=socket_timeout,
            write_timeout=socket_timeout,
            max_msg_size=MAX_MESSAGE_BYTES,
        )

    def connect(headers: Mapping[str, str]) -> RemoteConnection:
        return DriverRemoteConnection(
            url,
            "g",
            pool_size=settings.pool_size,
            max_workers=settings.pool_size,
            headers=dict(headers) or None,
            transport_factory=transport,
        )

    return ConnectionFactory(
        connect,
        retire=retire,
        signer=signer,
        refresh=timedelta(seconds=settings.resign_seconds),
    )


def _default_credentials() -> Any:
    import botocore.session

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise SourceUnavailableError(SOURCE, "No AWS credentials to sign Neptune's handshake.")
    return credentials.get_frozen_credentials()


def build_client(
    settings: NeptuneSettings,
    *,
    resilience: Resilience | None = None,
    credentials: CredentialsProvider | None = None,
) -> NeptuneClient:
    closer = PoolCloser(waiters=settings.pool_size)
    connections = None
    if settings.endpoint is not None:
        connections = open_connections(settings, retire=closer, credentials=credentials)
    return NeptuneClient(
        connections,
        resilience or Resilience(SOURCE, settings.policy()),
        closer=closer,
        pool_size=settings.pool_size,
        write_timeout_seconds=settings.write_timeout_seconds,
    )


@asynccontextmanager
async def open_neptune(
    settings: NeptuneSettings,
    *,
    resilience: Resilience | None = None,
    credentials: CredentialsProvider | None = None,
    warm_up: bool = True,
) -> AsyncIterator[NeptuneClient]:
    """The process's Neptune client, opened at start-up and closed at shutdown.

    An unreachable graph does not stop start-up: recommendations then fail per call with
    `Neptune:Unavailable` (or `Neptune:CircuitOpen` once the breaker has seen enough).
    """
    client = build_client(settings, resilience=resilience, credentials=credentials)
    try:
        if warm_up and client.enabled and not await client.warm_up():
            log.warning("Neptune at %s is not answering yet", settings.endpoint)
        yield client
    finally:
        await client.aclose()
