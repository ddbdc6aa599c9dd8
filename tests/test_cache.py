"""AppSync's resolver cache (appsync.cache): APPSYNC.md §6.3, in memory and in a real Redis."""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from graphql import parse
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from strawberry.extensions import ParserCache, ValidationCache

from appsync.auth.identity import Caller
from appsync.auth.modes import AuthMode
from appsync.authz import FieldAuthorization
from appsync.cache import (
    ApiCache,
    CacheBackend,
    CacheSettings,
    CachingBehavior,
    CachingConfig,
    EvictionOutsideMutationError,
    InMemoryCacheBackend,
    RedisCacheBackend,
)
from appsync.errors import AppSyncError, format_error
from appsync.messages import translate_error
from engines.ports import free_port
from engines.redis_server import start_redis_server
from schema.directives import AwsApiKey, AwsCognitoUserPools, AwsIam

SECRET = b"test-cache-secret-0123456789abcdef"
CALLS: Counter[str] = Counter()
NAMES: dict[str, str] = {}

PRODUCT = '{ product(id: "p1") { id name } }'
PRODUCTS = '{ a: product(id: "p1") { name } b: product(id: "p2") { name } }'
VARIANTS = '{ a: product(id: "p1") { variants { sku } } b: product(id: "p2") { variants { sku } } }'
ME = "{ me }"
RENAME = 'mutation { rename(id: "p1", name: "renamed") }'


@strawberry.type(directives=[AwsApiKey(), AwsIam(), AwsCognitoUserPools()])
class Variant:
    sku: str


@strawberry.type(directives=[AwsApiKey(), AwsIam(), AwsCognitoUserPools()])
class Product:
    id: strawberry.ID
    name: str

    @strawberry.field
    def variants(self) -> list[Variant]:
        CALLS["Product.variants"] += 1
        return [Variant(sku=f"{self.id}-1")]


@strawberry.type(directives=[AwsApiKey(), AwsIam(), AwsCognitoUserPools()])
class Query:
    @strawberry.field
    def product(self, id: strawberry.ID) -> Product | None:
        CALLS["Query.product"] += 1
        return Product(id=id, name=NAMES.get(str(id), f"name-{id}"))

    @strawberry.field(directives=[AwsIam()])
    def secret_product(self, id: strawberry.ID) -> Product | None:
        CALLS["Query.secretProduct"] += 1
        return Product(id=id, name="secret")

    @strawberry.field
    async def me(self, info: strawberry.Info) -> str | None:
        CALLS["Query.me"] += 1
        caller: Caller = info.context.caller
        return None if caller.identity is None else str(caller.identity["sub"])

    @strawberry.field
    def nothing(self) -> str | None:
        CALLS["Query.nothing"] += 1
        return None

    @strawberry.field
    def broken(self) -> str | None:
        CALLS["Query.broken"] += 1
        raise AppSyncError("the data source failed", "DataSourceError")

    @strawberry.field
    async def evict_here(self, info: strawberry.Info) -> bool:
        cache: ApiCache = info.context.cache
        await cache.evict_from_api_cache(info, "Query", "product", {"ctx.args.id": "p1"})
        return True


@strawberry.type(directives=[AwsApiKey(), AwsIam(), AwsCognitoUserPools()])
class Mutation:
    @strawberry.mutation
    async def rename(self, info: strawberry.Info, id: strawberry.ID, name: str) -> bool:
        NAMES[str(id)] = name
        cache: ApiCache = info.context.cache
        await cache.evict_from_api_cache(info, "Query", "product", {"$context.arguments.id": id})
        return True

    @strawberry.mutation
    def touch(self, id: strawberry.ID) -> Product:
        return Product(id=id, name="touched")


@dataclass
class Context:
    caller: Caller | None
    cache: ApiCache


ALICE = Caller(
    AuthMode.AMAZON_COGNITO_USER_POOLS,
    {"sub": "alice-sub", "claims": {"email": "alice@example.com"}, "sourceIp": ["198.51.100.7"]},
    principal="a" * 32,
    source_ip="198.51.100.7",
)
BOB = Caller(
    AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "bob-sub"}, principal="b" * 32, source_ip="10.0.0.2"
)
KEY_CALLER = Caller(AuthMode.API_KEY, None, principal="k" * 32)
IAM = Caller(AuthMode.AWS_IAM, {"userArn": "arn:aws:iam::1:user/x"}, principal="i" * 32)

PER_RESOLVER = CacheSettings(
    CachingBehavior.PER_RESOLVER_CACHING,
    resolvers={
        "Query.product": CachingConfig(ttl=60, caching_keys=("$context.arguments.id",)),
        "Query.secretProduct": CachingConfig(ttl=60, caching_keys=("$ctx.args.id",)),
        "Product.variants": CachingConfig(ttl=60, caching_keys=("$context.source.id",)),
        "Query.me": CachingConfig(ttl=60, caching_keys=("$context.identity.sub",)),
        "Query.nothing": CachingConfig(ttl=60),
        "Query.broken": CachingConfig(ttl=60),
    },
)
FULL = CacheSettings(CachingBehavior.FULL_REQUEST_CACHING, ttl=60)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with start_redis_server() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[CacheBackend]:
    if request.param == "memory":
        yield InMemoryCacheBackend()
        return
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield RedisCacheBackend(client)
    await client.aclose()


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    CALLS.clear()
    NAMES.clear()


class Graph:
    def __init__(self, settings: CacheSettings, backend: CacheBackend) -> None:
        self.cache = ApiCache(settings, backend, secret=SECRET)
        authorization = FieldAuthorization(default_mode=AuthMode.API_KEY)
        self.schema = strawberry.Schema(
            query=Query,
            mutation=Mutation,
            # Any order: the cache wraps resolvers, inside every middleware (authorization).
            extensions=[
                lambda: ParserCache(maxsize=32),
                lambda: ValidationCache(maxsize=32),
                authorization,
                self.cache,
            ],
        )
        self.cache.prepare(self.schema)

    async def run(
        self, query: str, caller: Caller | None = KEY_CALLER
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        result = await self.schema.execute(query, context_value=Context(caller, self.cache))
        document = parse(query)
        errors = [
            format_error(translate_error(e, document, self.schema._schema))
            for e in result.errors or []
        ]
        return result.data, errors


# --- backend contract ------------------------------------------------------------------------


async def test_backend_round_trip_delete_and_flush(backend: CacheBackend) -> None:
    await backend.set("Query.a:1", b"one", 60)
    await backend.set("Query.a:2", b"two", 60)
    assert await backend.get("Query.a:1") == b"one"
    assert await backend.get("Query.a:missing") is None

    await backend.delete("Query.a:1")
    assert await backend.get("Query.a:1") is None
    await backend.flush()
    assert await backend.get("Query.a:2") is None


async def test_in_memory_entries_expire_and_are_bounded() -> None:
    now = [100.0]
    backend = InMemoryCacheBackend(max_entries=2, clock=lambda: now[0])
    await backend.set("a", b"1", 10)
    await backend.set("b", b"2", 10)
    await backend.get("a")  # "a" is now the most recently used
    await backend.set("c", b"3", 10)

    assert (await backend.get("a"), await backend.get("b"), await backend.get("c")) == (
        b"1",
        None,
        b"3",
    )
    now[0] += 10
    assert await backend.get("a") is None
    assert len(backend) == 1


async def test_redis_entries_carry_their_ttl_and_flush_keeps_other_keys(redis: Redis) -> None:
    backend = RedisCacheBackend(redis, prefix="cg:cache:")
    await redis.set("unrelated", b"keep")
    await backend.set("Query.a:1", b"one", 7)

    assert 0 < await redis.pttl("cg:cache:Query.a:1") <= 7000
    await backend.flush()
    assert await redis.get("unrelated") == b"keep"
    assert await redis.keys("cg:cache:*") == []


# --- PER_RESOLVER_CACHING ------------------------------------------------------------------


async def test_a_configured_resolver_is_served_from_the_cache(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    first = await graph.run(PRODUCT)
    second = await graph.run(PRODUCT)

    assert first == second == ({"product": {"id": "p1", "name": "name-p1"}}, [])
    assert CALLS["Query.product"] == 1


async def test_argument_keys_separate_entries(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    await graph.run(PRODUCTS)
    data, _ = await graph.run(PRODUCTS)

    assert data == {"a": {"name": "name-p1"}, "b": {"name": "name-p2"}}
    assert CALLS["Query.product"] == 2


async def test_source_keys_separate_parents(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    await graph.run(VARIANTS)
    data, _ = await graph.run(VARIANTS)

    assert data == {"a": {"variants": [{"sku": "p1-1"}]}, "b": {"variants": [{"sku": "p2-1"}]}}
    assert CALLS["Product.variants"] == 2


async def test_identity_keys_never_cross_callers(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    alice = [await graph.run(ME, ALICE) for _ in range(2)]
    bob = [await graph.run(ME, BOB) for _ in range(2)]

    assert alice == [({"me": "alice-sub"}, [])] * 2
    assert bob == [({"me": "bob-sub"}, [])] * 2
    assert CALLS["Query.me"] == 2


async def test_a_caller_without_the_identity_value_is_never_cached(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    await graph.run(ME, KEY_CALLER)
    await graph.run(ME, KEY_CALLER)

    assert CALLS["Query.me"] == 2


async def test_unconfigured_fields_are_not_cached(backend: CacheBackend) -> None:
    graph = Graph(
        CacheSettings(
            CachingBehavior.PER_RESOLVER_CACHING,
            resolvers={"Query.product": CachingConfig(ttl=60, caching_keys=("ctx.args.id",))},
        ),
        backend,
    )

    await graph.run(VARIANTS)
    await graph.run(VARIANTS)

    assert (CALLS["Query.product"], CALLS["Product.variants"]) == (2, 4)


async def test_null_is_cached_errors_are_not(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    for _ in range(2):
        assert await graph.run("{ nothing }") == ({"nothing": None}, [])
        _, errors = await graph.run("{ broken }")
        assert [e["errorType"] for e in errors] == ["DataSourceError"]

    assert (CALLS["Query.nothing"], CALLS["Query.broken"]) == (1, 2)


async def test_authorization_runs_before_a_cached_value_is_served(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)
    query = '{ secretProduct(id: "p1") { name } }'
    assert (await graph.run(query, IAM))[0] == {"secretProduct": {"name": "secret"}}

    data, errors = await graph.run(query, KEY_CALLER)

    assert data == {"secretProduct": None}
    assert [e["errorType"] for e in errors] == ["Unauthorized"]


# --- FULL_REQUEST_CACHING ------------------------------------------------------------------


async def test_full_request_caching_keys_every_resolver_on_the_caller(
    backend: CacheBackend,
) -> None:
    graph = Graph(FULL, backend)

    for caller in (ALICE, ALICE, BOB):
        data, errors = await graph.run(VARIANTS, caller)
        assert errors == []
        assert data == {
            "a": {"variants": [{"sku": "p1-1"}]},
            "b": {"variants": [{"sku": "p2-1"}]},
        }

    # per caller: 2 products, and the variants of each product (the parent is in the key)
    assert (CALLS["Query.product"], CALLS["Product.variants"]) == (4, 4)


async def test_full_request_caching_never_crosses_identities(backend: CacheBackend) -> None:
    graph = Graph(FULL, backend)

    assert await graph.run(ME, ALICE) == ({"me": "alice-sub"}, [])
    assert await graph.run(ME, BOB) == ({"me": "bob-sub"}, [])
    assert await graph.run(ME, ALICE) == ({"me": "alice-sub"}, [])
    assert CALLS["Query.me"] == 2


async def test_mutations_never_read_or_fill_the_cache(backend: CacheBackend) -> None:
    graph = Graph(FULL, backend)

    for _ in range(2):
        data, _ = await graph.run('mutation { touch(id: "p1") { variants { sku } } }')
        assert data == {"touch": {"variants": [{"sku": "p1-1"}]}}

    assert CALLS["Product.variants"] == 2


# --- eviction and flush --------------------------------------------------------------------


async def test_a_mutation_evicts_the_entry_it_made_stale(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)
    await graph.run(PRODUCTS)

    assert await graph.run(RENAME) == ({"rename": True}, [])
    data, _ = await graph.run(PRODUCTS)

    assert data == {"a": {"name": "renamed"}, "b": {"name": "name-p2"}}
    assert CALLS["Query.product"] == 3  # p1 twice, p2 once


async def test_eviction_outside_a_mutation_is_refused(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)

    data, errors = await graph.run("{ evictHere }")

    assert data is None
    assert [e["errorType"] for e in errors] == ["InternalFailure"]


def _info(operation: str) -> Any:
    return type("Info", (), {"operation": parse(f"{operation} {{ a }}").definitions[0]})()


async def test_eviction_is_for_mutations_only(backend: CacheBackend) -> None:
    cache = ApiCache(PER_RESOLVER, backend, secret=SECRET)

    with pytest.raises(EvictionOutsideMutationError):
        await cache.evict_from_api_cache(
            _info("query"), "Query", "product", {"$context.arguments.id": "p1"}
        )


async def test_eviction_needs_exactly_the_resolvers_keys(backend: CacheBackend) -> None:
    cache = ApiCache(PER_RESOLVER, backend, secret=SECRET)
    info = _info("mutation")

    with pytest.raises(ValueError, match="keyed by"):
        await cache.evict_from_api_cache(info, "Query", "product", {"$context.arguments.x": 1})
    with pytest.raises(ValueError, match="caching keys"):
        await cache.evict_from_api_cache(info, "Query", "fast", {})


async def test_flush_drops_everything(backend: CacheBackend) -> None:
    graph = Graph(PER_RESOLVER, backend)
    await graph.run(PRODUCT)

    await graph.cache.flush()
    await graph.run(PRODUCT)

    assert CALLS["Query.product"] == 2


# --- keys, values, outages -----------------------------------------------------------------


async def test_keys_hold_no_pii_or_client_ip(redis: Redis) -> None:
    graph = Graph(FULL, RedisCacheBackend(redis))
    await graph.run(ME, ALICE)
    await graph.run(PRODUCT, ALICE)
    per_resolver = Graph(PER_RESOLVER, RedisCacheBackend(redis))
    await per_resolver.run(ME, ALICE)

    keys = [key.decode() if isinstance(key, bytes) else key for key in await redis.keys("*")]

    assert len(keys) == 3  # FULL: me, product; PER_RESOLVER: me (keyed differently)
    for key in keys:
        assert re.fullmatch(r"cg:cache:(Query\.me|Query\.product):[0-9a-f]{64}", key), key
        for secret in ("alice", "198.51.100.7", "example.com", "a" * 32, "p1"):
            assert secret not in key


async def test_a_tampered_entry_is_a_miss(redis: Redis, caplog: pytest.LogCaptureFixture) -> None:
    graph = Graph(PER_RESOLVER, RedisCacheBackend(redis))
    await graph.run(PRODUCT)
    [key] = await redis.keys("cg:cache:Query.product:*")
    await redis.set(key, b"x" * 32 + b"not a pickle we signed")

    data, errors = await graph.run(PRODUCT)

    assert (data, errors) == ({"product": {"id": "p1", "name": "name-p1"}}, [])
    assert CALLS["Query.product"] == 2
    assert "failed its signature check" in caplog.text


async def test_a_redis_outage_is_a_miss_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    graph = Graph(PER_RESOLVER, RedisCacheBackend(client))
    try:
        results = [await graph.run(PRODUCT) for _ in range(2)]
    finally:
        await client.aclose()

    assert results == [({"product": {"id": "p1", "name": "name-p1"}}, [])] * 2
    assert CALLS["Query.product"] == 2
    assert "cache read failed" in caplog.text


@dataclass(frozen=True)
class Gone:
    """Stands for a record class a later deploy renamed."""

    value: int


async def test_an_entry_that_no_longer_unpickles_is_a_miss(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ApiCache(PER_RESOLVER, InMemoryCacheBackend(), secret=SECRET)
    calls: list[int] = []
    record = Gone

    def resolve() -> Gone:
        calls.append(1)
        return record(1)

    await cache.through("Query.x:1", 60, resolve)
    monkeypatch.delattr(sys.modules[__name__], "Gone")

    await cache.through("Query.x:1", 60, resolve)

    assert len(calls) == 2
    assert "no longer unpickles" in caplog.text


async def test_an_unpicklable_value_is_served_uncached() -> None:
    cache = ApiCache(PER_RESOLVER, InMemoryCacheBackend(), secret=SECRET)
    calls: list[int] = []

    def resolve() -> Any:
        calls.append(1)
        return threading.Lock()

    for _ in range(2):
        assert await cache.through("Query.x:1", 60, resolve) is not None

    assert len(calls) == 2


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, 3601])
def test_ttl_outside_appsync_range_is_refused(ttl: int) -> None:
    with pytest.raises(ValueError, match="1-3600"):
        CachingConfig(ttl=ttl)
    with pytest.raises(ValueError, match="1-3600"):
        CacheSettings(CachingBehavior.FULL_REQUEST_CACHING, ttl=ttl)


@pytest.mark.parametrize("key", ["$context.headers.x", "arguments.id", "$context.arguments"])
def test_caching_keys_must_name_arguments_source_or_identity(key: str) -> None:
    with pytest.raises(ValueError, match="caching key"):
        CachingConfig(ttl=60, caching_keys=(key,))


def test_a_configured_field_must_exist() -> None:
    settings = CacheSettings(
        CachingBehavior.PER_RESOLVER_CACHING, resolvers={"Query.nope": CachingConfig(ttl=1)}
    )

    with pytest.raises(ValueError, match="not a field"):
        Graph(settings, InMemoryCacheBackend())
