"""AppSync's limits (APPSYNC.md §6.1-6.2) and the protections it leaves to WAF.

What each limit does when crossed (exact AppSync strings are unverified, §6.1, so every
message below is ours unless marked):

- `query_depth_limit` (1-75; 0 off), validation: data null,
  `maximum query depth exceeded D > L` (1)
- `resolver_count_limit` (default 10000), execution: data null,
  `maximum resolver count exceeded: more than L resolvers in one request` (2)
- introspection DISABLED, validation: FieldUndefined on `__schema` / `__type` (3)
- `max_tokens` (default 15000), parsing: data null, graphql-java's wording (4)
- `max_aliases` (default 100), validation: data null, `maximum alias count exceeded N > L`
- `execution_timeout` (30 s), execution: each root field still running becomes null with
  errorType `ExecutionTimeout`, `Execution timed out.` [obs, APPSYNC.md §3.2]
- rate limit per caller, HTTP edge: 429 `LimitExceededException`, `Rate limit exceeded` (5)

(1) graphql-java's MaxQueryDepthInstrumentation wording; AppSync's docs say nullability
    still applies, i.e. field-level errors: `depth_errors="field"` gives that reading.
    Introspection subtrees (`__schema`, `__type`) are not counted, so GraphiQL works.
(2) counts invocations of fields that have a resolver function (per list item), as AppSync
    counts resolvers; plain attribute reads are not resolvers.
(3) the AppSync console shows a FieldUndefined validation error; this rule reports
    graphql-core's "Cannot query field" text, which `appsync.messages` translates.
(4) `More than N 'grammar' tokens have been presented. To prevent Denial Of Service
    attacks, parsing has been cancelled.` (graphql-java's parser limit, default 15000).
(5) AppSync has no per-identity limit (WAF answers 403); 429 and the realtime protocol's
    `Rate limit exceeded` text are our choice. See `RateLimiter`.

Install (schema/__init__.py): `limits = Limits(LimitSettings(...))`, then
`strawberry.Schema(..., extensions=[limits, ...], execution_context_class=limits.executor_class)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.pyutils import Path, Undefined
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from appsync.auth.identity import Caller
from appsync.errors import AppSyncError, RequestError
from datasources import frozen

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "EXECUTION_TIMED_OUT",
    "EXECUTION_TIMEOUT",
    "InMemoryTokenBuckets",
    "Introspection",
    "LimitSettings",
    "Limits",
    "RateDecision",
    "RateLimitExceededError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RedisTokenBuckets",
    "TokenBuckets",
    "rate_limit_key",
]

logger = logging.getLogger(__name__)

EXECUTION_TIMEOUT: Final = "ExecutionTimeout"
EXECUTION_TIMED_OUT: Final = "Execution timed out."
_INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type"})


class Introspection(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


@dataclass(frozen=True)
class LimitSettings:
    query_depth_limit: int = 0  # 0 = no limit, else 1-75 (AppSync's range)
    resolver_count_limit: int = 10_000  # 0 = 10000, AppSync's default and maximum
    introspection: Introspection = Introspection.ENABLED
    max_tokens: int | None = 15_000  # graphql-java's parser default
    max_aliases: int | None = 100
    execution_timeout: float = 30.0  # AppSync's hard quota
    depth_errors: Literal["request", "field"] = "request"

    def __post_init__(self) -> None:
        if not 0 <= self.query_depth_limit <= 75:
            raise ValueError("query_depth_limit must be 0 (off) or 1-75")
        if not 0 <= self.resolver_count_limit <= 10_000:
            raise ValueError("resolver_count_limit must be 0-10000 (0 means 10000)")
        for name in ("max_tokens", "max_aliases"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive or None")
        if self.execution_timeout <= 0:
            raise ValueError("execution_timeout must be positive")

    @property
    def resolver_limit(self) -> int:
        return self.resolver_count_limit or 10_000


def depth_exceeded(depth: int, limit: int) -> str:
    return f"maximum query depth exceeded {depth} > {limit}"


def resolvers_exceeded(limit: int) -> str:
    return f"maximum resolver count exceeded: more than {limit} resolvers in one request"


def tokens_exceeded(limit: int) -> str:
    return (
        f"More than {limit} 'grammar' tokens have been presented. To prevent Denial Of"
        " Service attacks, parsing has been cancelled."
    )


def aliases_exceeded(count: int, limit: int) -> str:
    return f"maximum alias count exceeded {count} > {limit}"


class Limits:
    """The configured limits; the instance is the per-request extension factory."""

    def __init__(self, settings: LimitSettings | None = None) -> None:
        self.settings = settings = settings or LimitSettings()
        rules: list[type[ValidationRule]] = []
        if settings.query_depth_limit and settings.depth_errors == "request":
            rules.append(_depth_rule(settings.query_depth_limit))
        if settings.introspection is Introspection.DISABLED:
            rules.append(_NoIntrospection)
        if settings.max_aliases is not None:
            rules.append(_aliases_rule(settings.max_aliases))
        # Built once: ValidationCache keys its entries on this tuple.
        self.validation_rules: tuple[type[ValidationRule], ...] = tuple(rules)
        self._resolver_fields: weakref.WeakKeyDictionary[
            GraphQLSchema, frozenset[tuple[str, str]]
        ] = weakref.WeakKeyDictionary()
        # Resolver counting, field-level depth errors and the timeout live in the executor:
        # one check per field there costs a fraction of a middleware layer.
        self.executor_class = _limited_executor(settings, self.resolver_fields)

    def __call__(self) -> SchemaExtension:
        return _LimitsExtension(self)

    def prepare(self, schema: strawberry.Schema) -> None:
        """Check the schema runs on `executor_class` and read its resolver fields once."""
        self._check_executor(schema)
        self.resolver_fields(schema._schema)

    def resolver_fields(self, schema: GraphQLSchema) -> frozenset[tuple[str, str]]:
        """(type, field) pairs backed by a resolver function: what AppSync would count."""
        found = self._resolver_fields.get(schema)
        if found is None:
            found = self._resolver_fields[schema] = _resolver_fields(schema)
        return found

    def _check_executor(self, schema: strawberry.Schema) -> None:
        if schema.execution_context_class is not self.executor_class:
            # Without it the resolver count, field depth errors and the timeout are off.
            raise RuntimeError(
                "build the schema with execution_context_class=limits.executor_class"
            )


class _LimitsExtension(SchemaExtension):
    """Validation rules and the parser's token limit; the executor does the rest."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._settings = limits.settings
        self._limits = limits

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        self._limits._check_executor(execution.schema)
        execution.validation_rules = execution.validation_rules + self._limits.validation_rules
        if self._settings.max_tokens is not None:
            execution.parse_options["max_tokens"] = self._settings.max_tokens
        try:
            yield
        except GraphQLError as error:  # raised by ParserCache's parse
            replacement = self._token_error(error)
            if replacement is None:
                raise
            raise replacement from None
        result = execution.result
        if result is not None and result.errors:  # Strawberry's own parse reports it here
            result.errors = [self._token_error(error) or error for error in result.errors]

    def _token_error(self, error: GraphQLError) -> GraphQLError | None:
        limit = self._settings.max_tokens
        if limit is None or "tokens. Parsing aborted." not in error.message:
            return None
        return GraphQLError(tokens_exceeded(limit))


# --- validation rules ------------------------------------------------------------------


def _depth_rule(limit: int) -> type[ValidationRule]:
    class QueryDepthLimit(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            depth = _max_depth(self.context.document)
            if depth > limit:
                self.report_error(GraphQLError(depth_exceeded(depth, limit)))

    return QueryDepthLimit


class _NoIntrospection(ValidationRule):
    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value in _INTROSPECTION_FIELDS:
            parent = self.context.get_parent_type()
            where = getattr(parent, "name", "Query")
            # graphql-core's unknown-field text: appsync.messages turns it into graphql-java's.
            self.report_error(
                GraphQLError(f"Cannot query field '{node.name.value}' on type '{where}'.", node)
            )


def _aliases_rule(limit: int) -> type[ValidationRule]:
    class MaxAliases(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = fragments_of(context.document)
            count = sum(
                _aliases(definition.selection_set, fragments, frozenset())
                for definition in context.document.definitions
                if isinstance(definition, OperationDefinitionNode)
            )
            if count > limit:
                context.report_error(GraphQLError(aliases_exceeded(count, limit)))

    return MaxAliases


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _max_depth(document: DocumentNode) -> int:
    """Deepest field nesting of any operation: `{ a { b } }` is 2; fragments are transparent."""
    fragments = fragments_of(document)
    memo: dict[str, int] = {}
    return max(
        (
            _depth(definition.selection_set, fragments, memo, frozenset())
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        ),
        default=0,
    )


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    memo: dict[str, int],
    visiting: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION_FIELDS:
                continue
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, memo, visiting))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, memo, visiting))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:  # cycles are another rule's error
                continue
            if name not in memo:
                memo[name] = _depth(fragment.selection_set, fragments, memo, visiting | {name})
            deepest = max(deepest, memo[name])
    return deepest


def _aliases(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    visiting: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += (selection.alias is not None) + _aliases(
                selection.selection_set, fragments, visiting
            )
        elif isinstance(selection, InlineFragmentNode):
            count += _aliases(selection.selection_set, fragments, visiting)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and selection.name.value not in visiting:
                count += _aliases(
                    fragment.selection_set, fragments, visiting | {selection.name.value}
                )
    return count


def _path_depth(path: Path | None) -> int:
    depth = 0
    while path is not None:
        depth += isinstance(path.key, str)
        path = path.prev
    return depth


def _resolver_fields(core: GraphQLSchema) -> frozenset[tuple[str, str]]:
    fields: set[tuple[str, str]] = set()
    roots = {t.name for t in (core.query_type, core.mutation_type, core.subscription_type) if t}
    for type_name, graphql_type in core.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if type_name in roots or getattr(definition, "base_resolver", None) is not None:
                fields.add((type_name, field_name))
    return frozenset(fields)


# --- the executor: resolver count, field-level depth, the 30 s timeout ------------------


def _limited_executor(
    settings: LimitSettings, resolver_fields: Callable[[GraphQLSchema], frozenset[tuple[str, str]]]
) -> type[StrawberryGraphQLCoreExecutionContext]:
    # Called for every field: the plain function, not `super()` (one object less per call).
    execute_field = StrawberryGraphQLCoreExecutionContext.execute_field
    resolver_limit = settings.resolver_limit
    depth_limit = settings.query_depth_limit if settings.depth_errors == "field" else 0

    class LimitedExecutionContext(StrawberryGraphQLCoreExecutionContext):
        """Counts resolvers and bounds each root field by one per-request deadline.

        A root field still running at the deadline is cancelled and becomes null with
        `ExecutionTimeout` (nulls propagate per GraphQL rules); fields already complete
        keep their data. Root fields of a mutation not yet started are not started.
        A resolver blocking the event loop cannot be interrupted.
        """

        timeout_seconds: ClassVar[float] = settings.execution_timeout

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline = time.monotonic() + self.timeout_seconds
            self._counted = resolver_fields(self.schema)
            self._count = 0
            self._exceeded = False
            self._too_deep = bool(depth_limit) and (
                _depth(self.operation.selection_set, self.fragment_definitions, {}, frozenset())
                > depth_limit
            )

        def execute_field(
            self,
            parent_type: GraphQLObjectType,
            source: Any,
            field_details_list: Any,
            path: Path,
            position_context: Any,
        ) -> Any:
            if (parent_type.name, field_details_list[0].node.name.value) in self._counted:
                self._count += 1
                if self._count > resolver_limit:
                    self._exceeded = True
                    error = AppSyncError(resolvers_exceeded(resolver_limit), None)
                    return self._field_error(error, parent_type, field_details_list, path)
            if self._too_deep and (depth := _path_depth(path)) > depth_limit:
                error = AppSyncError(depth_exceeded(depth, depth_limit), None)
                return self._field_error(error, parent_type, field_details_list, path)
            if path.prev is not None:
                return execute_field(
                    self, parent_type, source, field_details_list, path, position_context
                )
            if self._deadline <= time.monotonic():
                return self._timed_out(parent_type, field_details_list, path)
            result = execute_field(
                self, parent_type, source, field_details_list, path, position_context
            )
            if not self.is_awaitable(result):
                return result
            return self._bounded(result, parent_type, field_details_list, path)

        def build_response(self, data: dict[str, Any] | None) -> Any:
            response = super().build_response(data)
            if not self._exceeded:
                return response
            # A limit error, not partial data: nothing that ran is returned.
            return ExecutionResult(None, [GraphQLError(resolvers_exceeded(resolver_limit))])

        async def _bounded(
            self,
            awaitable: Awaitable[Any],
            parent_type: GraphQLObjectType,
            field_details_list: Any,
            path: Path,
        ) -> Any:
            timeout = asyncio.timeout(max(self._deadline - time.monotonic(), 0.0))
            try:
                async with timeout:
                    return await awaitable
            except TimeoutError:
                if not timeout.expired():
                    raise
                return self._timed_out(parent_type, field_details_list, path)

        def _timed_out(
            self, parent_type: GraphQLObjectType, field_details_list: Any, path: Path
        ) -> Any:
            error = AppSyncError(EXECUTION_TIMED_OUT, EXECUTION_TIMEOUT)
            return self._field_error(error, parent_type, field_details_list, path)

        def _field_error(
            self,
            error: Exception,
            parent_type: GraphQLObjectType,
            field_details_list: Any,
            path: Path,
        ) -> Any:
            field = parent_type.fields.get(field_details_list[0].node.name.value)
            if field is None:
                return Undefined
            self.handle_field_error(error, field.type, field_details_list, path)
            return None

    return LimitedExecutionContext


# --- per-caller rate limit ---------------------------------------------------------------


class RateLimiterUnavailableError(Exception):
    """The shared buckets could not be reached; `RateLimiter` then lets requests through."""


class RateLimitExceededError(RequestError):
    """The caller spent its token bucket; AppSync would leave this to WAF (our choice)."""

    status_code = 429
    error_type = "LimitExceededException"
    default_message = "Rate limit exceeded"

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = retry_after  # seconds; the edge may send it as Retry-After


@frozen.record
class RateDecision:
    allowed: bool
    retry_after: float  # seconds until one token is back; 0 when allowed


class TokenBuckets(Protocol):
    """Token buckets by key: take one token, or say when one will be back."""

    async def take(self, key: str, *, rate: float, burst: int) -> RateDecision: ...


def rate_limit_key(caller: Caller) -> str:
    """The caller's bucket: its principal (per API key, user, IAM ARN or Lambda token), else
    a digest of its client IP. Opaque either way: no PII in Redis keys."""
    if caller.principal:
        return caller.principal
    return hashlib.sha256(f"ip|{caller.source_ip}".encode()).hexdigest()[:32]


class RateLimiter:
    """`rate` tokens per second per key, bursts up to `burst`; call `check` per request."""

    def __init__(self, buckets: TokenBuckets, *, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._buckets = buckets
        self.rate = rate
        self.burst = burst

    async def allow(self, key: str) -> RateDecision:
        try:
            return await self._buckets.take(key, rate=self.rate, burst=self.burst)
        except RateLimiterUnavailableError:
            # A limiter outage must not take the API down with it: fail open, loudly.
            logger.warning("rate limiter unavailable; request let through", exc_info=True)
            return RateDecision(True, 0.0)

    async def check(self, key: str) -> None:
        """Raise `RateLimitExceededError` (HTTP 429) when `key` has no token left."""
        decision = await self.allow(key)
        if not decision.allowed:
            raise RateLimitExceededError(decision.retry_after)


class InMemoryTokenBuckets:
    """Buckets in this process (one node); the least recently used are dropped past `max_keys`."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def take(self, key: str, *, rate: float, burst: int) -> RateDecision:
        now = self._clock()
        tokens, updated = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + max(now - updated, 0.0) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return RateDecision(allowed, 0.0 if allowed else (1.0 - tokens) / rate)


# Atomic refill-and-take on a hash {tokens, ts}; the clock is the server's (one clock for
# every node). Floats travel as strings: Redis truncates Lua numbers to integers.
_TAKE_SCRIPT: Final = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""


class RedisTokenBuckets:
    """Buckets shared by every node, in Redis; one atomic script call per request."""

    def __init__(self, client: Redis, *, prefix: str = "cg:rate:") -> None:
        # Imported with the client, not with this module: a deployment without Redis (the
        # Lambda handler) never loads redis (cold start, docs/performance.md).
        from redis.exceptions import RedisError

        self._failure = RedisError
        self._prefix = prefix
        self._script = client.register_script(_TAKE_SCRIPT)

    async def take(self, key: str, *, rate: float, burst: int) -> RateDecision:
        try:
            allowed, retry = await self._script(keys=[self._prefix + key], args=[rate, burst])
        except self._failure as exc:
            raise RateLimiterUnavailableError(f"rate limiter: {exc}") from exc
        return RateDecision(bool(allowed), float(retry))
