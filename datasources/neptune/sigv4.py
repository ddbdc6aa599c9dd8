"""Neptune IAM: a SigV4-signed websocket handshake, and connections re-made before it goes stale.

Neptune authenticates a Gremlin websocket once, at the upgrade GET: the request must carry
SigV4 headers for service `neptune-db`, signed over the `https://` form of the `wss://` URL and
the exact `Host` header the client sends (`host:port` unless the port is 443). A signature is
only accepted for about five minutes, so a connection pool made from one set of headers cannot
open new sockets after that; `ConnectionFactory` re-creates the process's connection when its
headers are older than `refresh` (4 min by default) or when the server refuses them (403).
Without a signer (a local Gremlin Server) it only re-creates connections that broke.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

SERVICE = "neptune-db"
DEFAULT_REFRESH = timedelta(minutes=4)

C = TypeVar("C")
CredentialsProvider = Callable[[], ReadOnlyCredentials]


def utc_now() -> datetime:
    return datetime.now(UTC)


def https_form(url: str) -> tuple[str, str]:
    """(the URL to sign, the Host header) for a ws:// or wss:// Gremlin URL."""
    parts = urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    if parts.hostname is None:
        raise ValueError(f"no host in Gremlin URL {url!r}")
    default_port = {"https": 443, "http": 80}.get(scheme)
    host = parts.hostname
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, "")), host


class _SigV4AtTime(SigV4Auth):
    """botocore's SigV4Auth reads the clock inside `add_auth`; this one signs at `now`.

    The steps are botocore's own (date and token headers, canonical request, string to sign,
    signature, Authorization), through its public methods only.
    """

    def __init__(self, credentials: ReadOnlyCredentials, region: str, now: datetime) -> None:
        super().__init__(credentials, SERVICE, region)
        self._now = now

    def add_auth(self, request: AWSRequest) -> None:
        stamp = self._now.astimezone(UTC).strftime(SIGV4_TIMESTAMP)
        request.context["timestamp"] = stamp
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in request.headers:
                del request.headers[name]
        request.headers["X-Amz-Date"] = stamp
        if self.credentials.token:
            request.headers["X-Amz-Security-Token"] = self.credentials.token
        signature = self.signature(
            self.string_to_sign(request, self.canonical_request(request)), request
        )
        signed_headers = self.signed_headers(self.headers_to_sign(request))
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )


class HandshakeSigner:
    """Signs the websocket upgrade GET of one Neptune endpoint."""

    def __init__(self, url: str, *, region: str, credentials: CredentialsProvider) -> None:
        self.url = url
        self.region = region
        self._credentials = credentials
        self._signed_url, self.host = https_form(url)

    def headers(self, now: datetime) -> dict[str, str]:
        """Host, X-Amz-Date, Authorization (and X-Amz-Security-Token with session creds)."""
        request = AWSRequest(method="GET", url=self._signed_url, headers={"Host": self.host})
        _SigV4AtTime(self._credentials(), self.region, now).add_auth(request)
        return {name: str(value) for name, value in request.headers.items()}


class ConnectionFactory(Generic[C]):
    """The process's one remote connection (a pool inside), re-made when stale or broken.

    `connect(headers)` builds a connection; `retire(connection)` disposes of a replaced one
    (it may block, so the caller decides where it runs). Thread-safe; `connection()` may
    block (signing can refresh credentials), so call it off the event loop.
    """

    def __init__(
        self,
        connect: Callable[[Mapping[str, str]], C],
        *,
        retire: Callable[[C], None],
        signer: HandshakeSigner | None = None,
        refresh: timedelta = DEFAULT_REFRESH,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._connect = connect
        self._retire = retire
        self._signer = signer
        self._refresh = refresh
        self._clock = clock
        self._current: C | None = None
        self._made_at: datetime | None = None
        self._lock = threading.Lock()
        self.created = 0

    @property
    def signed(self) -> bool:
        return self._signer is not None

    def connection(self) -> C:
        with self._lock:
            now = self._clock()
            current = self._current
            if current is not None and not self._stale(now):
                return current
            headers = self._signer.headers(now) if self._signer is not None else {}
            fresh = self._connect(headers)
            self._current, self._made_at = fresh, now
            self.created += 1
        if current is not None:
            self._retire(current)
        return fresh

    def invalidate(self, connection: C) -> None:
        """`connection` broke or was refused (403): the next `connection()` makes a new one."""
        with self._lock:
            if connection is not self._current:
                return  # already replaced
            self._current, self._made_at = None, None
        self._retire(connection)

    def close(self) -> None:
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            self._retire(current)

    def _stale(self, now: datetime) -> bool:
        if self._signer is None or self._made_at is None:
            return False
        return now - self._made_at >= self._refresh
