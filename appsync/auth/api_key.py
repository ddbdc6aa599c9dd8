"""API_KEY: the `x-api-key` header against the hashed keys in DynamoDB.

A key that is malformed, unknown, expired or revoked is a 401 with AppSync's
`You are not authorized to make this call.`; malformed keys never reach DynamoDB.

Lookups (hits and misses) are cached per process for `api_key_cache_seconds` (default 5 s,
bounded LRU), keyed by the key's hash: a revocation made elsewhere (the CLI, another node)
is honoured within that window; `forget` drops one key at once. Expiry is checked on every
request against the cached record, so caching never extends a key's life.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from enum import Enum
from typing import Generic, Literal, Protocol, TypeVar

from appsync.auth.identity import ApiKeyIdentity
from appsync.auth.modes import NOT_AUTHORIZED
from appsync.errors import UnauthorizedError
from datasources.dynamodb.apikeys import ApiKeyRecord, hash_api_key

__all__ = ["MISSING", "ApiKeyAuthenticator", "ApiKeyFinder", "TtlCache"]

# AppSync's format is `da2-` + 26 characters; anything else is refused without a lookup.
API_KEY_FORMAT = re.compile(r"da2-[A-Za-z0-9]{26}")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Missing(Enum):
    MISSING = "MISSING"


MISSING: Literal[_Missing.MISSING] = _Missing.MISSING


class TtlCache(Generic[K, V]):
    """A bounded LRU whose entries expire; `get` tells a miss (`MISSING`) from a cached None.

    Shared by the API-key and Lambda-authorizer caches. Per process, not thread-safe: it is
    used from the event loop only.
    """

    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def get(self, key: K) -> V | Literal[_Missing.MISSING]:
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        deadline, value = entry
        if self._clock() >= deadline:
            del self._entries[key]
            return MISSING
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class ApiKeyFinder(Protocol):
    async def find(self, key: str) -> ApiKeyRecord | None: ...


class ApiKeyAuthenticator:
    def __init__(
        self,
        finder: ApiKeyFinder,
        *,
        cache_seconds: float,
        cache_size: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._finder = finder
        self._cache_seconds = cache_seconds
        self._cache: TtlCache[str, ApiKeyRecord | None] = TtlCache(
            max_entries=cache_size, clock=clock
        )
        self._clock = clock

    async def authenticate(self, key: str) -> ApiKeyIdentity:
        if not API_KEY_FORMAT.fullmatch(key):
            raise UnauthorizedError(NOT_AUTHORIZED)
        digest = hash_api_key(key)
        record = self._cache.get(digest)
        if record is MISSING:
            record = await self._finder.find(key)  # DynamoDB failures propagate: a 500
            self._cache.put(digest, record, self._cache_seconds)
        if record is None or not record.usable_at(self._clock()):
            raise UnauthorizedError(NOT_AUTHORIZED)
        return ApiKeyIdentity(key_id=record.key_id)

    def forget(self, key: str) -> None:
        """Drop a key from the cache (after revoking it in this process)."""
        self._cache.pop(hash_api_key(key))
