"""AppSync in front of Direct Lambda resolvers, as far as the conformance suite needs it.

For one client request (document, variables, the authenticated `Caller`), `AppSyncFront`
does what AppSync does with an API whose root fields each have a Direct Lambda resolver:

- builds, per root field, the event AppSync sends (APPSYNC.md §4.1): `arguments` with the
  variables substituted (AWSJSON arguments parsed), `identity` for the caller's auth mode
  (§4.2), `request.headers`, `info.selectionSetList` / `selectionSetGraphQL` /
  `parentTypeName` / `fieldName` / `variables`, `source`/`prev` null and an empty `stash`;
- invokes the handler: query fields concurrently, mutation fields one after another;
- turns a failed invocation into AppSync's error entry (§3.5, Direct Lambda: the runtime's
  `errorType`, which the handler sets to the exception class name, `errorInfo` null) at the
  root field's path and location, and a non-null root field's failure into `data: null`.

Request-level work (authentication, validation, limits) is the edge's in both runtimes and is
not simulated: documents given here must be valid.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    parse,
    print_ast,
    validate,
    value_from_ast_untyped,
)
from graphql.execution.values import get_directive_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective

from appsync.auth.identity import Caller
from appsync.lambda_handler import LambdaResolverError

Invoke = Callable[[dict[str, Any]], Awaitable[Any]]

APPSYNC_HOST = "abcdefghijklmnopqrstuvwxyz.appsync-api.us-east-1.amazonaws.com"


def _raw_variables(operation: OperationDefinitionNode, given: Mapping[str, Any]) -> dict[str, Any]:
    """The operation's variables as JSON, with the defaults of those not given."""
    values = dict(given)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _merged(nodes: Sequence[FieldNode]) -> SelectionSetNode | None:
    selections = [s for node in nodes if node.selection_set for s in node.selection_set.selections]
    return SelectionSetNode(selections=tuple(selections)) if selections else None


def selection_set_list(
    selection: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[str]:
    """`info.selectionSetList`: every selected field under the root field, nested ones as
    `a/b`, by response key (an alias replaces the name), fragments expanded."""
    paths: list[str] = []

    def walk(node: SelectionSetNode | None, prefix: str) -> None:
        for item in node.selections if node else ():
            if isinstance(item, FieldNode):
                key = (item.alias or item.name).value
                path = f"{prefix}{key}"
                if path not in paths:
                    paths.append(path)
                walk(item.selection_set, f"{path}/")
            elif isinstance(item, InlineFragmentNode):
                walk(item.selection_set, prefix)
            elif isinstance(item, FragmentSpreadNode):
                walk(fragments[item.name.value].selection_set, prefix)

    walk(selection, "")
    return paths


def selection_set_graphql(
    selection: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> str:
    """`info.selectionSetGraphQL`: the selection set as written (inline fragments kept), then
    the definitions of the named fragments it spreads."""
    if selection is None:
        return ""
    used: list[str] = []

    def spreads(node: SelectionSetNode | None) -> None:
        for item in node.selections if node else ():
            if isinstance(item, FragmentSpreadNode) and item.name.value not in used:
                used.append(item.name.value)
                spreads(fragments[item.name.value].selection_set)
            elif isinstance(item, FieldNode | InlineFragmentNode):
                spreads(item.selection_set)

    spreads(selection)
    return "\n\n".join([print_ast(selection), *(print_ast(fragments[n]) for n in used)])


def _arguments(
    node: FieldNode, definition_args: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The field's arguments after variable substitution; AWSJSON values parsed (§4.1)."""
    arguments: dict[str, Any] = {}
    for argument in node.arguments:
        value = value_from_ast_untyped(argument.value, variables)
        arg_type = get_named_type(definition_args[argument.name.value].type)
        if arg_type.name == "AWSJSON" and isinstance(value, str):
            value = json.loads(value)
        arguments[argument.name.value] = value
    return arguments


class AppSyncFront:
    """AppSync's side of the Direct Lambda resolvers of one API."""

    def __init__(self, schema: GraphQLSchema, invoke: Invoke, *, error_types: str) -> None:
        self.schema = schema
        self.invoke = invoke
        self.error_types = error_types
        self.events: list[dict[str, Any]] = []

    def events_for(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        caller: Caller,
        operation_name: str | None = None,
    ) -> tuple[OperationDefinitionNode, list[tuple[str, FieldNode, dict[str, Any]]]]:
        """The operation, and (response key, first field node, event) per root field."""
        document: DocumentNode = parse(query)
        problems = validate(self.schema, document)
        assert not problems, f"the edge answers invalid documents, not the resolvers: {problems}"
        operation = get_operation_ast(document, operation_name)
        assert operation is not None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        raw = _raw_variables(operation, variables or {})
        root = self.schema.get_root_type(operation.operation)
        assert isinstance(root, GraphQLObjectType)
        fields = _root_fields(operation.selection_set, fragments, raw)
        planned = []
        for key, nodes in fields.items():
            node = nodes[0]
            definition = root.fields[node.name.value]
            selection = _merged(nodes)
            event = {
                "arguments": _arguments(node, definition.args, raw),
                "identity": caller.identity,
                "source": None,
                "request": {
                    "headers": {"host": APPSYNC_HOST, **dict(caller.headers)},
                    "domainName": None,
                },
                "prev": None,
                "info": {
                    "selectionSetList": selection_set_list(selection, fragments),
                    "selectionSetGraphQL": selection_set_graphql(selection, fragments),
                    "parentTypeName": root.name,
                    "fieldName": node.name.value,
                    "variables": raw,
                },
                "stash": {},
            }
            planned.append((key, node, event))
        return operation, planned

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        caller: Caller,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        operation, planned = self.events_for(query, variables, caller, operation_name)
        root = self.schema.get_root_type(operation.operation)
        assert isinstance(root, GraphQLObjectType)
        self.events.extend(event for _, _, event in planned)
        if operation.operation is OperationType.MUTATION:
            outcomes = [await self._invoke(event) for _, _, event in planned]
        else:
            outcomes = list(await asyncio.gather(*(self._invoke(e) for _, _, e in planned)))
        data: dict[str, Any] | None = {}
        errors: list[dict[str, Any]] = []
        for (key, node, _), (value, error) in zip(planned, outcomes, strict=True):
            assert data is not None or errors
            if error is not None:
                errors.append(self._entry(error, key, node))
                if isinstance(root.fields[node.name.value].type, GraphQLNonNull):
                    data = None
                elif data is not None:
                    data[key] = None
            elif data is not None:
                data[key] = value
        answer: dict[str, Any] = {"data": data}
        if errors:
            answer["errors"] = errors
        return answer

    async def _invoke(self, event: dict[str, Any]) -> tuple[Any, Exception | None]:
        try:
            return await self.invoke(event), None
        except LambdaResolverError as exc:
            # What the Lambda runtime reports: the class name of the exception `handler` raises.
            return None, exc.for_runtime(self.error_types)  # type: ignore[arg-type]

    @staticmethod
    def _entry(error: Exception, key: str, node: FieldNode) -> dict[str, Any]:
        return {
            "path": [key],
            "data": None,
            "errorType": type(error).__name__,
            "errorInfo": None,
            "locations": [location(node)],
            "message": getattr(error, "message", str(error)),
        }


def location(node: FieldNode) -> dict[str, Any]:
    """An error entry's location of a field node (AppSync's shape)."""
    assert node.loc is not None
    token = node.loc.start_token
    return {"line": token.line, "column": token.column, "sourceName": None}


def _included(node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: Any) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (skip and skip["if"]) and not (include and not include["if"])


def _root_fields(
    selection: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode], variables: Any
) -> dict[str, list[FieldNode]]:
    """The root fields by response key, as graphql's CollectFields groups them."""
    fields: dict[str, list[FieldNode]] = {}
    for item in selection.selections:
        if not _included(item, variables):  # type: ignore[arg-type]
            continue
        if isinstance(item, FieldNode):
            fields.setdefault((item.alias or item.name).value, []).append(item)
        else:
            inner = (
                item.selection_set
                if isinstance(item, InlineFragmentNode)
                else fragments[item.name.value].selection_set  # type: ignore[attr-defined]
            )
            for key, nodes in _root_fields(inner, fragments, variables).items():
                fields.setdefault(key, []).extend(nodes)
    return fields
