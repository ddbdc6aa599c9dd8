"""AppSync's error entries (appsync.errors) and graphql-java's messages (appsync.messages)."""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, parse, parse_value

from appsync.errors import (
    INTERNAL_FAILURE,
    INTERNAL_FAILURE_MESSAGE,
    AppSyncError,
    PayloadTooLargeError,
    UnauthorizedError,
    format_error,
    request_error_body,
)
from appsync.messages import translate_error, translate_message, value_repr

FIELD_ERROR_KEYS = ["path", "data", "errorType", "errorInfo", "locations", "message"]
REQUEST_ERROR_KEYS = ["path", "locations", "message"]

TYPED = "{ typed }"
DUCK_TYPED = "{ duckTyped }"
HINTED = "{ hinted }"
UNEXPECTED = "{ unexpected hello }"
PLAIN_GRAPHQL_ERROR = "{ plain }"
NULL_IN_OBJECT = "{ hello owner { name must } }"
UNKNOWN_FIELD = "{ hello nope }"
WRONG_LITERAL = '{ year(y: "2019") }'
REPEATED_WRONG_ITEMS = '{ tags(t: [1, "a", "b"]) }'
UNDEFINED_VARIABLE = "{ year(y: $zz) }"


class Color(Enum):
    RED = "RED"


@strawberry.input
class PetInput:
    name: str
    age: int | None = None


@strawberry.type
class Item:
    id: str


@strawberry.type
class Owner:
    name: str

    @strawberry.field
    def must(self) -> str:
        return None  # type: ignore[return-value]


class SourceTimeoutError(Exception):
    """A lower layer's typed error: it knows nothing of appsync."""

    def __init__(self) -> None:
        super().__init__("Neptune did not answer within 2s.")
        self.error_type = "Neptune:Timeout"
        self.error_info = {"timeoutMs": 2000}
        self.data = None


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello {name}"

    @strawberry.field
    def year(self, y: int) -> int:
        return y

    @strawberry.field
    def pet(self, input: PetInput) -> str:
        return input.name

    @strawberry.field
    def pets(self, inputs: list[PetInput]) -> int:
        return len(inputs)

    @strawberry.field
    def color(self, c: strawberry.enum(Color)) -> str:  # type: ignore[valid-type]
        return str(c.value)

    @strawberry.field
    def tags(self, t: list[int]) -> int:
        return len(t)

    @strawberry.field
    def owner(self) -> Owner | None:
        return Owner(name="Ada")

    @strawberry.field
    def owners(self) -> list[Owner] | None:
        return [Owner(name="Ada")]

    @strawberry.field
    def items(self) -> list[Item] | None:
        return [Item(id="a"), None]  # type: ignore[list-item]

    @strawberry.field
    def bad_int(self) -> int | None:
        return "abc"  # type: ignore[return-value]

    @strawberry.field
    def typed(self) -> str | None:
        raise AppSyncError("Sold out", "Inventory:SoldOut", {"sku": "A-1"}, {"left": 0})

    @strawberry.field
    def duck_typed(self) -> str | None:
        raise SourceTimeoutError

    @strawberry.field
    def hinted(self) -> str | None:
        raise GraphQLError(
            "Not Authorized to access hinted on type Query",
            extensions={"errorType": "Unauthorized"},
        )

    @strawberry.field
    def unexpected(self) -> str | None:
        raise KeyError("aws_secret_access_key")

    @strawberry.field
    def plain(self) -> str | None:
        raise GraphQLError("Nothing to see.")


SCHEMA = strawberry.Schema(Query)


async def errors_of(document: str, variables: dict[str, Any] | None = None) -> list[GraphQLError]:
    result = await SCHEMA.execute(document, variable_values=variables)
    assert result.errors, result
    return result.errors


def parsed(document: str) -> Any:
    try:
        return parse(document)
    except GraphQLError:
        return None


# --- format_error: the three shapes -----------------------------------------------------


async def test_typed_resolver_error_has_appsync_fields_at_the_root() -> None:
    # given
    [error] = await errors_of(TYPED)

    # when
    entry = format_error(error)

    # then
    assert list(entry) == FIELD_ERROR_KEYS
    assert entry == {
        "path": ["typed"],
        "data": {"sku": "A-1"},
        "errorType": "Inventory:SoldOut",
        "errorInfo": {"left": 0},
        "locations": [{"line": 1, "column": 3, "sourceName": None}],
        "message": "Sold out",
    }


async def test_duck_typed_error_from_a_lower_layer_is_typed_too() -> None:
    # given
    [error] = await errors_of(DUCK_TYPED)

    # when
    entry = format_error(error)

    # then
    assert list(entry) == FIELD_ERROR_KEYS
    assert entry["errorType"] == "Neptune:Timeout"
    assert entry["errorInfo"] == {"timeoutMs": 2000}
    assert entry["data"] is None
    assert entry["message"] == "Neptune did not answer within 2s."


async def test_error_type_in_extensions_is_hoisted_to_the_root() -> None:
    # given
    [error] = await errors_of(HINTED)

    # when
    entry = format_error(error)

    # then
    assert list(entry) == FIELD_ERROR_KEYS
    assert entry["errorType"] == "Unauthorized"
    assert "extensions" not in entry


async def test_plain_graphql_error_is_a_field_error_without_type() -> None:
    # given
    [error] = await errors_of(PLAIN_GRAPHQL_ERROR)

    # when
    entry = format_error(error)

    # then
    assert list(entry) == FIELD_ERROR_KEYS
    assert (entry["errorType"], entry["message"]) == (None, "Nothing to see.")


async def test_unexpected_exception_is_an_internal_failure_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    [error] = await errors_of(UNEXPECTED)

    # when
    with caplog.at_level(logging.ERROR, logger="appsync.errors"):
        entry = format_error(error)

    # then
    assert entry == {
        "path": ["unexpected"],
        "data": None,
        "errorType": INTERNAL_FAILURE,
        "errorInfo": None,
        "locations": [{"line": 1, "column": 3, "sourceName": None}],
        "message": INTERNAL_FAILURE_MESSAGE,
    }
    [record] = [r for r in caplog.records if r.name == "appsync.errors"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)


def test_unexpected_exception_before_execution_does_not_leak_either() -> None:
    # given: Strawberry wraps an extension's crash this way
    error = GraphQLError("password=hunter2", original_error=ValueError("password=hunter2"))

    # when
    entry = format_error(error)

    # then
    assert entry["errorType"] == INTERNAL_FAILURE
    assert "hunter2" not in str(entry)


async def test_validation_error_has_only_path_locations_message() -> None:
    # given
    [error] = await errors_of(UNKNOWN_FIELD)

    # when
    entry = format_error(error)

    # then
    assert list(entry) == REQUEST_ERROR_KEYS
    assert entry["path"] is None
    assert entry["locations"] == [{"line": 1, "column": 9, "sourceName": None}]


async def test_null_in_non_null_field_nulls_the_parent_and_names_the_path() -> None:
    # given
    result = await SCHEMA.execute(NULL_IN_OBJECT)
    assert result.errors

    # when
    entries = [
        format_error(translate_error(error, parse(NULL_IN_OBJECT), SCHEMA._schema))
        for error in result.errors
    ]

    # then: only the nearest nullable ancestor is null
    assert result.data == {"hello": "Hello world", "owner": None}
    assert entries == [
        {
            "path": ["owner", "must"],
            "locations": None,
            "message": "Cannot return null for non-nullable type: 'String' within parent"
            " 'Owner' (/owner/must)",
        }
    ]


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        pytest.param(
            UnauthorizedError("Valid authorization header not provided."),
            401,
            {
                "errors": [
                    {
                        "errorType": "UnauthorizedException",
                        "message": "Valid authorization header not provided.",
                    }
                ]
            },
            id="unauthorized",
        ),
        pytest.param(
            PayloadTooLargeError(),
            413,
            {
                "errors": [
                    {
                        "errorType": "PayloadTooLargeException",
                        "message": "The request body is too large.",
                    }
                ]
            },
            id="too-large",
        ),
    ],
)
def test_request_error_body(error: Any, status: int, body: dict[str, Any]) -> None:
    # when / then
    assert (error.status_code, request_error_body(error)) == (status, body)


# --- messages: graphql-core -> graphql-java ---------------------------------------------

# (document, variables, the graphql-java message)
TRANSLATIONS: list[Any] = [
    pytest.param(
        "{ hello nope }", None,
        "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined"
        " @ 'nope'",
        id="unknown-field",
    ),
    pytest.param(
        "{ owner { name zzz } }", None,
        "Validation error of type FieldUndefined: Field 'zzz' in type 'Owner' is undefined"
        " @ 'owner/zzz'",
        id="unknown-nested-field",
    ),
    pytest.param(
        "{ owner { ...F } } fragment F on Owner { name bad }", None,
        "Validation error of type FieldUndefined: Field 'bad' in type 'Owner' is undefined"
        " @ 'F/bad'",
        id="unknown-field-in-fragment",
    ),
    pytest.param(
        "query ($v: AWSTimestamp) { year(y: $v) }", None,
        "Validation error of type UnknownType: Unknown type AWSTimestamp",
        id="unknown-type",
    ),
    pytest.param(
        '{ year(y: "2019") }', None,
        "Validation error of type WrongType: argument 'y' with value"
        " 'StringValue{value='2019'}' is not a valid 'Int' @ 'year'",
        id="wrong-literal-string",
    ),
    pytest.param(
        "{ year(y: {a: 1}) }", None,
        "Validation error of type WrongType: argument 'y' with value"
        " 'ObjectValue{objectFields=[ObjectField{name='a', value=IntValue{value=1}}]}'"
        " is not a valid 'Int' @ 'year'",
        id="wrong-literal-object",
    ),
    pytest.param(
        "{ year(y: [1, 2]) }", None,
        "Validation error of type WrongType: argument 'y' with value"
        " 'ArrayValue{values=[IntValue{value=1}, IntValue{value=2}]}' is not a valid 'Int'"
        " @ 'year'",
        id="wrong-literal-list",
    ),
    pytest.param(
        "{ year(y: true) }", None,
        "Validation error of type WrongType: argument 'y' with value 'BooleanValue{value=true}'"
        " is not a valid 'Int' @ 'year'",
        id="wrong-literal-boolean",
    ),
    pytest.param(
        "{ year(y: 1.5e3) }", None,
        "Validation error of type WrongType: argument 'y' with value 'FloatValue{value=1.5E+3}'"
        " is not a valid 'Int' @ 'year'",
        id="wrong-literal-float",
    ),
    pytest.param(
        "{ year(y: null) }", None,
        "Validation error of type WrongType: argument 'y' with value 'NullValue{}'"
        " must not be null @ 'year'",
        id="null-literal-for-non-null",
    ),
    pytest.param(
        "{ color(c: BLUE) }", None,
        "Validation error of type WrongType: argument 'c' with value 'EnumValue{name='BLUE'}'"
        " is not a valid 'Color' @ 'color'",
        id="unknown-enum-value",
    ),
    pytest.param(
        "{ pet(input: {name: 1}) }", None,
        "Validation error of type WrongType: argument 'input.name' with value"
        " 'IntValue{value=1}' is not a valid 'String' @ 'pet'",
        id="wrong-nested-literal",
    ),
    pytest.param(
        '{ pets(inputs: [{name: "a"}, {name: 2}]) }', None,
        "Validation error of type WrongType: argument 'inputs[1].name' with value"
        " 'IntValue{value=2}' is not a valid 'String' @ 'pets'",
        id="wrong-literal-in-list-item",
    ),
    pytest.param(
        "{ pet(input: {age: 1}) }", None,
        "Validation error of type WrongType: argument 'input' with value"
        " 'ObjectValue{objectFields=[ObjectField{name='age', value=IntValue{value=1}}]}'"
        " is missing required fields '[name]' @ 'pet'",
        id="missing-input-field",
    ),
    pytest.param(
        '{ pet(input: {name: "a", zz: 1}) }', None,
        "Validation error of type WrongType: argument 'input' with value"
        " 'ObjectValue{objectFields=[ObjectField{name='name', value=StringValue{value='a'}},"
        " ObjectField{name='zz', value=IntValue{value=1}}]}' contains a field not in"
        " 'PetInput': 'zz' @ 'pet'",
        id="unknown-input-field",
    ),
    pytest.param(
        '{ pet(input: "Rex") }', None,
        "Validation error of type WrongType: argument 'input' with value"
        " 'StringValue{value='Rex'}' must be an object type @ 'pet'",
        id="scalar-for-input-object",
    ),
    pytest.param(
        "{ year }", None,
        "Validation error of type MissingFieldArgument: Missing field argument y @ 'year'",
        id="missing-argument",
    ),
    pytest.param(
        "{ hello @include }", None,
        "Validation error of type MissingDirectiveArgument: Missing directive argument if"
        " @ 'hello'",
        id="missing-directive-argument",
    ),
    pytest.param(
        "{ greeting: hello(zz: 1) }", None,
        "Validation error of type UnknownArgument: Unknown field argument zz @ 'hello'",
        id="unknown-argument",
    ),
    pytest.param(
        "{ hello @foo }", None,
        "Validation error of type UnknownDirective: Unknown directive foo @ 'hello'",
        id="unknown-directive",
    ),
    pytest.param(
        "{ hello { x } }", None,
        "Validation error of type SubSelectionNotAllowed: Sub selection not allowed on leaf"
        " type String! of field hello @ 'hello'",
        id="selection-on-leaf",
    ),
    pytest.param(
        "{ owner }", None,
        "Validation error of type SubSelectionRequired: Sub selection required for type Owner"
        " of field owner @ 'owner'",
        id="missing-selection",
    ),
    pytest.param(
        "query ($v: Int) { hello }", None,
        "Validation error of type UnusedVariable: Unused variable v",
        id="unused-variable",
    ),
    pytest.param(
        "{ year(y: $zz) }", None,
        "Validation error of type UndefinedVariable: Undefined variable zz @ 'year'",
        id="undefined-variable",
    ),
    pytest.param(
        "query ($v: Int) { year(y: $v) }", None,
        "Validation error of type VariableTypeMismatch: Variable type 'Int' doesn't match"
        " expected type 'Int!' @ 'year'",
        id="variable-type-mismatch",
    ),
    pytest.param(
        "query ($y: Int!) { year(y: $y) }", {"y": None},
        "Variable 'y' has coerced Null value for NonNull type 'Int!'",
        id="null-variable",
    ),
    pytest.param(
        "query ($y: Int!) { year(y: $y) }", {},
        "Variable 'y' has coerced Null value for NonNull type 'Int!'",
        id="missing-variable",
    ),
    pytest.param(
        "query ($i: PetInput!) { pet(input: $i) }", {"i": {"name": None}},
        "Variable 'i' has coerced Null value for NonNull type 'String!'",
        id="null-nested-variable-field",
    ),
    pytest.param(
        "query ($i: PetInput!) { pet(input: $i) }", {"i": {}},
        "Variable 'i' has coerced Null value for NonNull type 'String!'",
        id="missing-nested-variable-field",
    ),
    pytest.param(
        "query ($y: Int!) { year(y: $y) }", {"y": "abc"},
        "Variable 'y' has an invalid value. Int cannot represent non-integer value: 'abc'",
        id="invalid-variable-value",
    ),
    pytest.param(
        "{ owner { must } }", None,
        "Cannot return null for non-nullable type: 'String' within parent 'Owner'"
        " (/owner/must)",
        id="non-null-field",
    ),
    pytest.param(
        "{ owners { must } }", None,
        "Cannot return null for non-nullable type: 'String' within parent 'Owner'"
        " (/owners[0]/must)",
        id="non-null-field-in-list",
    ),
    pytest.param(
        "{ items { id } }", None,
        "Cannot return null for non-nullable type: 'Item' within parent '[Item!]' (/items[1])",
        id="non-null-list-item",
    ),
    pytest.param(
        "{ badInt }", None,
        "Can't serialize value (/badInt) : Int cannot represent non-integer value: 'abc'",
        id="output-not-serialisable",
    ),
    pytest.param(
        "{ hello ", None,
        "Invalid Syntax : offending token '<EOF>' at line 1 column 9",
        id="syntax-eof",
    ),
    pytest.param(
        "query { hello(} }", None,
        "Invalid Syntax : offending token '}' at line 1 column 15",
        id="syntax-punctuator",
    ),
    pytest.param(
        "queryy { hello }", None,
        "Invalid Syntax : offending token 'queryy' at line 1 column 1",
        id="syntax-name",
    ),
    pytest.param(
        "{ hello ? }", None,
        "Invalid Syntax : offending token '?' at line 1 column 9",
        id="syntax-character",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("document", "variables", "expected"), TRANSLATIONS)
async def test_message_is_translated(
    document: str, variables: dict[str, Any] | None, expected: str
) -> None:
    # given
    [error] = await errors_of(document, variables)

    # when
    message = translate_message(error, parsed(document), SCHEMA._schema)

    # then
    assert message == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"2019"', "StringValue{value='2019'}"),
        ("42", "IntValue{value=42}"),
        ("1.50", "FloatValue{value=1.50}"),
        ("true", "BooleanValue{value=true}"),
        ("RED", "EnumValue{name='RED'}"),
        ("null", "NullValue{}"),
        ("$v", "VariableReference{name='v'}"),
        ("[1, null]", "ArrayValue{values=[IntValue{value=1}, NullValue{}]}"),
        (
            '{a: {b: "c"}}',
            "ObjectValue{objectFields=[ObjectField{name='a', value=ObjectValue{objectFields="
            "[ObjectField{name='b', value=StringValue{value='c'}}]}}]}",
        ),
    ],
)
def test_literal_is_printed_as_graphql_java_does(literal: str, expected: str) -> None:
    # when / then
    assert value_repr(parse_value(literal)) == expected


async def test_wrong_literal_is_reported_at_the_argument() -> None:
    # given
    [error] = await errors_of(WRONG_LITERAL)

    # when
    translated = translate_error(error, parse(WRONG_LITERAL), SCHEMA._schema)

    # then: graphql-java points at `y:`, graphql-core at the value
    assert [(loc.line, loc.column) for loc in translated.locations or ()] == [(1, 8)]


async def test_several_bad_items_of_one_argument_translate_alike() -> None:
    # given: graphql-core reports each item, graphql-java the argument once
    errors = await errors_of(REPEATED_WRONG_ITEMS)

    # when
    entries = [
        format_error(translate_error(error, parse(REPEATED_WRONG_ITEMS), SCHEMA._schema))
        for error in errors
    ]

    # then
    assert len(errors) == 2
    assert entries[0] == entries[1]


async def test_undefined_variable_is_reported_at_its_use_only() -> None:
    # given
    [error] = await errors_of(UNDEFINED_VARIABLE)

    # when
    translated = translate_error(error, parse(UNDEFINED_VARIABLE), SCHEMA._schema)

    # then
    assert [(loc.line, loc.column) for loc in translated.locations or ()] == [(1, 11)]


async def test_translation_keeps_path_and_original_error() -> None:
    # given
    [error] = await errors_of(NULL_IN_OBJECT)

    # when
    translated = translate_error(error, parse(NULL_IN_OBJECT), SCHEMA._schema)

    # then
    assert translated.path == error.path
    assert translated.original_error is error.original_error


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(GraphQLError("Sold out"), id="custom"),
        pytest.param(GraphQLError("Cannot query field 'x' on type"), id="almost-a-rule"),
        pytest.param(
            GraphQLError("Cannot return null for non-nullable field Nope.x.", path=["x"]),
            id="type-not-in-schema",
        ),
    ],
)
def test_unrecognised_message_passes_through(error: GraphQLError) -> None:
    # when / then
    assert translate_message(error, None, SCHEMA._schema) == error.message


async def test_without_document_or_schema_translation_degrades_gracefully() -> None:
    # given
    [unknown_field] = await errors_of(UNKNOWN_FIELD)
    [wrong_literal] = await errors_of(WRONG_LITERAL)

    # when
    without_document = translate_message(unknown_field)
    without_schema = translate_message(wrong_literal, parse(WRONG_LITERAL))

    # then: no query path without the document; the raw message without the schema
    assert without_document == (
        "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined"
    )
    assert without_schema == wrong_literal.message
