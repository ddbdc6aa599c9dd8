"""AppSync's limits (appsync.limits): APPSYNC.md §6.1-6.2, and the per-caller rate limit.

Redis tests run against a real redis-server (tests/engines/redis_server.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import strawberry
from graphql import parse
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.extensions import ParserCache, ValidationCache

from appsync.auth.identity import Caller
from appsync.auth.modes import AuthMode
from appsync.errors import format_error, request_error_body
from appsync.http import GraphQLEndpoint
from appsync.limits import (
    EXECUTION_TIMED_OUT,
    EXECUTION_TIMEOUT,
    InMemoryTokenBuckets,
    Introspection,
    Limits,
    LimitSettings,
    RateLimiter,
    RateLimitExceededError,
    RedisTokenBuckets,
    rate_limit_key,
)
from appsync.messages import translate_error
from engines.ports import free_port
from engines.redis_server import start_redis_server

DEEP = "{ node { child { child { child { name } } } } }"  # depth 5
DEPTH_3 = "{ node { child { name } } }"
DEEP_BY_FRAGMENT = "{ node { ...Two } } fragment Two on Node { child { child { name } } }"
INTROSPECTION = "{ __schema { queryType { name } } }"
TYPE_INTROSPECTION = '{ __type(name: "Node") { name } }'
THREE_ALIASES = "{ a: fast b: fast c: fast }"
ALIASES_IN_FRAGMENT = "{ a: fast ...F } fragment F on Query { b: fast c: fast }"
FIVE_RESOLVERS = "{ nodes(n: 4) { name child { name } } }"  # nodes + 4 x child
SLOW_AND_FAST = "{ slow fast }"
MUTATIONS = "mutation { first second }"

SLOW_CALLS: list[str] = []


@strawberry.type
class Node:
    name: str = "n"  # a plain attribute: not a resolver

    @strawberry.field
    def child(self) -> Node:
        return Node()

    @strawberry.field
    async def slow_child(self) -> str:
        await asyncio.sleep(5)
        return "late"


@strawberry.type
class Query:
    @strawberry.field
    def node(self) -> Node | None:
        return Node()

    @strawberry.field
    def nodes(self, n: int) -> list[Node]:
        return [Node() for _ in range(n)]

    @strawberry.field
    def fast(self) -> str:
        return "ok"

    @strawberry.field
    async def slow(self) -> str | None:
        await asyncio.sleep(5)
        return "late"

    @strawberry.field
    async def slow_required(self) -> str:
        await asyncio.sleep(5)
        return "late"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def first(self) -> str | None:
        SLOW_CALLS.append("first")
        await asyncio.sleep(5)
        return "late"

    @strawberry.mutation
    def second(self) -> str | None:
        SLOW_CALLS.append("second")
        return "done"


def build(settings: LimitSettings, *, caches: bool = True) -> strawberry.Schema:
    limits = Limits(settings)
    extensions: list[Any] = [limits]
    if caches:
        extensions += [lambda: ParserCache(maxsize=32), lambda: ValidationCache(maxsize=32)]
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=limits.executor_class,
    )
    limits.prepare(schema)
    return schema


async def run(
    schema: strawberry.Schema, query: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    result = await schema.execute(query)
    try:
        document = parse(query)
    except Exception:
        document = None
    errors = [
        format_error(translate_error(e, document, schema._schema)) for e in result.errors or []
    ]
    return result.data, errors


def messages(errors: list[dict[str, Any]]) -> list[str]:
    return [error["message"] for error in errors]


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"query_depth_limit": 76},
        {"query_depth_limit": -1},
        {"resolver_count_limit": 10_001},
        {"max_tokens": 0},
        {"max_aliases": 0},
        {"execution_timeout": 0},
    ],
)
def test_settings_outside_appsync_ranges_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LimitSettings(**settings)


def test_resolver_count_limit_zero_means_appsync_default() -> None:
    assert LimitSettings(resolver_count_limit=0).resolver_limit == 10_000


# --- depth -------------------------------------------------------------------------------


async def test_depth_within_the_limit_runs() -> None:
    schema = build(LimitSettings(query_depth_limit=3))

    assert await run(schema, DEPTH_3) == ({"node": {"child": {"name": "n"}}}, [])


@pytest.mark.parametrize("query", [DEEP, DEEP_BY_FRAGMENT])
async def test_too_deep_is_refused_before_execution(query: str) -> None:
    schema = build(LimitSettings(query_depth_limit=3))

    data, errors = await run(schema, query)

    assert data is None
    assert errors == [
        {"path": None, "locations": None, "message": errors[0]["message"]},
    ]
    assert errors[0]["message"].startswith("maximum query depth exceeded ")
    assert errors[0]["message"].endswith(" > 3")


async def test_introspection_subtrees_do_not_count_towards_depth() -> None:
    schema = build(LimitSettings(query_depth_limit=2))

    data, errors = await run(
        schema, "{ __schema { types { fields { type { ofType { name } } } } } }"
    )

    assert errors == []
    assert data is not None


async def test_depth_as_field_errors_nulls_the_too_deep_fields() -> None:
    # AppSync's docs: "nullability still applies": the optional reading, one setting away
    schema = build(LimitSettings(query_depth_limit=3, depth_errors="field"))

    data, errors = await run(schema, "{ node { child { child { name } } } }")

    # depth 4 is `name`; it is non-null, so its parent `child` (non-null) nulls `node`
    assert data == {"node": None}
    assert [(e["path"], e["message"]) for e in errors] == [
        (["node", "child", "child", "name"], "maximum query depth exceeded 4 > 3")
    ]


# --- introspection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"), [(INTROSPECTION, "__schema"), (TYPE_INTROSPECTION, "__type")]
)
async def test_disabled_introspection_is_a_field_undefined_validation_error(
    query: str, field: str
) -> None:
    schema = build(LimitSettings(introspection=Introspection.DISABLED))

    data, errors = await run(schema, query)

    assert data is None
    assert errors == [
        {
            "path": None,
            "locations": [{"line": 1, "column": 3, "sourceName": None}],
            "message": f"Validation error of type FieldUndefined: Field '{field}' in type"
            f" 'Query' is undefined @ '{field}'",
        }
    ]


async def test_typename_is_not_introspection() -> None:
    schema = build(LimitSettings(introspection=Introspection.DISABLED))

    assert await run(schema, "{ __typename fast }") == ({"__typename": "Query", "fast": "ok"}, [])


async def test_introspection_enabled_by_default() -> None:
    data, errors = await run(build(LimitSettings()), INTROSPECTION)

    assert (data, errors) == ({"__schema": {"queryType": {"name": "Query"}}}, [])


# --- aliases and tokens ------------------------------------------------------------------


@pytest.mark.parametrize("query", [THREE_ALIASES, ALIASES_IN_FRAGMENT])
async def test_too_many_aliases(query: str) -> None:
    schema = build(LimitSettings(max_aliases=2))

    data, errors = await run(schema, query)

    assert data is None
    assert messages(errors) == ["maximum alias count exceeded 3 > 2"]


async def test_aliases_at_the_limit_run() -> None:
    schema = build(LimitSettings(max_aliases=3))

    assert await run(schema, THREE_ALIASES) == ({"a": "ok", "b": "ok", "c": "ok"}, [])


@pytest.mark.parametrize("caches", [True, False], ids=["ParserCache", "Strawberry's parse"])
async def test_too_many_tokens_stop_the_parser(caches: bool) -> None:
    schema = build(LimitSettings(max_tokens=10), caches=caches)

    data, errors = await run(schema, "{ a: fast b: fast c: fast d: fast }")

    assert data is None
    assert errors == [
        {
            "path": None,
            "locations": None,
            "message": "More than 10 'grammar' tokens have been presented. To prevent Denial"
            " Of Service attacks, parsing has been cancelled.",
        }
    ]


async def test_ordinary_syntax_errors_are_left_alone() -> None:
    schema = build(LimitSettings(max_tokens=100))

    _, errors = await run(schema, "{ fast ")

    assert messages(errors)[0].startswith("Invalid Syntax")


# --- resolver count ------------------------------------------------------------------------


async def test_resolvers_are_counted_per_list_item_and_the_limit_is_inclusive() -> None:
    schema = build(LimitSettings(resolver_count_limit=5))

    data, errors = await run(schema, FIVE_RESOLVERS)

    assert errors == []
    assert data == {"nodes": [{"name": "n", "child": {"name": "n"}}] * 4}


async def test_one_resolver_too_many_refuses_the_whole_request() -> None:
    schema = build(LimitSettings(resolver_count_limit=4))

    data, errors = await run(schema, FIVE_RESOLVERS)

    assert data is None
    assert errors == [
        {
            "path": None,
            "locations": None,
            "message": "maximum resolver count exceeded: more than 4 resolvers in one request",
        }
    ]


async def test_plain_attributes_are_not_resolvers() -> None:
    schema = build(LimitSettings(resolver_count_limit=1))

    data, errors = await run(schema, "{ node { name a: name b: name } }")

    assert errors == []
    assert data == {"node": {"name": "n", "a": "n", "b": "n"}}


# --- execution timeout ---------------------------------------------------------------------


async def test_a_root_field_still_running_at_the_deadline_times_out() -> None:
    schema = build(LimitSettings(execution_timeout=0.05))
    started = time.monotonic()

    data, errors = await run(schema, "query {\n  slow\n  fast\n}")

    assert time.monotonic() - started < 1
    assert data == {"slow": None, "fast": "ok"}
    assert errors == [  # APPSYNC.md §3.2's example, verbatim but for the field
        {
            "path": ["slow"],
            "data": None,
            "errorType": EXECUTION_TIMEOUT,
            "errorInfo": None,
            "locations": [{"line": 2, "column": 3, "sourceName": None}],
            "message": EXECUTION_TIMED_OUT,
        }
    ]


async def test_a_nested_slow_field_times_out_its_root_field() -> None:
    schema = build(LimitSettings(execution_timeout=0.05))

    data, errors = await run(schema, "{ node { name slowChild } fast }")

    assert data == {"node": None, "fast": "ok"}
    assert [(e["path"], e["errorType"]) for e in errors] == [(["node"], EXECUTION_TIMEOUT)]


async def test_a_non_null_root_field_timing_out_nulls_the_data() -> None:
    schema = build(LimitSettings(execution_timeout=0.05))

    data, errors = await run(schema, "{ slowRequired fast }")

    assert data is None
    assert [e["errorType"] for e in errors] == [EXECUTION_TIMEOUT]


async def test_mutation_fields_after_the_deadline_are_not_started() -> None:
    schema = build(LimitSettings(execution_timeout=0.05))
    SLOW_CALLS.clear()

    data, errors = await run(schema, MUTATIONS)

    assert SLOW_CALLS == ["first"]
    assert data == {"first": None, "second": None}
    assert [(e["path"], e["errorType"]) for e in errors] == [
        (["first"], EXECUTION_TIMEOUT),
        (["second"], EXECUTION_TIMEOUT),
    ]


async def test_fast_requests_are_untouched_by_the_timeout() -> None:
    schema = build(LimitSettings(execution_timeout=5))

    assert await run(schema, "mutation { second }") == ({"second": "done"}, [])


# --- rate limit ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_in_memory_bucket_bursts_then_refills() -> None:
    clock = FakeClock()
    limiter = RateLimiter(InMemoryTokenBuckets(clock=clock), rate=2.0, burst=3)

    decisions = [await limiter.allow("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == pytest.approx(0.5)
    assert (await limiter.allow("other")).allowed  # buckets are per key

    clock.now += 0.5
    assert (await limiter.allow("k")).allowed
    assert not (await limiter.allow("k")).allowed


async def test_in_memory_buckets_are_bounded() -> None:
    clock = FakeClock()
    buckets = InMemoryTokenBuckets(max_keys=2, clock=clock)
    limiter = RateLimiter(buckets, rate=1.0, burst=1)
    for key in ("a", "b", "c"):
        await limiter.allow(key)

    # "a" was dropped as least recently used: it starts with a full bucket again
    assert (await limiter.allow("a")).allowed
    assert not (await limiter.allow("c")).allowed


async def test_check_raises_an_appsync_shaped_429() -> None:
    limiter = RateLimiter(InMemoryTokenBuckets(clock=FakeClock()), rate=1.0, burst=1)
    await limiter.check("k")

    with pytest.raises(RateLimitExceededError) as refused:
        await limiter.check("k")

    assert refused.value.status_code == 429
    assert refused.value.retry_after == pytest.approx(1.0)
    assert request_error_body(refused.value) == {
        "errors": [{"errorType": "LimitExceededException", "message": "Rate limit exceeded"}]
    }


def test_rate_limit_keys_are_per_principal_and_opaque() -> None:
    user = Caller(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "s-1"}, principal="p" * 32)
    anonymous = Caller(AuthMode.API_KEY, None, source_ip="198.51.100.23")

    assert rate_limit_key(user) == "p" * 32
    key = rate_limit_key(anonymous)
    assert len(key) == 32
    assert "198.51" not in key
    assert key != rate_limit_key(Caller(AuthMode.API_KEY, None, source_ip="198.51.100.24"))


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


async def test_redis_bucket_bursts_then_refuses(redis: Redis) -> None:
    limiter = RateLimiter(RedisTokenBuckets(redis), rate=1.0, burst=3)

    decisions = [await limiter.allow("caller-1") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 0 < decisions[-1].retry_after <= 1.0
    assert (await limiter.allow("caller-2")).allowed
    # Idle buckets expire on their own once they would be full again.
    assert 0 < await redis.pttl("cg:rate:caller-1") <= 4000


async def test_redis_bucket_refills_on_the_servers_clock(redis: Redis) -> None:
    limiter = RateLimiter(RedisTokenBuckets(redis), rate=50.0, burst=1)
    assert (await limiter.allow("k")).allowed
    assert not (await limiter.allow("k")).allowed

    await asyncio.sleep(0.05)

    assert (await limiter.allow("k")).allowed


async def test_redis_bucket_is_atomic_under_concurrency(redis: Redis) -> None:
    limiter = RateLimiter(RedisTokenBuckets(redis), rate=0.001, burst=10)

    decisions = await asyncio.gather(*(limiter.allow("hot") for _ in range(40)))

    assert sum(d.allowed for d in decisions) == 10


async def test_a_limiter_outage_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    limiter = RateLimiter(RedisTokenBuckets(client), rate=1.0, burst=1)
    try:
        decision = await limiter.allow("k")
    finally:
        await client.aclose()

    assert decision.allowed
    assert "rate limiter unavailable" in caplog.text


def test_the_executor_must_be_installed() -> None:
    limits = Limits(LimitSettings())
    schema = strawberry.Schema(query=Query, extensions=[limits])

    with pytest.raises(RuntimeError, match=r"execution_context_class=limits\.executor_class"):
        limits.prepare(schema)


async def test_through_the_http_edge_429_and_execution_timeout() -> None:
    # given: the edge rate-limits in its context getter, as server.py would
    schema = build(LimitSettings(execution_timeout=0.05))
    limiter = RateLimiter(InMemoryTokenBuckets(), rate=0.001, burst=2)
    caller = Caller(AuthMode.API_KEY, None, principal="k" * 32)

    async def context(_: Request) -> Caller:
        await limiter.check(rate_limit_key(caller))
        return caller

    endpoint = GraphQLEndpoint(schema, context_getter=context, max_body_bytes=4096, graphiql=False)
    app = Starlette(routes=[Route("/graphql", endpoint)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        # when
        responses = [await client.post("/graphql", json={"query": SLOW_AND_FAST}) for _ in range(3)]

    # then
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].json()["data"] == {"slow": None, "fast": "ok"}
    assert responses[0].json()["errors"][0]["errorType"] == "ExecutionTimeout"
    assert responses[2].headers["x-amzn-ErrorType"] == "LimitExceededException"
    assert responses[2].json() == {
        "errors": [{"errorType": "LimitExceededException", "message": "Rate limit exceeded"}]
    }
