"""The subscription engine: who is subscribed to what, and what each one receives.

`Realtime` is shared by the realtime WebSocket endpoints (protocol.py, transport_ws.py) and
by every execution of the schema:

- `subscribe` (a `start` message) parses and validates the document against the schema,
  requires one subscription root field, checks that field's auth directives for the
  subscription's caller (appsync/authz.py, as at subscribe time on AppSync), reads its
  `@aws_subscribe` mutations, turns the arguments into equality filters and runs the
  field's hook (AppSync's subscription resolver) for enhanced and invalidation filters.
- The publish hook: `Realtime` is also a schema extension factory. After any execution of a
  mutation (the HTTP endpoint, or `schema.execute` in process, e.g. an event relay calling
  `publishStockChanged`), every root field that some `@aws_subscribe` lists and that
  returned an object is published to the broker on the channel named after the field, as
  the caller selected it (projection.py). Results executed elsewhere can be published with
  `publish_result(document, data)`.
- Each worker listens to the broker once (all subscribed mutation channels) and fans out
  to its own subscribers: equality filters, then enhanced filters, then the subscriber's
  selection (projection.py), then the connection's sink.
- `invalidate_subscriptions(field, payload)` (AppSync's `extensions.invalidateSubscriptions`)
  completes, on every worker, the subscriptions of `field` whose invalidation filter
  matches `payload`; `invalidators` run it declaratively after a mutation.

Semantics are APPSYNC.md §5.4: arguments filter on the payload's top-level field of the
same name (AND; omitted arguments do not filter; an explicit null matches null); a payload
without that field (the mutation did not select it) is not delivered.

Enhanced filters have two sources, AND-ed: the server-side hook per subscription field
(`hooks={"onX": hook}`), which is where AppSync sets them (`setSubscriptionFilter` in the
subscription resolver), and, when `client_filters` is on, a filter JSON the client sends
as `payload.extensions.filter` of `start` (our extension; AppSync has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Protocol

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLID,
    OperationDefinitionNode,
    OperationType,
    ValidationRule,
    get_named_type,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
    value_from_ast_untyped,
)
from graphql.execution.values import get_variable_values
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension

from appsync.authz import UNAUTHORIZED, CallerLike, FieldAuthorization
from appsync.errors import (
    INTERNAL_FAILURE,
    INTERNAL_FAILURE_MESSAGE,
    AppSyncError,
    format_error,
)
from appsync.limits import fragments_of
from appsync.realtime.broker import Broker
from appsync.realtime.filters import FilterError, SubscriptionFilter, parse_filter
from appsync.realtime.projection import FieldOutcomes, Projector, root_fields, selected_fields
from datasources import frozen
from schema.directives import AwsSubscribe

__all__ = [
    "INVALID_OUTPUT_TYPE",
    "Invalidation",
    "Invalidator",
    "Realtime",
    "SchemaError",
    "Sink",
    "SubscribeError",
    "SubscribeHook",
    "SubscribeRequest",
    "Subscription",
    "SubscriptionFilters",
    "UnsupportedOperationError",
]

logger = logging.getLogger(__name__)

INVALID_OUTPUT_TYPE: Final = "The subscription has an invalid output type."
INVALIDATE_CHANNEL: Final = "__invalidate"  # `__` names are reserved in GraphQL: no clash
MAX_INVALIDATIONS_PER_REQUEST: Final = 5  # AppSync: invalidateSubscriptions per request
FILTER_ERROR_CODE: Final = 400


@frozen.record
class SubscribeRequest:
    """What a subscription field's hook sees (AppSync's subscription resolver context)."""

    field_name: str
    arguments: Mapping[str, Any]  # as sent, JSON values; omitted arguments absent
    caller: CallerLike


@frozen.record
class SubscriptionFilters:
    """A hook's answer: `setSubscriptionFilter` / `setSubscriptionInvalidationFilter` JSON."""

    filter: Mapping[str, Any] | None = None
    invalidation_filter: Mapping[str, Any] | None = None


# Raise AppSyncError to refuse the subscription (the client gets `error`, no `start_ack`).
SubscribeHook = Callable[[SubscribeRequest], Awaitable[SubscriptionFilters | None]]


@frozen.record
class Invalidation:
    """`extensions.invalidateSubscriptions({subscriptionField, payload})`."""

    subscription_field: str
    payload: Mapping[str, Any]


# Mutation field -> what its (selected) result invalidates.
Invalidator = Callable[[Mapping[str, Any]], Iterable[Invalidation]]


class Sink(Protocol):
    """Where a connection receives its subscriptions' messages; must not block."""

    def deliver(self, subscription_id: str, payload: dict[str, Any]) -> None: ...
    def invalidated(self, subscription_id: str) -> None: ...


class SubscribeError(Exception):
    """`start` refused: `errors` are AppSync error entries for the `error` message."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", "") if errors else "")
        self.errors = errors


class UnsupportedOperationError(SubscribeError):
    """A query or mutation sent to the realtime channel."""

    MESSAGE: Final = "Operation not supported through the realtime channel"

    def __init__(self) -> None:
        super().__init__([{"errorType": "UnsupportedOperation", "message": self.MESSAGE}])


@dataclass(eq=False)
class Subscription:
    """One live subscription on one connection."""

    id: str
    sink: Sink
    field_name: str
    mutations: frozenset[str]
    document: DocumentNode
    operation_name: str | None
    variables: Mapping[str, Any]
    equality: Mapping[str, Any]
    filters: tuple[SubscriptionFilter, ...]
    invalidation: SubscriptionFilter | None
    outcomes: FieldOutcomes = field(repr=False)
    # Subscribers with equal keys get the same projection of an event, computed once per
    # event: the same document, operation, variables, field and field-level outcomes.
    projection_key: Hashable | None = field(default=None, repr=False)

    def accepts(self, payload: Mapping[str, Any]) -> bool:
        for name, wanted in self.equality.items():
            if name not in payload or not _same(payload[name], wanted):
                return False
        return all(f.matches(payload) for f in self.filters)


@frozen.record
class _Field:
    name: str
    mutations: tuple[str, ...]
    id_arguments: frozenset[str]  # compared as strings, as IDs serialize


class Realtime:
    """The engine; also the schema extension factory of the publish hook.

    Build it before the schema, pass it in the schema's extensions, call `prepare(schema)`,
    and `aclose()` at shutdown (stops the broker listener).
    """

    def __init__(
        self,
        broker: Broker,
        *,
        authorization: FieldAuthorization,
        validation_rules: Sequence[type[ValidationRule]] = (),
        hooks: Mapping[str, SubscribeHook] | None = None,
        invalidators: Mapping[str, Invalidator] | None = None,
        client_filters: bool = True,
    ) -> None:
        self.broker = broker
        self._authorization = authorization
        self._rules = (*specified_rules, *validation_rules)
        self._hooks = dict(hooks or {})
        self._invalidators = dict(invalidators or {})
        self._client_filters = client_filters
        self._schema: strawberry.Schema | None = None
        self._projector: Projector | None = None
        self._fields: dict[str, _Field] = {}
        self._subscribed: frozenset[str] = frozenset()
        self._by_mutation: dict[str, set[Subscription]] = {}
        self._by_field: dict[str, set[Subscription]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._listening: asyncio.Future[None] | None = None
        self._start_lock = asyncio.Lock()

    # --- set-up ------------------------------------------------------------------------

    def __call__(self) -> SchemaExtension:
        return _PublishExtension(self)

    def prepare(self, schema: strawberry.Schema) -> None:
        """Read every `@aws_subscribe` and check it (`SchemaError` lists the problems)."""
        self._fields = subscription_fields(schema)
        # Read after every executed operation (publish_result): built once here.
        self._subscribed = frozenset(m for f in self._fields.values() for m in f.mutations)
        self._schema = schema
        self._projector = Projector(schema._schema)

    @property
    def subscribed_mutations(self) -> frozenset[str]:
        return self._subscribed

    @property
    def active(self) -> int:
        """Live subscriptions on this worker."""
        return sum(len(subs) for subs in self._by_field.values())

    async def aclose(self) -> None:
        listener, self._listener, self._listening = self._listener, None, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    # --- subscribing ---------------------------------------------------------------------

    async def subscribe(
        self,
        subscription_id: str,
        sink: Sink,
        *,
        caller: CallerLike,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        client_filter: Any = None,
    ) -> Subscription:
        """Register one subscription; `SubscribeError` when it is refused."""
        schema, projector = self._prepared()
        core = schema._schema
        try:
            document = parse(query)
        except GraphQLError as error:
            raise SubscribeError(projector.format_errors([error], None)) from None
        errors = validate(core, document, self._rules)
        if errors:
            raise SubscribeError(projector.format_errors(errors, document))
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise SubscribeError([_request_error(_no_operation(document, operation_name))])
        if operation.operation is not OperationType.SUBSCRIPTION:
            raise UnsupportedOperationError()
        raw_variables = dict(variables or {})
        coerced = get_variable_values(core, operation.variable_definitions or (), raw_variables)
        if isinstance(coerced, list):
            raise SubscribeError(projector.format_errors(coerced, document))
        fragments = fragments_of(document)
        node = root_fields(operation, fragments)[0]  # validation: exactly one
        spec = self._fields[node.name.value]
        refusal = self._authorization.check(schema, caller, "Subscription", spec.name)
        if refusal is not None:
            raise SubscribeError([_field_error(AppSyncError(refusal, UNAUTHORIZED), node)])
        arguments = _arguments(node, raw_variables, spec)
        filters, invalidation = await self._filters(spec, node, arguments, caller, client_filter)
        await self._listen()
        outcomes = self._authorization.outcomes(schema, caller)
        subscription = Subscription(
            id=subscription_id,
            sink=sink,
            field_name=spec.name,
            mutations=frozenset(spec.mutations),
            document=document,
            operation_name=operation_name,
            variables=raw_variables,
            equality=arguments,
            filters=filters,
            invalidation=invalidation,
            outcomes=outcomes,
            projection_key=_projection_key(
                query, operation_name, raw_variables, spec.name, outcomes
            ),
        )
        self._by_field.setdefault(spec.name, set()).add(subscription)
        for mutation in spec.mutations:
            self._by_mutation.setdefault(mutation, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget `subscription` (idempotent)."""
        self._by_field.get(subscription.field_name, set()).discard(subscription)
        for mutation in subscription.mutations:
            self._by_mutation.get(mutation, set()).discard(subscription)

    async def _filters(
        self,
        spec: _Field,
        node: FieldNode,
        arguments: Mapping[str, Any],
        caller: CallerLike,
        client_filter: Any,
    ) -> tuple[tuple[SubscriptionFilter, ...], SubscriptionFilter | None]:
        filters: list[SubscriptionFilter] = []
        invalidation = None
        try:
            hook = self._hooks.get(spec.name)
            answer = await hook(SubscribeRequest(spec.name, arguments, caller)) if hook else None
            if answer is not None and answer.filter is not None:
                filters.append(parse_filter(answer.filter))
            if answer is not None and answer.invalidation_filter is not None:
                invalidation = parse_filter(answer.invalidation_filter)
            if client_filter is not None:
                if not self._client_filters:
                    raise FilterError("Client-side subscription filters are not enabled.")
                filters.append(parse_filter(client_filter))
        except AppSyncError as error:
            raise SubscribeError([_field_error(error, node)]) from None
        except FilterError as error:
            entry = {"errorType": "BadRequestException", "message": str(error)}
            raise SubscribeError([{**entry, "errorCode": FILTER_ERROR_CODE}]) from None
        return tuple(filters), invalidation

    # --- publishing ----------------------------------------------------------------------

    async def publish_result(
        self,
        document: DocumentNode | str,
        data: Mapping[str, Any] | None,
        *,
        operation_name: str | None = None,
    ) -> int:
        """Publish a mutation's result (`data` of its response); the number of events.

        Called by the publish hook after every execution; call it yourself for results the
        schema's extensions did not see. Broker failures are logged, never raised: the
        mutation has happened.
        """
        if data is None or not self._fields:
            return 0
        if isinstance(document, str):
            document = parse(document)
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.MUTATION:
            return 0
        fragments = fragments_of(document)
        subscribed = self.subscribed_mutations
        published = 0
        invalidations: list[Invalidation] = []
        for node in root_fields(operation, fragments):
            name = node.name.value
            value = data.get(node.alias.value if node.alias else name)
            if not isinstance(value, Mapping) or (
                name not in subscribed and name not in self._invalidators
            ):
                continue
            payload = selected_fields(value, node.selection_set, fragments)
            if name in subscribed and await self._publish(name, payload):
                published += 1
            if (invalidator := self._invalidators.get(name)) is not None:
                invalidations.extend(invalidator(payload))
        for invalidation in _distinct(invalidations)[:MAX_INVALIDATIONS_PER_REQUEST]:
            await self.invalidate_subscriptions(
                invalidation.subscription_field, invalidation.payload
            )
        return published

    async def invalidate_subscriptions(
        self, subscription_field: str, payload: Mapping[str, Any]
    ) -> None:
        """Complete, on every worker, `subscription_field`'s subscriptions whose
        invalidation filter matches `payload`."""
        await self._publish(INVALIDATE_CHANNEL, {"field": subscription_field, "payload": payload})

    async def _publish(self, channel: str, payload: Any) -> bool:
        try:
            await self.broker.publish(channel, orjson.dumps(payload, default=_json_default))
        except Exception:
            logger.exception("publishing to the realtime channel %s failed", channel)
            return False
        return True

    # --- fan-out -------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Start this worker's broker listener once; return when it is live."""
        async with self._start_lock:
            if self._listening is None:
                self._listening = asyncio.get_running_loop().create_future()
                self._listener = asyncio.create_task(self._run_listener(self._listening))
            listening = self._listening
        try:
            await asyncio.shield(listening)
        except Exception:
            logger.exception("the realtime broker is unreachable")
            entry = {"errorType": INTERNAL_FAILURE, "message": INTERNAL_FAILURE_MESSAGE}
            raise SubscribeError([entry]) from None

    async def _run_listener(self, listening: asyncio.Future[None]) -> None:
        channels = (*sorted(self.subscribed_mutations), INVALIDATE_CHANNEL)
        while True:
            try:
                async with self.broker.subscribe(*channels) as messages:
                    if not listening.done():
                        listening.set_result(None)
                    async for channel, message in messages:
                        self._dispatch(channel, message)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not listening.done():  # the first subscription fails; the next retries
                    listening.set_exception(error)
                    listening.exception()  # retrieved: no "never retrieved" warning
                    self._listening = None
                    return
                logger.exception("the realtime broker listener failed; reconnecting")
                await asyncio.sleep(1.0)

    def _dispatch(self, channel: str, message: bytes) -> None:
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError:
            logger.warning("ignoring a malformed realtime message on %s", channel)
            return
        if channel == INVALIDATE_CHANNEL:
            self._invalidate(event)
            return
        if not isinstance(event, dict):
            return
        _, projector = self._prepared()
        # Heads subscribe with the same few documents (Amplify's generated ones): project the
        # event once per distinct subscription shape, not once per subscriber (bench.fanout:
        # 145 us per projection, 73 % of the fan-out's CPU at 1,000 subscribers).
        projected: dict[Hashable, dict[str, Any]] = {}
        for subscription in list(self._by_mutation.get(channel, ())):
            if not subscription.accepts(event):
                continue
            key = subscription.projection_key
            body = projected.get(key) if key is not None else None
            if body is None:
                try:
                    body = projector.project(
                        subscription.document,
                        subscription.operation_name,
                        subscription.variables,
                        subscription.field_name,
                        event,
                        subscription.outcomes,
                    )
                except Exception:
                    logger.exception("projecting a %s event failed", channel)
                    continue
                if key is not None:
                    projected[key] = body
            subscription.sink.deliver(subscription.id, body)

    def _invalidate(self, event: Any) -> None:
        if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
            return
        for subscription in list(self._by_field.get(str(event.get("field")), ())):
            if subscription.invalidation and subscription.invalidation.matches(event["payload"]):
                self.unsubscribe(subscription)
                subscription.sink.invalidated(subscription.id)

    def _prepared(self) -> tuple[strawberry.Schema, Projector]:
        if self._schema is None or self._projector is None:
            raise RuntimeError("call Realtime.prepare(schema) before serving subscriptions")
        return self._schema, self._projector


def _projection_key(
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any],
    field_name: str,
    outcomes: FieldOutcomes,
) -> Hashable | None:
    """What decides a subscriber's projection of an event (None: do not share it)."""
    try:
        frozen_variables = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        frozen_outcomes = tuple(sorted((k, repr(v)) for k, v in outcomes.items()))
    except (TypeError, orjson.JSONEncodeError):
        return None
    return (query, operation_name, frozen_variables, field_name, frozen_outcomes)


class SchemaError(ValueError):
    """`@aws_subscribe` names a missing mutation or one of another return type."""


def subscription_fields(schema: strawberry.Schema) -> dict[str, _Field]:
    """Every Subscription field and its `@aws_subscribe` mutations, checked as AppSync
    checks them (a different return type is `The subscription has an invalid output type.`)."""
    core = schema._schema
    subscription_type, mutation_type = core.subscription_type, core.mutation_type
    if subscription_type is None:
        return {}
    problems: list[str] = []
    fields: dict[str, _Field] = {}
    for name, graphql_field in subscription_type.fields.items():
        mutations: list[str] = []
        for directive in _directives(graphql_field.extensions):
            if isinstance(directive, AwsSubscribe):
                mutations.extend(m for m in directive.mutations or () if m)
        for mutation in mutations:
            target = mutation_type.fields.get(mutation) if mutation_type else None
            if target is None:
                problems.append(f"Subscription.{name}: @aws_subscribe names no mutation {mutation}")
            elif str(target.type) != str(graphql_field.type):
                problems.append(f"Subscription.{name} ({mutation}): {INVALID_OUTPUT_TYPE}")
        ids = frozenset(
            arg for arg, definition in graphql_field.args.items()
            if get_named_type(definition.type) is GraphQLID
        )  # fmt: skip
        fields[name] = _Field(name, tuple(mutations), ids)
    if problems:
        raise SchemaError("; ".join(problems))
    return fields


class _PublishExtension(SchemaExtension):
    def __init__(self, realtime: Realtime) -> None:
        super().__init__()
        self._realtime = realtime

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        execution = self.execution_context
        result = execution.result
        document = execution.graphql_document
        if not isinstance(result, ExecutionResult) or result.data is None or document is None:
            return
        await self._realtime.publish_result(
            document, result.data, operation_name=execution.operation_name
        )


# --- helpers -------------------------------------------------------------------------------


def _directives(extensions: Mapping[str, Any] | None) -> list[object]:
    definition = (extensions or {}).get("strawberry-definition")
    return list(getattr(definition, "directives", None) or ())


def _arguments(node: FieldNode, variables: Mapping[str, Any], spec: _Field) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for argument in node.arguments or ():
        value = value_from_ast_untyped(argument.value, dict(variables))
        if value is Undefined:  # an unset variable: the argument was not given
            continue
        name = argument.name.value
        if name in spec.id_arguments and value is not None:
            value = str(value)
        arguments[name] = value
    return arguments


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(found, bool) or isinstance(wanted, bool):
        return isinstance(found, bool) and isinstance(wanted, bool) and found == wanted
    return bool(found == wanted)


def _field_error(error: AppSyncError, node: FieldNode) -> dict[str, Any]:
    return format_error(
        GraphQLError(error.message, nodes=node, path=[node.name.value], original_error=error)
    )


def _request_error(message: str) -> dict[str, Any]:
    return format_error(GraphQLError(message))


def _no_operation(document: DocumentNode, operation_name: str | None) -> str:
    if operation_name is not None:
        return f"Unknown operation named '{operation_name}'."
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > 1:
        return "Must provide operation name if query contains multiple operations."
    return "Must provide an operation."


def _distinct(invalidations: list[Invalidation]) -> list[Invalidation]:
    seen: set[bytes] = set()
    out: list[Invalidation] = []
    for invalidation in invalidations:
        key = orjson.dumps(
            [invalidation.subscription_field, invalidation.payload],
            option=orjson.OPT_SORT_KEYS,
            default=_json_default,
        )
        if key not in seen:
            seen.add(key)
            out.append(invalidation)
    if len(out) > MAX_INVALIDATIONS_PER_REQUEST:
        logger.warning(
            "%d invalidations in one request; AppSync allows %d: the rest are dropped",
            len(out),
            MAX_INVALIDATIONS_PER_REQUEST,
        )
    return out


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
