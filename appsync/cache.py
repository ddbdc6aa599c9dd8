"""AppSync's server-side resolver cache (APPSYNC.md §6.3), in memory or in Redis.

Behaviours:
- FULL_REQUEST_CACHING: every resolver of a query (fields backed by a resolver function,
  root or nested) is cached for the API's `ttl`, keyed by the field, the caller and the
  arguments, and for nested fields by the parent value too (so two parents never share a
  child's entry; AppSync's docs name only arguments and identity).
- PER_RESOLVER_CACHING: only the configured `Type.field`s, each with its `ttl` (1-3600 s)
  and `caching_keys` drawn from `$context.arguments.*`, `$context.source.*` and
  `$context.identity.*` (also spelt `$ctx.args.*`, `context.…`, `ctx.…`).

Rules kept everywhere:
- only query operations read or fill the cache; mutations and subscriptions never do;
- a resolver's error is never cached; its value (None included) is;
- identity never crosses: FULL_REQUEST_CACHING keys on `Caller.principal` (per API key,
  user, IAM ARN or Lambda token; stricter than AppSync, whose null API-key identity lets
  every API-key caller share) and the caller's groups, not on the token (whose `iat`/`exp`
  would make every token a new key) nor the client IP. A key that needs an identity value
  the caller lacks is not cached at all;
- keys hold no PII or client IP: `Type.field:` + HMAC-SHA256 of the key material;
- values are pickled and HMAC-signed (Redis is a network service: an unsigned pickle from it
  would be code execution); an entry that fails the check is a miss;
- a backend outage is a miss, logged, never a failed request.

Eviction (`evict_from_api_cache`, AppSync's `extensions.evictFromApiCache`) works only in a
mutation and only for fields configured under PER_RESOLVER_CACHING; values are given per
key name (all of the resolver's caching keys), e.g.
`{"$context.arguments.id": cart_id}`. `flush()` is `flush_api_cache`.

How: `prepare(schema)` wraps the resolvers of the cached fields only (GraphQLField.resolve),
so uncached fields pay nothing; every middleware, authorization included, runs outside the
wrapper, so a refused caller never reaches a cached value.

Install: `cache = ApiCache(CacheSettings(...), backend, secret=...)`; pass `cache` in
`strawberry.Schema(extensions=[...])` (it wraps on first use) and call `cache.prepare(schema)`
at build; put it in the request context so mutations can evict.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
import strawberry
from graphql import (
    GraphQLObjectType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    default_field_resolver,
)
from graphql.language import OperationType
from strawberry.extensions import SchemaExtension

from appsync.auth.identity import Caller
from appsync.caching import CacheSettings, CachingBehavior, CachingConfig, canonical_key
from datasources import frozen

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "ApiCache",
    "CacheBackend",
    "CacheSettings",
    "CacheUnavailableError",
    "CachingBehavior",
    "CachingConfig",
    "EvictionOutsideMutationError",
    "InMemoryCacheBackend",
    "OperationInfo",
    "RedisCacheBackend",
]

logger = logging.getLogger(__name__)


class OperationInfo(Protocol):
    """What eviction reads of a resolver's info (`strawberry.Info` or graphql-core's)."""

    @property
    def operation(self) -> OperationDefinitionNode: ...


class CacheUnavailableError(Exception):
    """A backend could not be reached; the cache treats it as a miss."""


class EvictionOutsideMutationError(RuntimeError):
    """`evict_from_api_cache` was called outside a mutation (AppSync allows only there)."""


class CacheBackend(Protocol):
    """Bytes by key with a TTL; `flush` drops every entry of this cache."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: int) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def flush(self) -> None: ...


class InMemoryCacheBackend:
    """One process's cache: TTL per entry, least recently used dropped past `max_entries`."""

    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def flush(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class RedisCacheBackend:
    """The ElastiCache stand-in: entries under `prefix` in one Redis, shared by every node."""

    def __init__(self, client: Redis, *, prefix: str = "cg:cache:") -> None:
        # Imported with the client, not with this module: a deployment without Redis (the
        # Lambda handler) never loads redis (cold start, docs/performance.md).
        from redis.exceptions import RedisError

        self._failure = RedisError
        self._client = client
        self.prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self.prefix + key)
        except self._failure as exc:
            raise CacheUnavailableError(f"cache get failed: {exc}") from exc
        # A client built with decode_responses=True would hand back text: refuse it early.
        if isinstance(value, str):
            raise TypeError("RedisCacheBackend needs a client with decode_responses=False")
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._client.set(self.prefix + key, value, ex=ttl)
        except self._failure as exc:
            raise CacheUnavailableError(f"cache set failed: {exc}") from exc

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete(self.prefix + key)
        except self._failure as exc:
            raise CacheUnavailableError(f"cache delete failed: {exc}") from exc

    async def flush(self) -> None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        try:
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                await self._client.unlink(*batch)
        except self._failure as exc:
            raise CacheUnavailableError(f"cache flush failed: {exc}") from exc


@frozen.record
class _Spec:
    """How one cached field is keyed: `keys` None means FULL_REQUEST_CACHING's key."""

    type_name: str
    field_name: str
    ttl: int
    keys: tuple[str, ...] | None


class _Missing:
    __slots__ = ()


_MISS: Final = _Missing()  # a cache miss; None is a cacheable value


class ApiCache:
    """The API cache; the instance is the per-request extension factory."""

    def __init__(self, settings: CacheSettings, backend: CacheBackend, *, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self.settings = settings
        self.backend = backend
        self._key_secret = hmac.digest(secret, b"commerce-graph cache key", "sha256")
        self._value_secret = hmac.digest(secret, b"commerce-graph cache value", "sha256")
        self._plans: weakref.WeakKeyDictionary[
            strawberry.Schema, Mapping[tuple[str, str], _Spec]
        ] = weakref.WeakKeyDictionary()

    def __call__(self) -> SchemaExtension:
        return _CacheExtension(self)

    def prepare(self, schema: strawberry.Schema) -> None:
        """Wrap the resolvers of the cached fields of `schema`, once.

        Only those fields pay for caching: the others keep their resolver untouched (no
        middleware runs for them). Raises ValueError for a configured unknown field.
        """
        if schema in self._plans:
            return
        plan = self._plans[schema] = _plan(schema, self.settings)
        core = schema._schema
        for (type_name, field_name), spec in plan.items():
            graphql_type = core.type_map[type_name]
            assert isinstance(graphql_type, GraphQLObjectType)
            field_def = graphql_type.fields[field_name]
            field_def.resolve = self._cached_resolver(spec, field_def.resolve)

    def plan(self, schema: strawberry.Schema) -> Mapping[tuple[str, str], _Spec]:
        """The cached fields of `schema` (after `prepare`)."""
        self.prepare(schema)
        return self._plans[schema]

    def evictable(self, type_name: str, field_name: str) -> bool:
        """Whether `evict_from_api_cache` applies: a PER_RESOLVER_CACHING field with keys."""
        return (
            self.settings.behavior is CachingBehavior.PER_RESOLVER_CACHING
            and f"{type_name}.{field_name}" in self.settings.resolvers
        )

    async def evict_from_api_cache(
        self,
        info: OperationInfo,
        type_name: str,
        field_name: str,
        key_values: Mapping[str, Any],
    ) -> None:
        """Drop one entry of a field with caching keys; only from a mutation's resolver."""
        if info.operation.operation is not OperationType.MUTATION:
            raise EvictionOutsideMutationError(
                "evict_from_api_cache can only be used in a mutation"
            )
        config = self.settings.resolvers.get(f"{type_name}.{field_name}")
        if config is None or self.settings.behavior is not CachingBehavior.PER_RESOLVER_CACHING:
            raise ValueError(f"{type_name}.{field_name} is not a resolver with caching keys")
        given = {canonical_key(name): value for name, value in key_values.items()}
        expected = config.canonical_keys
        if set(given) != set(expected):
            raise ValueError(
                f"{type_name}.{field_name} is keyed by {list(config.caching_keys)},"
                f" got {list(key_values)}"
            )
        key = self.key(type_name, field_name, [given[name] for name in expected])
        try:
            await self.backend.delete(key)
        except CacheUnavailableError:
            # The mutation did its work; a stale entry lives until its TTL.
            logger.error("cache eviction of %s.%s failed", type_name, field_name, exc_info=True)

    async def flush(self) -> None:
        """Drop every entry (AppSync's `flush_api_cache`)."""
        await self.backend.flush()

    def key(self, type_name: str, field_name: str, material: Sequence[Any]) -> str:
        """`Type.field:` + an HMAC of the key material: no PII or client IP in keys."""
        digest = hmac.new(self._key_secret, _canonical_json(list(material)), "sha256")
        return f"{type_name}.{field_name}:{digest.hexdigest()}"

    def _cached_resolver(
        self, spec: _Spec, resolve: Callable[..., Any] | None
    ) -> Callable[..., Any]:
        resolver = resolve or default_field_resolver

        def cached(root: Any, info: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
            # Only queries read or fill the cache; a mutation's result is never cached.
            if info.operation.operation is not OperationType.QUERY:
                return resolver(root, info, **arguments)
            key = self._key_of(spec, _material(spec, root, info, arguments))
            if key is None:
                return resolver(root, info, **arguments)
            return self.through(key, spec.ttl, lambda: resolver(root, info, **arguments))

        return cached

    def _key_of(self, spec: _Spec, material: list[Any] | None) -> str | None:
        if material is None:
            return None
        try:
            return self.key(spec.type_name, spec.field_name, material)
        except TypeError:  # a value that cannot be part of a key: resolve uncached
            return None

    async def through(self, key: str, ttl: int, call: Callable[[], Any]) -> Any:
        """The cached value at `key`, else `call()`'s value, stored when it succeeds."""
        cached = await self._read(key)
        if cached is not _MISS:
            return cached
        result = call()
        if isawaitable(result):
            result = await result
        await self._write(key, result, ttl)
        return result

    async def _read(self, key: str) -> Any:
        try:
            blob = await self.backend.get(key)
        except CacheUnavailableError:
            logger.warning("cache read failed; resolving instead", exc_info=True)
            return _MISS
        if blob is None or len(blob) < 32:
            return _MISS
        tag, payload = blob[:32], blob[32:]
        if not hmac.compare_digest(tag, hmac.digest(self._value_secret, payload, "sha256")):
            logger.warning("cache entry %s failed its signature check; ignored", key)
            return _MISS
        try:
            return pickle.loads(payload)  # signed by us and checked above: never foreign bytes
        except Exception:  # ours, but from an older deploy whose classes have changed
            logger.warning("cache entry %s no longer unpickles; ignored", key, exc_info=True)
            return _MISS

    async def _write(self, key: str, value: Any, ttl: int) -> None:
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            logger.warning("value of %s cannot be cached (not picklable)", key, exc_info=True)
            return
        blob = hmac.digest(self._value_secret, payload, "sha256") + payload
        try:
            await self.backend.set(key, blob, ttl)
        except CacheUnavailableError:
            logger.warning("cache write failed", exc_info=True)


class _CacheExtension(SchemaExtension):
    """Makes sure the schema's cached resolvers are wrapped; the wrappers do the work."""

    def __init__(self, cache: ApiCache) -> None:
        super().__init__()
        self._cache = cache

    def on_operation(self) -> Iterator[None]:
        self._cache.prepare(self.execution_context.schema)
        yield


def _material(
    spec: _Spec, root: Any, info: GraphQLResolveInfo[Any], arguments: Mapping[str, Any]
) -> list[Any] | None:
    """What keys one invocation, or None when it cannot be keyed without crossing identities."""
    caller: Caller | None = getattr(info.context, "caller", None)
    if spec.keys is None:  # FULL_REQUEST_CACHING
        principal = _principal(caller)
        if principal is None:
            return None
        material: list[Any] = [principal, dict(arguments)]
        if info.path.prev is not None:
            source = _source_digest(root)
            if source is None:
                return None
            material.append(source)
        return material
    values: list[Any] = []
    for name in spec.keys:
        kind, _, path = name.partition(".")
        if kind == "arguments":
            values.append(_dig(arguments, path))
        elif kind == "source":
            values.append(_dig(root, path))
        else:
            value = _dig(caller.identity if caller is not None else None, path)
            if value is None:
                return None
            values.append(value)
    return values


def _plan(schema: strawberry.Schema, settings: CacheSettings) -> Mapping[tuple[str, str], _Spec]:
    core = schema._schema
    plan: dict[tuple[str, str], _Spec] = {}
    if settings.behavior is CachingBehavior.PER_RESOLVER_CACHING:
        for name, config in settings.resolvers.items():
            type_name, _, field_name = name.partition(".")
            graphql_type = core.type_map.get(type_name)
            if not isinstance(graphql_type, GraphQLObjectType) or (
                field_name not in graphql_type.fields
            ):
                raise ValueError(f"cached resolver {name!r} is not a field of the schema")
            plan[(type_name, field_name)] = _Spec(
                type_name, field_name, config.ttl, config.canonical_keys
            )
        return plan
    skipped = {t.name for t in (core.mutation_type, core.subscription_type) if t}
    for type_name, graphql_type in core.type_map.items():
        if type_name.startswith("__") or type_name in skipped:
            continue
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        is_query = graphql_type is core.query_type
        for field_name, field_def in graphql_type.fields.items():
            definition = field_def.extensions.get("strawberry-definition")
            if is_query or getattr(definition, "base_resolver", None) is not None:
                plan[(type_name, field_name)] = _Spec(type_name, field_name, settings.ttl, None)
    return plan


def _dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower()
            value = getattr(value, part, getattr(value, snake, None))
    return value


def _principal(caller: Caller | None) -> Any:
    """Who the caller is (`Caller.principal`: opaque, per key, user, ARN or token) and its
    groups; never the token's volatile claims nor the client IP."""
    if caller is None or not caller.principal:
        return None
    return [caller.principal, sorted(caller.groups)]


def _source_digest(source: Any) -> str | None:
    try:
        encoded = _canonical_json(source)
    except TypeError:
        return None
    return hashlib.sha256(encoded).hexdigest()


def _canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_SORT_KEYS)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if hasattr(value, "__dict__"):
        return {"__type__": type(value).__qualname__, **vars(value)}
    raise TypeError(f"{type(value).__name__} cannot be part of a cache key")
