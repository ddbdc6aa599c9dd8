"""graphql-core's error messages in the words of graphql-java, AppSync's engine (APPSYNC.md §3.3).

Each rule is a pure function of the error, the parsed document (where in the operation the
error sits: graphql-java's query path is the names of the enclosing fields and fragment
definitions) and the schema (types graphql-core leaves out of its text). Rules recognise
both graphql-core 3.2 and 3.3 wording. A message no rule recognises is returned unchanged,
and so is one a rule cannot translate for lack of the document or the schema.

Sources: forms marked [obs] were seen on real AppSync (APPSYNC.md §1.4, §3); the others follow
graphql-java's source of the AppSync era (`ValidationError`, the validation rules,
`ArgumentValidationUtil`, `NonNullableFieldWasNullException`, `SerializationError`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import graphql.utilities
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    IntValueNode,
    Lexer,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    Source,
    StringValueNode,
    TokenKind,
    TypeInfo,
    TypeInfoVisitor,
    Undefined,
    ValueNode,
    VariableNode,
    Visitor,
    get_location,
    get_nullable_type,
    is_input_object_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    print_ast,
    value_from_ast,
    visit,
)

__all__ = ["translate_error", "translate_message", "value_repr"]

logger = logging.getLogger(__name__)


def translate_message(
    error: GraphQLError,
    document: DocumentNode | None = None,
    schema: GraphQLSchema | None = None,
) -> str:
    """The graphql-java form of `error.message`, or the message unchanged."""
    return translate_error(error, document, schema).message


def translate_error(
    error: GraphQLError,
    document: DocumentNode | None = None,
    schema: GraphQLSchema | None = None,
) -> GraphQLError:
    """A copy of `error` with the graphql-java message (and location, where graphql-java
    reports a different node), keeping path and original error; or `error` itself."""
    inputs = _Inputs(document, schema)
    for rule in _RULES:
        if not rule.applies(error):
            continue
        match = rule.pattern.search(error.message)
        if match is None:
            continue
        try:
            translation = rule.translate(error, match, inputs)
        except Exception:  # a translation bug must never cost the client its answer
            logger.warning("rule %s failed on %r", rule.name, error.message, exc_info=True)
            return error
        if translation is not None:
            return _rebuild(error, translation)
    return error


def value_repr(node: ValueNode) -> str:
    """A literal as graphql-java prints it (`toString()` of its AST node)."""
    if isinstance(node, StringValueNode):
        return f"StringValue{{value='{node.value}'}}"
    if isinstance(node, IntValueNode):
        return f"IntValue{{value={_java_number(node.value, integer=True)}}}"
    if isinstance(node, FloatValueNode):
        return f"FloatValue{{value={_java_number(node.value, integer=False)}}}"
    if isinstance(node, BooleanValueNode):
        return f"BooleanValue{{value={'true' if node.value else 'false'}}}"
    if isinstance(node, EnumValueNode):
        return f"EnumValue{{name='{node.value}'}}"
    if isinstance(node, NullValueNode):
        return "NullValue{}"
    if isinstance(node, ListValueNode):
        return f"ArrayValue{{values=[{', '.join(value_repr(item) for item in node.values)}]}}"
    if isinstance(node, ObjectValueNode):
        fields = ", ".join(
            f"ObjectField{{name='{field.name.value}', value={value_repr(field.value)}}}"
            for field in node.fields
        )
        return f"ObjectValue{{objectFields=[{fields}]}}"
    if isinstance(node, VariableNode):
        return f"VariableReference{{name='{node.name.value}'}}"
    return print_ast(node)


# --- the rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    document: DocumentNode | None
    schema: GraphQLSchema | None


@dataclass(frozen=True)
class _Translation:
    message: str
    nodes: Sequence[Node] | None = None  # graphql-java reports this node instead


_Translate = Callable[[GraphQLError, re.Match[str], _Inputs], _Translation | None]


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    translate: _Translate
    applies: Callable[[GraphQLError], bool]


def _validation(error_type: str, description: str, names: Sequence[str] | None) -> str:
    # graphql-java: "Validation error of type %s: %s%s", path " @ 'a/b'" only when non-empty.
    where = f" @ '{'/'.join(names)}'" if names else ""
    return f"Validation error of type {error_type}: {description}{where}"


def _simple(error_type: str, template: str, *, at: int | None = None) -> _Translate:
    """graphql-java's `error_type` with `template` filled from the match. `at` names the
    node graphql-java reports (an index into `error.nodes`) when graphql-core reports more."""

    def translate(error: GraphQLError, match: re.Match[str], inputs: _Inputs) -> _Translation:
        nodes = error.nodes or []
        node = nodes[at or 0] if len(nodes) > (at or 0) else None
        names = _names_at(inputs, node)
        groups = {key: value or "" for key, value in match.groupdict().items()}
        message = _validation(error_type, template.format(**groups), names)
        return _Translation(message, nodes=[node] if at is not None and node else None)

    return translate


def _syntax(error: GraphQLError, _match: re.Match[str], _inputs: _Inputs) -> _Translation | None:
    if error.source is None or not error.positions:
        return None
    body = error.source.body
    position = next(iter(error.positions))
    token, start = _offending_token(body, position)
    location = get_location(error.source, start)
    return _Translation(
        f"Invalid Syntax : offending token '{token}' at line {location.line}"
        f" column {location.column}"
    )


def _leaf_selection(error: GraphQLError, match: re.Match[str], inputs: _Inputs) -> _Translation:
    # graphql-core points at the selection set, graphql-java at the field that has it.
    selection = _first_node(error)
    sites = _sites(
        inputs,
        lambda node: (
            isinstance(node, FieldNode)
            and node.selection_set is not None
            and _same(node.selection_set, selection)
        ),
    )
    site = sites[0] if sites else None
    description = (
        f"Sub selection not allowed on leaf type {match['type']} of field {match['field']}"
    )
    return _Translation(
        _validation("SubSelectionNotAllowed", description, site.names if site else None),
        nodes=[site.node] if site else None,
    )


def _wrong_type(error: GraphQLError, _match: re.Match[str], inputs: _Inputs) -> _Translation | None:
    """A literal of the wrong type: one graphql-java error per argument, at the argument."""
    target = _first_node(error)
    if target is None:
        return None
    position = next(iter(error.positions), None) if error.positions else None
    sites = _sites(
        inputs,
        lambda node: isinstance(node, ArgumentNode) and _holds(node, target, position),
    )
    if not sites and target.loc is None:
        # graphql-core 3.3 reports some literals on a copy without a location.
        printed = print_ast(target)
        sites = _sites(
            inputs,
            lambda node: isinstance(node, ArgumentNode) and _holds_printed(node.value, printed),
        )
    for site in sites:
        if site.argument_type is None:
            continue
        assert isinstance(site.node, ArgumentNode)
        description = _ArgumentCheck(site.node).problem(site.argument_type)
        if description is not None:
            return _Translation(
                _validation("WrongType", description, site.names), nodes=[site.node]
            )  # [obs]
    return None


def _coerced_null(error: GraphQLError, match: re.Match[str], _inputs: _Inputs) -> _Translation:
    return _Translation(_null_variable(match["variable"], match["type"]))  # [obs]


def _variable_value(error: GraphQLError, match: re.Match[str], inputs: _Inputs) -> _Translation:
    original = error.original_error
    detail = original.message if isinstance(original, GraphQLError) else match["detail"]
    for pattern in _NULL_DETAILS:
        null = pattern.match(detail)
        if null is None:
            continue
        type_name = null.groupdict().get("type") or _input_field_type(
            inputs.schema, null["input"], null["field"]
        )
        if type_name is not None:
            return _Translation(_null_variable(match["variable"], type_name))  # [obs]
    return _Translation(f"Variable '{match['variable']}' has an invalid value. {detail}")  # [obs]


def _non_null(error: GraphQLError, match: re.Match[str], inputs: _Inputs) -> _Translation | None:
    """graphql-java names the null position's type and its parent's, and the response path."""
    if inputs.schema is None or not error.path:
        return None
    parent = inputs.schema.get_type(match["parent"])
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return None
    field = parent.fields.get(match["field"])
    if field is None:
        return None
    path = list(error.path)
    depth = len(path) - len(_rstrip_ints(path))
    types: list[GraphQLType] = [field.type]
    for _ in range(depth):  # a null list item: step into the item type once per index
        nullable = _nullable(types[-1])
        if not isinstance(nullable, GraphQLList):
            return None
        types.append(nullable.of_type)
    null_type = _nullable(types[-1])
    parent_name = parent.name if depth == 0 else str(_nullable(types[-2]))
    return _Translation(
        f"Cannot return null for non-nullable type: '{null_type}' within parent"
        f" '{parent_name}' ({_result_path(path)})"
    )  # [obs]


def _serialize(error: GraphQLError, _match: re.Match[str], _inputs: _Inputs) -> _Translation:
    path = _result_path(list(error.path or ()))
    return _Translation(f"Can't serialize value ({path}) : {error.message}")  # [obs]


def _unknown_operation(error: GraphQLError, match: re.Match[str], _inputs: _Inputs) -> _Translation:
    return _Translation(f"Unknown operation named '{match['name']}'.")


def _always(_error: GraphQLError) -> bool:
    return True


def _request_level(error: GraphQLError) -> bool:
    return error.path is None


def _field_level(error: GraphQLError) -> bool:
    return error.path is not None


def _literal_problem(error: GraphQLError) -> bool:
    node = _first_node(error)
    return (
        error.path is None
        and isinstance(node, ValueNode | ObjectFieldNode)
        and not isinstance(node, VariableNode)
    )


def _rule(
    name: str,
    pattern: str,
    translate: _Translate,
    applies: Callable[[GraphQLError], bool] = _request_level,
) -> _Rule:
    return _Rule(name, re.compile(pattern), translate, applies)


_TYPE = r"'(?P<type>[^']+)'"
_REQUIRED = r" of type '[^']+' is required, but it was not provided\.$"

# Order matters only where two rules could match one error; first match wins.
_RULES: tuple[_Rule, ...] = (
    _rule("syntax", r"^Syntax Error: ", _syntax, _always),
    _rule("wrong literal", r"", _wrong_type, _literal_problem),
    _rule("unknown field", r"^Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'\.",
          _simple("FieldUndefined", "Field '{field}' in type '{type}' is undefined")),  # [obs]
    _rule("unknown type", r"^Unknown type '(?P<type>\w+)'\.",
          _simple("UnknownType", "Unknown type {type}")),  # [obs]
    _rule("missing field argument",
          r"^(?:Field '\w+' argument '(?P<argument>\w+)'|Argument '[\w.]+\((?P<arg>\w+):\)')"
          + _REQUIRED,
          _simple("MissingFieldArgument", "Missing field argument {argument}{arg}")),
    _rule("missing directive argument",
          r"^(?:Directive '@\w+' argument '(?P<argument>\w+)'|Argument '@\w+\((?P<arg>\w+):\)')"
          + _REQUIRED,
          _simple("MissingDirectiveArgument", "Missing directive argument {argument}{arg}")),
    _rule("unknown field argument",
          r"^Unknown argument '(?P<argument>\w+)' on field '[\w.]+'\.",
          _simple("UnknownArgument", "Unknown field argument {argument}")),
    _rule("unknown directive argument",
          r"^Unknown argument '(?P<argument>\w+)' on directive '@\w+'\.",
          _simple("UnknownDirective", "Unknown directive argument {argument}")),
    _rule("unknown directive", r"^Unknown directive '@(?P<directive>\w+)'\.",
          _simple("UnknownDirective", "Unknown directive {directive}")),
    _rule("leaf selection",
          r"^Field '(?P<field>\w+)' must not have a selection since type " + _TYPE,
          _leaf_selection),
    _rule("missing selection",
          r"^Field '(?P<field>\w+)' of type " + _TYPE + r" must have a selection of subfields\.",
          _simple("SubSelectionRequired", "Sub selection required for type {type} of field"
                  " {field}")),
    # graphql-java reports unused variables on leaving the operation: no query path there.
    _rule("unused variable", r"^Variable '\$(?P<variable>\w+)' is never used",
          _simple("UnusedVariable", "Unused variable {variable}")),
    # graphql-core adds the operation's location; graphql-java reports the usage only.
    _rule("undefined variable", r"^Variable '\$(?P<variable>\w+)' is not defined",
          _simple("UndefinedVariable", "Undefined variable {variable}", at=0)),
    _rule("variable type mismatch",
          r"^Variable '\$\w+' of type " + _TYPE
          + r" used in position expecting type '(?P<expected>[^']+)'\.$",
          _simple("VariableTypeMismatch",
                  "Variable type '{type}' doesn't match expected type '{expected}'", at=1)),
    _rule("variable null 3.2",
          r"^Variable '\$(?P<variable>\w+)' of (?:non-null|required) type " + _TYPE
          + r" (?:must not be null|was not provided)\.$",
          _coerced_null),
    _rule("variable value",
          r"^Variable '\$(?P<variable>\w+)' (?:got invalid value .*?; |has invalid value[^:]*: )"
          r"(?P<detail>.*)$",
          _variable_value),
    _rule("non-null",
          r"^Cannot return null for non-nullable field (?P<parent>\w+)\.(?P<field>\w+)\.$",
          _non_null, _field_level),
    _rule("serialize", r"^(?:(?:Int|Float|String|Boolean|ID) cannot represent |Enum '\w+' cannot"
          r" represent value)", _serialize, _field_level),
    _rule("unknown operation", r"^Unknown operation named [\"'](?P<name>.+)[\"']\.$",
          _unknown_operation),
)  # fmt: skip

# Details of a variable error that graphql-java reports as a null for a non-null type.
_NULL_DETAILS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^Expected non-nullable type " + _TYPE + r" not to be None\.$"),  # 3.2
    re.compile(r"^Field '\w+' of required type " + _TYPE + r" was not provided\.$"),  # 3.2
    re.compile(r"^Expected value of non-null type " + _TYPE + r" not to be None\.$"),  # 3.3
    re.compile(r"^Expected a value of non-null type " + _TYPE + r" to be provided\.$"),  # 3.3
    re.compile(  # 3.3: the field's type is not in the text
        r"^Expected value of type '(?P<input>\w+)' to include required field '(?P<field>\w+)'"
    ),
)


# --- helpers ----------------------------------------------------------------------------


def _null_variable(variable: str, type_name: str) -> str:
    return f"Variable '{variable}' has coerced Null value for NonNull type '{type_name}'"


def _input_field_type(schema: GraphQLSchema | None, input_name: str, field: str) -> str | None:
    input_type = schema.get_type(input_name) if schema else None
    if not isinstance(input_type, GraphQLInputObjectType) or field not in input_type.fields:
        return None
    return str(input_type.fields[field].type)


def _nullable(type_: GraphQLType) -> GraphQLType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _result_path(path: Sequence[str | int]) -> str:
    # graphql-java's ResultPath: "/a/b[0]/c"
    return "".join(f"[{key}]" if isinstance(key, int) else f"/{key}" for key in path)


def _rstrip_ints(path: list[str | int]) -> list[str | int]:
    while path and isinstance(path[-1], int):
        path = path[:-1]
    return path


def _java_number(text: str, *, integer: bool) -> str:
    # BigInteger / BigDecimal toString(); Python's Decimal follows the same notation rules.
    try:
        return str(int(text)) if integer else str(Decimal(text))
    except (ValueError, InvalidOperation):
        return text


def _offending_token(body: str, position: int) -> tuple[str, int]:
    """The token graphql-java's parser would name, and where it starts."""
    try:
        token = Lexer(Source(body[position:])).advance()
    except GraphQLError:  # graphql-core could not lex it either: name the character
        return (body[position], position) if position < len(body) else ("<EOF>", position)
    start = position + token.start
    if token.kind == TokenKind.EOF:
        return "<EOF>", min(start, len(body))
    return body[start : position + token.end], start


def _first_node(error: GraphQLError) -> Node | None:
    return error.nodes[0] if error.nodes else None


def _children(node: Node) -> list[Node]:
    children: list[Node] = []
    for key in node.keys:
        if key == "loc":
            continue
        value = getattr(node, key, None)
        if isinstance(value, Node):
            children.append(value)
        elif isinstance(value, list | tuple):
            children.extend(item for item in value if isinstance(item, Node))
    return children


def _same(node: Node, target: Node | None) -> bool:
    """The same node, also across two parses of one text (same kind, same span)."""
    if node is target:
        return True
    if target is None or node.loc is None or target.loc is None:
        return False
    return (
        node.kind == target.kind
        and node.loc.start == target.loc.start
        and node.loc.end == target.loc.end
    )


def _has(node: Node, target: Node | None) -> bool:
    """Whether `target` is `node` or one of its descendants."""
    return _same(node, target) or any(_has(child, target) for child in _children(node))


def _holds(argument: ArgumentNode, target: Node, position: int | None) -> bool:
    if _has(argument, target):
        return True
    loc = argument.loc
    return position is not None and loc is not None and loc.start <= position < loc.end


def _holds_printed(value: Node, printed: str) -> bool:
    if isinstance(value, ValueNode) and print_ast(value) == printed:
        return True
    return any(_holds_printed(child, printed) for child in _children(value))


@dataclass(frozen=True)
class _Site:
    node: Node
    names: tuple[str, ...]
    argument_type: GraphQLInputType | None


class _SiteFinder(Visitor):
    """Collects the nodes that match, with graphql-java's query path at each."""

    def __init__(self, matches: Callable[[Node], bool], type_info: TypeInfo | None) -> None:
        super().__init__()
        self._matches = matches
        self._type_info = type_info
        self._names: list[str] = []
        self.sites: list[_Site] = []

    def enter(self, node: Node, *_args: Any) -> None:
        if isinstance(node, FieldNode | FragmentDefinitionNode):
            self._names.append(node.name.value)
        if self._matches(node):
            argument = self._type_info.get_argument() if self._type_info else None
            argument_type = argument.type if argument is not None else None
            self.sites.append(_Site(node, tuple(self._names), argument_type))

    def leave(self, node: Node, *_args: Any) -> None:
        if isinstance(node, FieldNode | FragmentDefinitionNode):
            self._names.pop()


def _sites(inputs: _Inputs, matches: Callable[[Node], bool]) -> list[_Site]:
    if inputs.document is None:
        return []
    type_info = TypeInfo(inputs.schema) if inputs.schema is not None else None
    finder = _SiteFinder(matches, type_info)
    visit(inputs.document, TypeInfoVisitor(type_info, finder) if type_info else finder)
    return finder.sites


def _names_at(inputs: _Inputs, target: Node | None) -> tuple[str, ...] | None:
    if target is None:
        return None
    sites = _sites(inputs, lambda node: _same(node, target))
    return sites[0].names if sites else None


class _ArgumentCheck:
    """graphql-java's ArgumentValidationUtil: the first problem in one argument's literal."""

    def __init__(self, argument: ArgumentNode) -> None:
        self._argument = argument.name.value
        self._value: ValueNode = argument.value
        self._names: list[str] = []
        self._problem = ""

    def problem(self, type_: GraphQLInputType) -> str | None:
        if self._valid(self._value, type_):
            return None
        argument = self._argument + "".join(
            name if name.startswith("[") else f".{name}" for name in self._names
        )
        return f"argument '{argument}' with value '{value_repr(self._value)}' {self._problem}"

    def _fail(self, problem: str, value: ValueNode | None = None) -> bool:
        self._problem = problem
        if value is not None:
            self._value = value
        return False

    def _valid(self, value: ValueNode, type_: GraphQLInputType) -> bool:
        if isinstance(value, NullValueNode):
            return not is_non_null_type(type_) or self._fail("must not be null", value)
        if isinstance(value, VariableNode):
            return True
        nullable = get_nullable_type(type_)
        if is_leaf_type(nullable):
            return _accepts(value, nullable) or self._fail(
                f"is not a valid '{getattr(nullable, 'name', nullable)}'", value
            )
        if is_list_type(nullable):
            assert isinstance(nullable, GraphQLList)
            if not isinstance(value, ListValueNode):
                return self._valid(value, nullable.of_type)
            for index, item in enumerate(value.values):
                if not self._valid(item, nullable.of_type):
                    self._names.insert(0, f"[{index}]")
                    return False
            return True
        if is_input_object_type(nullable):
            assert isinstance(nullable, GraphQLInputObjectType)
            return self._valid_object(value, nullable)
        return False

    def _valid_object(self, value: ValueNode, type_: GraphQLInputObjectType) -> bool:
        if not isinstance(value, ObjectValueNode):
            return self._fail("must be an object type")
        given = {field.name.value for field in value.fields}
        missing = [
            name
            for name, field in type_.fields.items()
            if is_non_null_type(field.type) and name not in given
        ]
        if missing:
            return self._fail(f"is missing required fields '[{', '.join(missing)}]'")
        for field_node in value.fields:
            field = type_.fields.get(field_node.name.value)
            if field is None:
                return self._fail(
                    f"contains a field not in '{type_.name}': '{field_node.name.value}'"
                )
            if not self._valid(field_node.value, field.type):
                self._names.insert(0, field_node.name.value)
                return False
        return True


def _accepts(value: ValueNode, type_: GraphQLType) -> bool:
    """Whether graphql-core's own literal validation accepts `value` for the leaf `type_`."""
    problems: list[GraphQLError] = []
    try:
        if _validate_input_literal is not None:  # graphql-core 3.3: what validation uses
            _validate_input_literal(value, type_, lambda error, _path: problems.append(error))
            return not problems
        return value_from_ast(value, type_) is not Undefined  # type: ignore[arg-type]
    except Exception:  # a scalar's own parser failing is a rejection, not our crash
        return False


# graphql-core 3.3 validates literals with this; 3.2 has only `value_from_ast`, which 3.3
# keeps with laxer rules (it reads `1.5e3` as an Int).
_validate_input_literal: Any = getattr(graphql.utilities, "validate_input_literal", None)


def _rebuild(error: GraphQLError, translation: _Translation) -> GraphQLError:
    if translation.nodes is None:
        nodes, source, positions = error.nodes, error.source, error.positions
    else:
        nodes, source, positions = list(translation.nodes), None, None
    return GraphQLError(
        translation.message,
        nodes=nodes,
        source=source,
        positions=positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )
