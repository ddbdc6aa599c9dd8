"""What a subscriber receives: the mutation's result as selected, under its own selection.

Two halves (APPSYNC.md §5.4):

- `selected_fields` (publish side) turns one root mutation field's result, keyed by the
  response names the mutation caller chose (aliases), into the payload keyed by field
  names: what AppSync hands its subscribers. Fields the caller did not select are absent.
  When one field is selected twice under different aliases with different arguments, the
  first selection wins (AppSync's behaviour there is not documented).
- `Projector` (subscriber side) applies a subscriber's document to that payload by executing
  it with graphql-core against a copy of the schema that has no resolvers: fields read the
  payload by name, so aliases, fragments, `__typename`, `@include`/`@skip` with variables,
  and null propagation behave exactly as in a query. A field the mutation did not select
  reads as null; in a non-null position that is graphql-java's `Cannot return null for
  non-nullable type ...` error in `data.payload.errors` (§5.2, §3.3). A union or interface
  value resolves through the `__typename` the mutation selected (Amplify always selects it);
  without it the position errors as graphql-core reports an unresolvable abstract type.

Field authorization applies to the subscriber's selection too: the subscriber's caller
gets `Unauthorized` for every field AppSync's directives refuse it (appsync/authz.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute,
    print_schema,
)

from appsync.errors import AppSyncError, format_error
from appsync.messages import translate_error

__all__ = ["FieldOutcomes", "Projector", "root_fields", "selected_fields"]

# (type, field) -> a refusal message, or any other object for "null without an error"
# (Lambda deniedFields); absent means allowed. See FieldAuthorization.outcomes.
FieldOutcomes = Mapping[tuple[str, str], object]


def root_fields(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The operation's top-level fields, fragments flattened, in document order."""
    return _fields(operation.selection_set, fragments)


def selected_fields(
    value: Any,
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Any:
    """`value` (keyed by response names) re-keyed by field names, as the caller selected it."""
    if value is None or selection_set is None:
        return value
    if isinstance(value, list):
        return [selected_fields(item, selection_set, fragments) for item in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for field in _fields(selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        if key not in value:  # skipped, or a fragment on another type
            continue
        name = field.name.value
        child = selected_fields(value[key], field.selection_set, fragments)
        if name not in out:
            out[name] = child
        elif isinstance(out[name], dict) and isinstance(child, dict):
            out[name] = _merged(out[name], child)
    return out


def _merged(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    out = dict(first)
    for key, value in second.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merged(out[key], value)
    return out


def _fields(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    found: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_fields(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found.extend(_fields(fragment.selection_set, fragments))
    return found


class Projector:
    """Executes subscribers' documents over payloads; one per schema."""

    def __init__(self, schema: GraphQLSchema) -> None:
        # The printed schema rebuilt: same types and names, no resolvers, and scalars and
        # enums that pass the payload's JSON values through unchanged.
        self.schema = build_schema(print_schema(schema), assume_valid=True)

    def project(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any],
        field_name: str,
        payload: Mapping[str, Any],
        outcomes: FieldOutcomes,
    ) -> dict[str, Any]:
        """The `data` message payload: `{"data": ...}` plus `"errors"` when any."""

        def authorize(next_: Any, root: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
            outcome = outcomes.get((info.parent_type.name, info.field_name))
            if outcome is None:
                return next_(root, info, **args)
            if isinstance(outcome, str):
                raise AppSyncError(outcome, "Unauthorized")
            return None  # denied by a Lambda authorizer: null, no error

        result = execute(
            self.schema,
            document,
            root_value={field_name: payload},
            variable_values=dict(variables),
            operation_name=operation_name,
            middleware=[authorize],
        )
        if not isinstance(result, ExecutionResult):  # no resolver is async: never awaitable
            raise TypeError("the projection schema must execute synchronously")
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = self.format_errors(result.errors, document)
        return body

    def format_errors(
        self, errors: Sequence[GraphQLError], document: DocumentNode | None
    ) -> list[dict[str, Any]]:
        return [format_error(translate_error(error, document, self.schema)) for error in errors]
