"""The graph behind AppSync Direct Lambda resolvers (APPSYNC.md §4), in process.

Deployed behind a real AppSync API, only the root fields (`Query.*`, `Mutation.*`) get a
Direct Lambda resolver; this handler runs the field's whole selection set against the same
Strawberry schema the HTTP server serves, so nested fields need no AppSync resolvers.

For one event (§4.1) the operation is rebuilt from the event::

    {parentTypeName lowercased} (<root arguments and info.variables as variables>) {
      fieldName(arg: $arg...) <info.selectionSetGraphQL>
    }

The root arguments (already substituted by AppSync) travel as variables typed from the
schema's field definition, so enums and input objects need no literal printing; variables the
selection set uses (`info.variables`) are declared with the type of the position they are used
in. The event's `identity` (§4.2) and `request.headers` become the request's `Caller`, so field
authorization (`FieldAuthorization`) and the domain's `Actor` see what the HTTP edge would.

Return value (§4.3): the field's value, `data[fieldName]`. Errors (§3.5): a Lambda either
returns a value or fails, so any GraphQL error makes the invocation fail with
`LambdaResolverError` (message and errorType of the first error, every entry in `.errors`);
`handler` re-raises it as an exception *class named after the errorType*, since the Lambda
runtime reports `type(exc).__name__` as `errorType` and Direct Lambda resolvers are reported to
pass it through (`error_types="exception"`), or as `Lambda:Unhandled` (`error_types="unhandled"`;
setting `CG_LAMBDA_ERROR_TYPES`).
Partial data under the root field is therefore not returned: the whole field fails.

BatchInvoke (§4.4): a list of events runs concurrently with ONE context (one set of
DataLoaders) per identity, so N `Query.product` events cost what one does: one BatchGetItem
per loader. The answer is a list in event order, each item `{data, errorMessage, errorType,
errorInfo}` (errorMessage null on success).

Sources are opened once per container, lazily, on the event loop `handler` keeps across
invocations.
"""

from __future__ import annotations

import gc

# A cold start allocates a few hundred thousand objects (modules, the schema's types) and frees
# almost none, yet the collector walks them ~135 times during this module's import: ~40 ms of
# it (docs/performance.md). It is paused until the end of this module; what exists then lives
# as long as the container, so it is frozen out of later collections.
_collecting = gc.isenabled()
gc.disable()

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import field
from functools import lru_cache
from typing import Any, ClassVar, Final, Literal

import orjson
from graphql import (
    DefinitionNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    TypeNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    parse,
    print_ast,
    visit,
)
from graphql.language import ArgumentNode, ListTypeNode, NonNullTypeNode
from strawberry import Schema

from appsync.auth.actor import actor_of
from appsync.auth.identity import Caller, opaque_principal
from appsync.auth.modes import AuthMode
from appsync.authz import FieldAuthorization
from appsync.errors import INTERNAL_FAILURE, format_error
from appsync.limits import Limits
from appsync.settings import EdgeSettings
from datasources import frozen
from datasources.build import ConnectorSettings, Sources, open_sources
from datasources.envsettings import EnvSettings
from datasources.settings import Settings
from resolvers.context import Context, build_context
from schema import build_schema

__all__ = [
    "LAMBDA_UNHANDLED",
    "BadEventError",
    "LambdaResolver",
    "LambdaResolverError",
    "caller_from_event",
    "handler",
    "operation_from_event",
]

log = logging.getLogger(__name__)

LAMBDA_UNHANDLED: Final = "Lambda:Unhandled"
BAD_EVENT: Final = "BadEvent"
_ROOTS: Final = {"Query": OperationType.QUERY, "Mutation": OperationType.MUTATION}
_ARG_PREFIX: Final = "lambdaArg_"

Event = Mapping[str, Any]


class LambdaResolverError(Exception):
    """The field failed: what a Lambda that throws reports to AppSync (§3.5)."""

    def __init__(
        self,
        message: str,
        error_type: str | None,
        *,
        data: Any = None,
        error_info: Any = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.error_info = error_info
        self.errors = list(errors)

    def envelope(self) -> dict[str, Any]:
        """The "returning individual errors" item of a BatchInvoke answer (§3.5, §4.4)."""
        return {
            "data": self.data,
            "errorMessage": self.message,
            "errorType": self.error_type,
            "errorInfo": self.error_info,
        }

    def for_runtime(self, error_types: Literal["exception", "unhandled"]) -> Exception:
        """An exception whose class name is the errorType the Lambda runtime will report."""
        name = LAMBDA_UNHANDLED if error_types == "unhandled" else self.error_type
        if not name:
            return self
        named: type[LambdaResolverError] = type(
            name, (LambdaResolverError,), {"__module__": __name__}
        )
        return named(
            self.message,
            self.error_type,
            data=self.data,
            error_info=self.error_info,
            errors=self.errors,
        )


class BadEventError(LambdaResolverError):
    """The event is not an AppSync resolver event this handler can run."""

    def __init__(self, message: str) -> None:
        super().__init__(message, BAD_EVENT)


# --- identity ----------------------------------------------------------------------------


def _mode_of(identity: Mapping[str, Any] | None) -> AuthMode:
    """The auth mode that produced an AppSync `identity` (§4.2: each mode has its own shape)."""
    if identity is None:
        return AuthMode.API_KEY
    if "resolverContext" in identity:
        return AuthMode.AWS_LAMBDA
    if "userArn" in identity or "accountId" in identity:
        return AuthMode.AWS_IAM
    if "defaultAuthStrategy" in identity or "username" in identity or "groups" in identity:
        return AuthMode.AMAZON_COGNITO_USER_POOLS
    return AuthMode.OPENID_CONNECT


def caller_from_event(event: Event) -> Caller:
    """The `Caller` of the client request behind the event: its identity and headers."""
    identity = event.get("identity")
    if identity is not None and not isinstance(identity, Mapping):
        raise BadEventError("identity must be an object or null")
    request = event.get("request") or {}
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    mode = _mode_of(identity)
    source_ips = (identity or {}).get("sourceIp") or []
    source_ip = source_ips[0] if source_ips else None
    if source_ip is None and headers.get("x-forwarded-for"):
        source_ip = headers["x-forwarded-for"].split(",")[0].strip()
    groups = (identity or {}).get("groups") if mode is AuthMode.AMAZON_COGNITO_USER_POOLS else None
    return Caller(
        mode=mode,
        identity=None if identity is None else dict(identity),
        groups=frozenset(groups or ()),
        source_ip=source_ip,
        principal=_principal(mode, identity),
        headers=headers,
    )


def _principal(mode: AuthMode, identity: Mapping[str, Any] | None) -> str:
    """As `Caller.principal` is built on the HTTP edge: stable per principal, no PII."""
    if identity is None:
        return opaque_principal(mode, "lambda-event")
    match mode:
        case AuthMode.AWS_IAM:
            return opaque_principal(mode, str(identity.get("userArn")))
        case AuthMode.AWS_LAMBDA:
            context = orjson.dumps(identity, option=orjson.OPT_SORT_KEYS).decode()
            return opaque_principal(mode, context)
        case _:
            return opaque_principal(mode, str(identity.get("issuer")), str(identity.get("sub")))


# --- the operation -----------------------------------------------------------------------


@frozen.record
class Operation:
    """One event as a GraphQL request against the schema."""

    field_name: str
    document: str
    variables: dict[str, Any] = field(default_factory=dict)


def operation_from_event(schema: Schema, event: Event) -> Operation:
    """`{parentTypeName lowercased} ($vars) { fieldName(args) <selectionSetGraphQL> }`."""
    if not isinstance(event, Mapping):
        raise BadEventError("an AppSync resolver event is a JSON object")
    info = event.get("info") or {}
    parent = info.get("parentTypeName", event.get("typeName"))
    field_name = info.get("fieldName", event.get("fieldName"))
    if parent not in _ROOTS or not isinstance(field_name, str):
        raise BadEventError(
            f"only root fields (Query.*, Mutation.*) resolve here, not {parent}.{field_name}"
        )
    arguments = event.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise BadEventError("arguments must be an object")
    selection = str(info.get("selectionSetGraphQL") or "")
    template = _template(schema, parent, field_name, selection, tuple(arguments))
    variables = {
        variable: _encode_json_scalars(arguments[name], arg_type)
        for name, variable, arg_type in template.arguments
    }
    given = info.get("variables") or {}
    for variable, used_as in template.uses:
        variables[variable] = _encode_json_scalars(given.get(variable), used_as)
    return Operation(field_name, template.document, variables)


@frozen.record
class _Template:
    """An event's operation without its values: the same for every event of one field with
    one selection set and the same argument names, which is what AppSync sends a resolver."""

    document: str
    # (argument, its variable, the argument's type), in the event's order
    arguments: tuple[tuple[str, str, GraphQLInputType], ...]
    # (variable, the type where the selection set uses it): the selection set's own variables
    uses: tuple[tuple[str, GraphQLInputType], ...]


# Rebuilding the document (parse the selection set, type its variables with a TypeInfo walk,
# print) is most of what the handler adds to a warm event (docs/performance.md); the values
# travel as variables, so the document repeats. Bounded: a schema has a bounded set of root
# fields, and a client a bounded set of selection sets.
@lru_cache(maxsize=512)
def _template(
    schema: Schema, parent: str, field_name: str, selection_text: str, names: tuple[str, ...]
) -> _Template:
    root = schema._schema.get_type(parent)
    assert isinstance(root, GraphQLObjectType)
    definition = root.fields.get(field_name)
    if definition is None:
        raise BadEventError(f"{parent}.{field_name} is not in the schema")
    unknown = set(names) - set(definition.args)
    if unknown:
        raise BadEventError(f"{parent}.{field_name} has no argument {sorted(unknown)[0]}")

    selection, fragments = _selection(selection_text)
    arguments = tuple((name, f"{_ARG_PREFIX}{name}", definition.args[name].type) for name in names)
    definitions = [_variable_definition(variable, t) for _, variable, t in arguments]
    argument_nodes = tuple(
        ArgumentNode(name=NameNode(value=name), value=VariableNode(name=NameNode(value=variable)))
        for name, variable, _ in arguments
    )
    root_field = FieldNode(
        name=NameNode(value=field_name),
        arguments=argument_nodes,
        directives=(),
        selection_set=selection,
    )
    name = NameNode(value=f"Lambda_{parent}_{field_name}")
    selections = SelectionSetNode(selections=(root_field,))
    kind = _ROOTS[parent]
    draft = OperationDefinitionNode(
        operation=kind, name=name, variable_definitions=(), directives=(), selection_set=selections
    )
    # The selection set's own variables, typed by where they are used.
    uses = tuple(
        (variable, used_as)
        for variable, used_as in _variable_uses(
            schema, DocumentNode(definitions=(draft, *fragments))
        ).items()
        if not variable.startswith(_ARG_PREFIX)
    )
    definitions += [_variable_definition(variable, used_as) for variable, used_as in uses]
    operation = OperationDefinitionNode(
        operation=kind,
        name=name,
        variable_definitions=tuple(definitions),
        directives=(),
        selection_set=selections,
    )
    document = DocumentNode(definitions=(operation, *fragments))
    return _Template(print_ast(document), arguments, uses)


def _selection(text: str) -> tuple[SelectionSetNode | None, list[DefinitionNode]]:
    """The selection set, and any fragment definitions that follow it."""
    if not text.strip():
        return None, []
    try:
        parsed = parse(text, no_location=True)
    except GraphQLError as exc:
        raise BadEventError(f"info.selectionSetGraphQL does not parse: {exc.message}") from None
    first, *rest = parsed.definitions
    if not isinstance(first, OperationDefinitionNode) or not all(
        isinstance(d, FragmentDefinitionNode) for d in rest
    ):
        raise BadEventError("info.selectionSetGraphQL is not a selection set")
    return first.selection_set, list(rest)


class _VariableUses(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.uses: dict[str, GraphQLInputType] = {}

    def enter_variable(self, node: VariableNode, *_args: Any) -> None:
        used_as = self.type_info.get_input_type()
        if used_as is None:
            raise BadEventError(f"variable ${node.name.value} is used where no input goes")
        known = self.uses.get(node.name.value)
        # Used in several places: the non-null position is the stricter declaration.
        if known is None or isinstance(used_as, GraphQLNonNull):
            self.uses[node.name.value] = used_as


def _variable_uses(schema: Schema, document: DocumentNode) -> dict[str, GraphQLInputType]:
    type_info = TypeInfo(schema._schema)
    uses = _VariableUses(type_info)
    visit(document, TypeInfoVisitor(type_info, uses))
    return uses.uses


def _type_node(graphql_type: GraphQLInputType) -> TypeNode:
    if isinstance(graphql_type, GraphQLNonNull):
        inner = _type_node(graphql_type.of_type)
        assert isinstance(inner, NamedTypeNode | ListTypeNode)
        return NonNullTypeNode(type=inner)
    if isinstance(graphql_type, GraphQLList):
        return ListTypeNode(type=_type_node(graphql_type.of_type))
    named: GraphQLNamedType = graphql_type
    return NamedTypeNode(name=NameNode(value=named.name))


def _variable_definition(name: str, graphql_type: GraphQLInputType) -> VariableDefinitionNode:
    return VariableDefinitionNode(
        variable=VariableNode(name=NameNode(value=name)),
        type=_type_node(graphql_type),
        directives=(),
    )


def _encode_json_scalars(value: Any, graphql_type: GraphQLInputType) -> Any:
    """AppSync hands AWSJSON arguments parsed (§4.1); as variables they travel as strings."""
    if value is None:
        return None
    if isinstance(graphql_type, GraphQLNonNull):
        return _encode_json_scalars(value, graphql_type.of_type)
    if isinstance(graphql_type, GraphQLList):
        if isinstance(value, list):
            return [_encode_json_scalars(v, graphql_type.of_type) for v in value]
        return _encode_json_scalars(value, graphql_type.of_type)
    if isinstance(graphql_type, GraphQLInputObjectType) and isinstance(value, Mapping):
        fields = graphql_type.fields
        return {
            k: _encode_json_scalars(v, fields[k].type) if k in fields else v
            for k, v in value.items()
        }
    named = get_named_type(graphql_type)
    if isinstance(named, GraphQLScalarType) and named.name == "AWSJSON":
        return orjson.dumps(value).decode()
    return value


# --- the resolver ------------------------------------------------------------------------


class _DefaultMode(EnvSettings):
    env_prefix: ClassVar[str] = "CG_AUTH_"

    default_mode: AuthMode = AuthMode.API_KEY


class _HandlerSettings(EnvSettings):
    """`CG_LAMBDA_ERROR_TYPES`: the errorType a failed field reports (§3.5 is unsettled on
    what Direct Lambda resolvers pass through): `exception`, the exception class named after
    the GraphQL errorType, or `unhandled`, AppSync's `Lambda:Unhandled`."""

    env_prefix: ClassVar[str] = "CG_LAMBDA_"

    error_types: Literal["exception", "unhandled"] = "exception"


class LambdaResolver:
    """The schema, its edge pieces and the sources, for AppSync resolver events."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        edge_settings: EdgeSettings | None = None,
        connector_settings: ConnectorSettings | None = None,
        default_mode: AuthMode | str | None = None,
        sources: Sources | None = None,
        error_types: Literal["exception", "unhandled"] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        edge = edge_settings or EdgeSettings()
        self._connectors = connector_settings
        self.error_types: Literal["exception", "unhandled"] = (
            error_types or _HandlerSettings().error_types
        )
        # As create_app builds it, minus what has no meaning behind AppSync: realtime (AppSync
        # runs the subscriptions) and the API cache (AppSync caches in front of the Lambda).
        # The API's default mode decides who may read fields without an auth directive;
        # behind AppSync it is all the handler needs of the auth settings (AppSync
        # authenticates), so it is read alone: CG_AUTH_DEFAULT_MODE, as the server reads it.
        mode = default_mode or _DefaultMode().default_mode
        self.authorization = FieldAuthorization(default_mode=mode)
        self.limits = Limits(edge.limits())
        self.schema = build_schema(
            extensions=[self.limits, self.authorization],
            execution_context_class=self.limits.executor_class,
        )
        self.authorization.prepare(self.schema)
        self.limits.prepare(self.schema)
        self._sources = sources
        self._stack: AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    async def sources(self) -> Sources:
        """The sources, opened on first use and kept for the life of the container."""
        if self._sources is None:
            async with self._opening:
                if self._sources is None:
                    stack = AsyncExitStack()
                    connectors = self._connectors or ConnectorSettings()
                    self._sources = await stack.enter_async_context(
                        open_sources(self.settings, connectors.neptune, connectors=connectors)
                    )
                    self._stack = stack
        return self._sources

    async def aclose(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack, self._sources = None, None

    async def resolve(self, event_or_events: Event | Sequence[Event]) -> Any:
        """The field's value for one event (raises `LambdaResolverError` on failure); a list of
        `{data, errorMessage, errorType, errorInfo}` in order for a BatchInvoke list."""
        if isinstance(event_or_events, Sequence) and not isinstance(event_or_events, str):
            return await self.resolve_batch(list(event_or_events))
        sources = await self.sources()
        caller = caller_from_event(event_or_events)
        return await self._run(event_or_events, self._context(sources, caller))

    async def resolve_batch(self, events: Sequence[Event]) -> list[dict[str, Any]]:
        sources = await self.sources()
        contexts: dict[str, Context] = {}
        runs = []
        for event in events:
            try:
                caller = caller_from_event(event)
            except LambdaResolverError as exc:
                runs.append(_failed(exc))
                continue
            # One context, one set of DataLoaders, per identity (AppSync batches the sibling
            # fields of one request, so in practice there is one).
            context = contexts.get(caller.principal)
            if context is None:
                context = contexts[caller.principal] = self._context(sources, caller)
            runs.append(self._envelope(event, context))
        return list(await asyncio.gather(*runs))

    def _context(self, sources: Sources, caller: Caller) -> Context:
        return build_context(
            self.settings, sources, headers=caller.headers, caller=caller, actor=actor_of(caller)
        )

    async def _envelope(self, event: Event, context: Context) -> dict[str, Any]:
        try:
            value = await self._run(event, context)
        except LambdaResolverError as exc:
            return exc.envelope()
        return {"data": value, "errorMessage": None, "errorType": None, "errorInfo": None}

    async def _run(self, event: Event, context: Context) -> Any:
        operation = operation_from_event(self.schema, event)
        result = await self.schema.execute(
            operation.document, variable_values=operation.variables, context_value=context
        )
        data = result.data or {}
        if result.errors:
            entries = [format_error(error) for error in result.errors]
            first = entries[0]
            raise LambdaResolverError(
                str(first.get("message") or INTERNAL_FAILURE),
                first.get("errorType"),
                data=first.get("data"),
                error_info=first.get("errorInfo"),
                errors=entries,
            )
        return data.get(operation.field_name)


async def _failed(error: LambdaResolverError) -> dict[str, Any]:
    return error.envelope()


# --- the Lambda runtime's entry point ----------------------------------------------------

_resolver: LambdaResolver | None = None
_loop: asyncio.AbstractEventLoop | None = None


def handler(event: Any, context: Any = None) -> Any:
    """`commerce_graph` behind AppSync: the Lambda runtime calls this once per invocation.

    The resolver (schema, sources, connection pools) and the event loop live as long as the
    container: the first invocation builds them from the environment (CG_* settings).
    """
    global _resolver, _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    if _resolver is None:
        with _collector_paused():  # the schema build: the same allocations as the import
            _resolver = LambdaResolver()
    try:
        return _loop.run_until_complete(_resolver.resolve(event))
    except LambdaResolverError as exc:
        raise exc.for_runtime(_resolver.error_types) from None


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _resume_collector(enabled)


def _resume_collector(enabled: bool) -> None:
    """Re-enable the collector if it ran before, and keep what exists out of its passes."""
    if enabled:
        gc.enable()
    gc.freeze()


_resume_collector(_collecting)
