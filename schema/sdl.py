"""Export the schema as AppSync-dialect SDL and check it is deployable (APPSYNC.md §2.1-2.2).

AppSync defines the ``AWS*`` scalars and ``@aws_*``/``@defer`` directives itself, so the
exported SDL keeps their usages but not their definitions (``@stream``'s goes too).
Anything AppSync rejects or is not known to accept fails with ``SchemaExportError``:
custom scalars, type names with the reserved ``AWS`` prefix, ``@oneOf``,
``@specifiedBy``, ``repeatable`` directives and interfaces implementing interfaces.
"""

from collections.abc import Iterable, Iterator

import strawberry
from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ScalarTypeDefinitionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    Visitor,
    build_schema,
    parse,
    validate_schema,
    visit,
)

from schema.scalars import AWS_SCALAR_MAP, AWS_SCALAR_NAMES

APPSYNC_BASE_SDL = """\
scalar AWSDate
scalar AWSTime
scalar AWSDateTime
scalar AWSTimestamp
scalar AWSEmail
scalar AWSJSON
scalar AWSURL
scalar AWSPhone
scalar AWSIPAddress

directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
directive @aws_publish(subscriptions: [String]) on FIELD_DEFINITION
directive @aws_api_key on OBJECT | FIELD_DEFINITION
directive @aws_iam on OBJECT | FIELD_DEFINITION | INPUT_OBJECT
directive @aws_oidc on OBJECT | FIELD_DEFINITION
directive @aws_lambda on FIELD_DEFINITION | OBJECT
directive @aws_cognito_user_pools(cognito_groups: [String])
  on OBJECT | FIELD_DEFINITION | INPUT_OBJECT
directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION
directive @defer on FIELD
"""
"""What AppSync defines implicitly; prepend it to exported SDL to validate it locally."""

_RESERVED_PREFIX = "AWS"
_UNSUPPORTED_DIRECTIVES = frozenset({"oneOf", "specifiedBy"})
_INTERFACE_NODES = (InterfaceTypeDefinitionNode, InterfaceTypeExtensionNode)


class SchemaExportError(Exception):
    """The schema cannot be deployed to AppSync; ``problems`` lists every reason."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "Schema is not deployable to AppSync:\n" + "\n".join(f"- {p}" for p in problems)
        )


def export_sdl(schema: strawberry.Schema) -> str:
    """Print ``schema`` as the SDL to hand to AppSync's ``start_schema_creation``.

    Raises ``SchemaExportError`` if the schema breaks an AppSync rule or the result does
    not build together with ``APPSYNC_BASE_SDL``.
    """
    printed, document = _checked_print(schema)
    kept = [
        printed[node.loc.start : node.loc.end]
        for node in document.definitions
        if node.loc is not None and not _defined_by_appsync(node)
    ]
    sdl = "\n\n".join(kept) + "\n"
    validate_with_appsync_base(sdl)
    return sdl


def check_appsync_schema(schema: strawberry.Schema) -> None:
    """Apply the AppSync SDL rules to ``schema`` without exporting it (for start-up).

    Raises ``SchemaExportError`` listing every violation.
    """
    _checked_print(schema)


def validate_with_appsync_base(sdl: str) -> None:
    """Build ``APPSYNC_BASE_SDL`` + ``sdl`` with graphql-core and apply the AppSync rules.

    Raises ``SchemaExportError`` if it does not parse, build or validate, or breaks a rule.
    """
    try:
        built = build_schema(APPSYNC_BASE_SDL + "\n" + sdl)
    except (GraphQLError, TypeError) as exc:
        raise SchemaExportError([str(exc)]) from exc
    _raise_if_any([error.message for error in validate_schema(built)])
    _raise_if_any(_document_problems(parse(sdl)))


def _checked_print(schema: strawberry.Schema) -> tuple[str, DocumentNode]:
    # The rules run on the printed SDL because that is what AppSync sees, and some
    # features exist only there (Strawberry's one_of inputs print @oneOf but leave
    # graphql-core's is_one_of unset).
    printed = schema.as_str()
    document = parse(printed)
    _raise_if_any([*_document_problems(document), *_foreign_aws_scalars(schema)])
    return printed, document


def _defined_by_appsync(node: DefinitionNode) -> bool:
    if isinstance(node, ScalarTypeDefinitionNode):
        return node.name.value in AWS_SCALAR_NAMES
    if isinstance(node, DirectiveDefinitionNode):
        name = node.name.value
        # AppSync brings its own @defer; graphql-core's @stream rides along with it when
        # incremental execution is on, and AppSync has no streaming to define it for.
        return name.startswith("aws_") or name in {"defer", "stream"}
    return False


def _document_problems(document: DocumentNode) -> Iterator[str]:
    for node in document.definitions:
        name = getattr(getattr(node, "name", None), "value", "schema")
        is_aws_scalar = isinstance(node, ScalarTypeDefinitionNode) and name in AWS_SCALAR_NAMES
        if name.startswith(_RESERVED_PREFIX) and not is_aws_scalar:
            if isinstance(node, TypeDefinitionNode | TypeExtensionNode):
                yield f"type name `{name}` uses the reserved `{_RESERVED_PREFIX}` prefix"
        elif isinstance(node, ScalarTypeDefinitionNode) and not is_aws_scalar:
            yield f"custom scalar `{name}` is not supported; use a built-in or AWS scalar"
        if isinstance(node, _INTERFACE_NODES) and node.interfaces:
            yield f"interface `{name}` implements other interfaces"
        if isinstance(node, DirectiveDefinitionNode) and node.repeatable:
            yield f"directive `@{name}` is repeatable"
        usages = _DirectiveUsages()
        visit(node, usages)
        for directive in sorted(usages.names & _UNSUPPORTED_DIRECTIVES):
            yield f"`{name}` uses @{directive}"


def _foreign_aws_scalars(schema: strawberry.Schema) -> Iterator[str]:
    # By identity: in the SDL a home-made `scalar AWSDate` looks just like ours.
    ours = {id(definition) for definition in AWS_SCALAR_MAP.values()}
    for name in sorted(AWS_SCALAR_NAMES & schema._schema.type_map.keys()):
        definition = schema._schema.type_map[name].extensions.get("strawberry-definition")
        if id(definition) not in ours:
            yield (
                f"type name `{name}` uses the reserved `{_RESERVED_PREFIX}` prefix "
                "(it is not the scalar from schema.scalars)"
            )


class _DirectiveUsages(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_: object) -> None:
        self.names.add(node.name.value)


def _raise_if_any(problems: Iterable[str]) -> None:
    found = list(problems)
    if found:
        raise SchemaExportError(found)
